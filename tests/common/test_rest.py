"""pacifica.common.rest parameter helpers (the HTTP side is tested through each service)."""
import pytest

from pacifica.common import errors, rest


@pytest.mark.parametrize('raw, expected', [('1', 1), (' 42 ', 42), ('+3', 3), ('-0', 0),
                                           (str(2 ** 63 - 1), 2 ** 63 - 1)])
def test_int_param_accepts(raw, expected):
    assert rest.int_param('n', raw, minimum=0) == expected


@pytest.mark.parametrize('raw, words', [
    (None, 'required'), ('', 'must be an integer'), ('1.5', 'must be an integer'),
    ('1e3', 'must be an integer'), ('٣', 'must be an integer'), ('1_0', 'must be an integer'),
    ('-1', 'at least 0'), (str(2 ** 63), 'at most'), ('9' * 40, 'must be an integer'),
    (['1', '2'], 'given 2 times'),
])
def test_int_param_refuses(raw, words):
    with pytest.raises(errors.BadRequest) as info:
        rest.int_param('n', raw, minimum=0)
    assert info.value.status == 400
    assert words in info.value.message
    assert "'n'" in info.value.message


def test_str_param():
    assert rest.str_param('m', 'abc') == 'abc'
    for raw, words in ((None, 'required'), ('', 'must not be empty'), ('x' * 256, 'limit is 255'),
                       (['a', 'b'], 'given 2 times')):
        with pytest.raises(errors.BadRequest) as info:
            rest.str_param('m', raw)
        assert words in info.value.message
