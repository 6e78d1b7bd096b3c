"""The one ``Range`` parser against a reference model of RFC 9110 §14.1.

Headers are generated from parts (specs, blanks, the unit's spelling), and the model says
from those parts, not from the text, what the answer must be: one satisfiable range, the
whole file, or 416. Junk of any kind must give one of the three and never raise."""
from hypothesis import example, given
from hypothesis import strategies as st

from pacifica.common.byterange import UNSATISFIABLE, single_range

SIZES = st.one_of(st.just(0), st.just(1), st.integers(0, 5000), st.integers(0, 2 ** 63 - 1))
# Numbers around the interesting sizes, far beyond them, and with leading zeros.
NUMBERS = st.one_of(st.integers(0, 6000), st.integers(0, 10 ** 30))
ZEROS = st.integers(0, 3).map(lambda n: '0' * n)
BLANKS = st.sampled_from(['', ' ', '\t', '  '])


@st.composite
def numeral(draw):
    """``(value, text)``: a number and one of its decimal spellings."""
    value = draw(NUMBERS)
    return value, draw(ZEROS) + str(value)


@st.composite
def range_spec(draw):
    """``(kind, first, last, text)`` of one valid-looking range-spec."""
    kind = draw(st.sampled_from(['closed', 'open', 'suffix']))
    first, first_text = draw(numeral())
    last, last_text = draw(numeral())
    if kind == 'closed':
        return kind, first, last, '{}-{}'.format(first_text, last_text)
    if kind == 'open':
        return kind, first, None, '{}-'.format(first_text)
    return kind, None, last, '-{}'.format(last_text)


@st.composite
def header(draw):
    """``(specs, text)``: a ``bytes`` header of one or more specs, blanks and empty list
    elements around them, the unit in any case."""
    specs = draw(st.lists(range_spec(), min_size=1, max_size=4))
    unit = ''.join(draw(st.sampled_from([c, c.upper()])) for c in 'bytes')
    elements = []
    for spec in specs:
        elements.extend([''] * draw(st.integers(0, 1)))
        elements.append(draw(BLANKS) + spec[3] + draw(BLANKS))
    elements.extend([''] * draw(st.integers(0, 1)))
    return specs, draw(BLANKS) + unit + '=' + ','.join(elements) + draw(BLANKS)


def model(specs, size):
    """What RFC 9110 asks of a server that serves one range and ignores several."""
    if len(specs) != 1:
        return None
    kind, first, last, _text = specs[0]
    if kind == 'closed' and last < first:
        return None                                 # an invalid range-spec: ignored
    if kind == 'suffix':
        if last == 0:
            return UNSATISFIABLE
        if size == 0:
            return None     # satisfiable, but an empty part has no Content-Range
        return max(0, size - last), size
    if first >= size:
        return UNSATISFIABLE
    return first, size if last is None else min(last + 1, size)


@given(parts=header(), size=SIZES)
@example(parts=([('suffix', None, 5, '-5')], 'bytes=-5'), size=0)
@example(parts=([('closed', 5, 3, '5-3')], 'bytes=5-3'), size=10)
@example(parts=([('closed', 5, 3, '5-3')], 'bytes=5-3'), size=0)
@example(parts=([('open', 0, None, '0-')], 'bytes=0-'), size=0)
@example(parts=([('suffix', None, 0, '-0')], 'bytes=-0'), size=10)
@example(parts=([('open', 0, None, '0-')] * 2, 'bytes=0-,0-'), size=10)
def test_headers_agree_with_the_model(parts, size):
    specs, text = parts
    assert single_range(text, size) == model(specs, size)


def _valid_answer(answer, size):
    if answer is None or answer == UNSATISFIABLE:
        return True
    start, stop = answer
    return 0 <= start < stop <= size


@given(text=st.one_of(st.text(max_size=40),
                      st.text(alphabet='bytesBYTES=-,0123456789 \t;xq', max_size=40)),
       size=SIZES)
@example(text='', size=10)
@example(text='bytes=-', size=10)
@example(text='bytes=', size=10)
@example(text='items=0-5', size=10)
@example(text='bytes = 0-5', size=10)
@example(text='bytes=0-5;x', size=10)
@example(text='bytes=\u0661-\u0662', size=10)    # Arabic-Indic digits are not digits here
def test_junk_gets_a_sane_answer(text, size):
    assert _valid_answer(single_range(text, size), size)


def test_bad_syntax_is_ignored():
    for text in ('bytes = 0-5', 'bytes=0-5;x', 'bytes=\u0661-\u0662', 'bytes=-', 'bytes=',
                 'bytes=,', 'bytes=0-5-6', 'bytes=a-b', 'items=0-5', 'bytes0-5', None, ''):
        assert single_range(text, 10) is None, text


def test_numerals_of_thousands_of_digits_are_compared_not_converted():
    huge = '9' * 5000      # int() refuses numerals longer than 4300 digits
    assert single_range('bytes=0-' + huge, 10) == (0, 10)
    assert single_range('bytes=-' + huge, 10) == (0, 10)
    assert single_range('bytes={}-'.format(huge), 10) == UNSATISFIABLE
    assert single_range('bytes={0}-{0}'.format(huge), 10) == UNSATISFIABLE
    assert single_range('bytes={}-{}'.format(huge, '9' * 4999), 10) is None   # last < first
    assert single_range('bytes={}5-'.format('0' * 5000), 10) == (5, 10)
    assert single_range('bytes=-{}'.format('0' * 5000), 10) == UNSATISFIABLE
