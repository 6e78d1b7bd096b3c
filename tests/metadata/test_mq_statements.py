"""The number of SQL statements of ``/ingest``, ``/transactioninfo/search`` and
``/summaryinfo/by_date`` does not grow with the rows they write or return (spec 18, "slow
paths"): the query functions run in this process, on the server's database, with every
statement counted."""
import zoneinfo

import pytest

from metadata.mq_dataset import count_statements, ingest_document as document, load
from pacifica.metadata.queries import ingest, reporting, transactions

ZONE = zoneinfo.ZoneInfo('America/Los_Angeles')


def big_document(tid, first_file, files, pairs):
    """A document with ``files`` files (each with a key/value) and ``pairs`` TKV pairs."""
    doc = document(tid=tid, first_file=first_file, files=files)
    doc += [{'destinationTable': 'TransactionKeyValue', 'key': 'k{}'.format(n),
             'value': 'v{}'.format(n)} for n in range(pairs)]
    doc += [{'destinationTable': 'FileKeyValue', 'key': 'fk', 'value': str(n),
             'file_id': first_file + n} for n in range(files)]
    return doc


@pytest.fixture(scope='module')
def api(md_api):
    """The catalog, plus 30 ingested uploads of instrument 54 with 3 files each."""
    load(md_api)
    for number in range(30):
        resp = md_api.request('PUT', 'ingest', body=document(
            tid=2000 + number, first_file=20000 + 10 * number, files=3))
        assert resp.status_code == 200, resp.text
    return md_api


def test_ingest_statements_do_not_grow_with_files(api):
    _, small = count_statements(api.db_url, ingest.ingest, big_document(5000, 50000, 1, 1))
    _, large = count_statements(api.db_url, ingest.ingest,
                                big_document(5001, 60000, 400, 20))
    assert large == small, (small, large)
    assert 0 < small <= 20
    assert len(api.get('files', 'transaction=5001&items_per_page=1000&page_number=1')) == 400


def test_search_statements_do_not_grow_with_results(api):
    one, few = count_statements(api.db_url, transactions.search, 'details',
                                {'transaction_id': '67'})
    many, lots = count_statements(api.db_url, transactions.search, 'details',
                                  {'instrument': '54'})
    assert len(one['transactions']) == 1 and len(many['transactions']) >= 32
    assert lots == few > 0, (few, lots)


def test_by_date_statements_do_not_grow_with_files(api):
    one, few = count_statements(api.db_url, reporting.by_date, 'modified', 'instrument',
                                '1990-01-01', '2100-01-01', [104], ZONE)
    many, lots = count_statements(api.db_url, reporting.by_date, 'modified', 'instrument',
                                  '1990-01-01', '2100-01-01', [54], ZONE)
    assert one['summary_totals']['total_file_count'] == 1
    assert many['summary_totals']['total_file_count'] >= 93
    assert lots == few > 0, (few, lots)


def test_by_id_statements_are_constant(api):
    _, small = count_statements(api.db_url, transactions.by_id, '68')
    _, large = count_statements(api.db_url, transactions.by_id, '67')
    assert small == large > 0, (small, large)
