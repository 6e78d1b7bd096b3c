"""/ingest checks the file entries of a document a column at a time when it can
(``ingest._file_columns``): the rows it makes are those the entry-by-entry check
(``ingest._file``) makes, and a document with any entry that check refuses, or a repeated
file id, never takes the column path, so the error still names the first bad entry.

In-process, no database, on generated file entries.
"""
# what is compared are the ingest module's own checks, private to it
# pylint: disable=protected-access
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metadata.hostile import EDGE_DATES, EDGE_INTS, TEXT
from metadata.test_md_put_columns import PLAIN_TIMES, TIMES
from pacifica.metadata.queries import InputError, ingest
from support import property_settings

GOOD = {'_id': st.integers(0, 10 ** 6), 'name': st.text(max_size=6),
        'subdir': st.text(max_size=6), 'ctime': PLAIN_TIMES,
        'mtime': st.one_of(PLAIN_TIMES, st.integers(-2 * 10 ** 9, 4 * 10 ** 9)),
        'size': st.integers(-1, 10 ** 12), 'mimetype': st.sampled_from(
            ['text/plain', 'application/octet-stream', 'mulitpart/x']),
        'hashtype': st.just('sha1'), 'hashsum': st.just('da39a3ee5e6b4b0d3255bfef95601890afd80709')}
HOSTILE = st.one_of(TEXT, EDGE_INTS, EDGE_DATES, TIMES, st.none(), st.booleans(),
                    st.floats(), st.sampled_from(['md5', 'sha256', 'DA39A3EE5E6B4B0D3255BFEF'
                                                  '95601890AFD80709', 'x' * 256, '7', -2]))


@st.composite
def entries(draw):
    """File entries: every value fitting, or now and then a hostile one or a missing key."""
    hostile = draw(st.booleans())
    out = []
    for _ in range(draw(st.integers(1, 4))):
        entry = {'destinationTable': 'Files'}
        for key, fitting in GOOD.items():
            if hostile and draw(st.integers(0, 30)) == 0:
                continue
            entry[key] = draw(st.one_of(fitting, fitting, fitting, HOSTILE)
                              if hostile else fitting)
        out.append(entry)
    return out


def _entry_rows(items):
    rows = [ingest._file(index, entry) for index, entry in enumerate(items)]
    if len({row['id'] for row in rows}) < len(rows):
        raise InputError('a repeated id')
    return {name: [row[name] for row in rows] for name in ingest.FILE_COLUMNS}


@given(items=entries())
@property_settings(400)
def test_file_columns_are_the_entry_checks_rows(items):
    try:
        expected = _entry_rows(items)
    except InputError:
        assert ingest._file_columns(items) is None
        return
    found = ingest._file_columns(items)
    if found is not None:
        assert {name: [(type(v), v) for v in values] for name, values in found.items()} == {
            name: [(type(v), v) for v in values] for name, values in expected.items()}


def _document(files):
    return [{'destinationTable': 'Transactions.submitter', 'value': 10},
            {'destinationTable': 'Transactions.project', 'value': '1234a'},
            {'destinationTable': 'Transactions.instrument', 'value': 54}] + files + [
                {'destinationTable': 'Transactions._id', 'value': 99}]


def _file(number, **changes):
    entry = {'destinationTable': 'Files', '_id': 500 + number, 'name': 'f', 'subdir': 'd',
             'ctime': '2020-01-02T03:04:05', 'mtime': 1577934245, 'size': 1,
             'mimetype': 'text/plain', 'hashtype': 'sha1',
             'hashsum': 'da39a3ee5e6b4b0d3255bfef95601890afd80709'}
    entry.update(changes)
    return entry


def test_a_plain_document_takes_the_column_path():
    files = [_file(n) for n in range(3)]
    assert ingest._file_columns(files) is not None
    doc = ingest.parse(_document(files))
    assert doc.files['id'] == [500, 501, 502] and doc.files['mtime'][0].year == 2020


@pytest.mark.parametrize('changes', [{'_id': '501'}, {'size': True}, {'mtime': 1.5},
                                     {'ctime': '1899-12-31T23:59:59'}, {'hashtype': 'md5'},
                                     {'hashsum': 'g' * 40}, {'name': 5}, {'_id': 500}])
def test_the_first_bad_entry_is_named_as_before(changes):
    files = [_file(n) for n in range(3)]
    files[1].update(changes)
    assert ingest._file_columns(files) is None
    try:
        expected = _entry_rows(files)
    except InputError:
        with pytest.raises(InputError):
            ingest.parse(_document(files))
    else:   # kinds the column path leaves to the entry checks, which take them
        assert ingest.parse(_document(files)).files == expected
