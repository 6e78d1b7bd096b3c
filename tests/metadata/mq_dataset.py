"""A realistic catalog for the query-endpoint tests, loaded through the generic PUT API:
users, groups, projects, instruments, transactions with files and key/values, a release, a
DOI, plus soft-deleted rows the queries must hide.

Facts the tests rely on:
* users 10 (in group 1 "admin"), 11, 12 (no links), 13 (soft-deleted);
* projects 1234a (2 instruments declared), 1235, 1236é, closed project 1237, deleted 1299;
* instruments 54 (group 1001 "nmr"), 104 (no group), deleted 199;
* transactions 67 (1234a/54/10, files 103,104 + deleted 105, TKV temp_f=27 and
  deleted TKV color=red, released by user 11 as authorized_releaser with a DOI),
  68 (1237/54/10, file 106, temp_f=19), 69 (1236é/104/11, file 107),
  70 (deleted transsip row);
"""

T67 = '2020-05-10T12:00:00'
T68 = '2020-05-11T09:30:00'
T69 = '2020-06-01T03:00:00'
SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'


def _file(fid, trans, name, subdir, size, mtime, deleted=None):
    row = {'_id': fid, 'name': name, 'subdir': subdir, 'transaction': trans, 'size': size,
           'hashtype': 'sha1', 'hashsum': SHA1, 'mimetype': 'text/plain',
           'ctime': mtime, 'mtime': mtime, 'created': mtime, 'updated': mtime}
    if deleted:
        row['deleted'] = deleted
    return row


ROWS = [
    ('users', [
        {'_id': 10, 'first_name': 'David\u00e9', 'last_name': 'Brown\u00e9 Jr',
         'network_id': 'dmlb2001', 'email_address': 'David.Brown@pnnl.gov',
         'updated': '2019-01-02T03:04:05'},
        {'_id': 11, 'first_name': 'bob', 'last_name': 'Johnson', 'network_id': 'bjohn',
         'email_address': 'bob@imnotreal.gov', 'updated': '2019-01-02T03:04:05'},
        {'_id': 12, 'first_name': 'Carol', 'last_name': 'Zed', 'network_id': None,
         'email_address': 'carol@example.org', 'updated': '2019-01-02T03:04:05'},
        {'_id': 13, 'first_name': 'Gone', 'last_name': 'Away', 'network_id': 'gone',
         'email_address': 'gone@example.org', 'deleted': '2019-01-01T00:00:00'},
    ]),
    ('groups', [{'_id': 1, 'name': 'admin', 'is_admin': True},
                {'_id': 1001, 'name': 'nmr'}]),
    ('user_group', [{'user': 10, 'group': 1}]),
    ('projects', [
        {'_id': '1234a', 'title': 'Pacifica D\u00e9velopment', 'short_name': 'pac',
         'science_theme': 'g\u00e9neral', 'project_type': 'user project',
         'actual_start_date': '2013-10-01', 'abstract': 'abs'},
        {'_id': '1235', 'title': 'Pacifica Testing (no close or end)',
         'actual_start_date': '2013-10-01', 'project_type': None},
        {'_id': '1236\u00e9', 'title': 'Unicode project', 'actual_start_date': '2099-01-01'},
        {'_id': '1237', 'title': 'Closed project', 'actual_start_date': '2010-01-01',
         'actual_end_date': '2012-06-30', 'closed_date': '2012-03-01'},
        {'_id': '1299', 'title': 'Deleted project', 'deleted': '2019-01-01T00:00:00'},
    ]),
    ('instruments', [
        {'_id': 54, 'name': 'NMR PROBES: Nittany Liquid Prob\u00e9s',
         'display_name': 'NMR PROBES: Nittany Liquid Prob\u00e9s',
         'name_short': 'Nittany Liquid Prob\u00e9s', 'active': True},
        {'_id': 104, 'name': 'Mass spec', 'display_name': 'Mass spectrometer',
         'name_short': 'MS', 'active': False},
        {'_id': 199, 'name': 'Deleted inst', 'display_name': 'Deleted inst',
         'name_short': 'del', 'deleted': '2019-01-01T00:00:00'},
    ]),
    ('instrument_group', [{'instrument': 54, 'group': 1001}]),
    ('project_user', [
        {'user': 10, 'project': '1234a', 'relationship_name': 'member_of'},
        {'user': 10, 'project': '1234a', 'relationship_name': 'principal_investigator'},
        {'user': 10, 'project': '1237', 'relationship_name': 'member_of'},
        {'user': 11, 'project': '1235', 'relationship_name': 'member_of',
         'deleted': '2019-01-01T00:00:00'},
    ]),
    ('project_instrument', [
        {'project': '1234a', 'instrument': 54, 'relationship_name': 'upload_required'},
        {'project': '1234a', 'instrument': 104, 'relationship_name': 'upload_required'},
    ]),
    ('transactions', [{'_id': tid} for tid in (67, 68, 69, 70)]),
    ('transsip', [
        {'_id': 67, 'submitter': 10, 'project': '1234a', 'instrument': 54,
         'created': T67, 'updated': T67},
        {'_id': 68, 'submitter': 10, 'project': '1237', 'instrument': 54,
         'created': T68, 'updated': T68},
        {'_id': 69, 'submitter': 11, 'project': '1236\u00e9', 'instrument': 104,
         'created': T69, 'updated': T69},
        {'_id': 70, 'submitter': 11, 'project': '1234a', 'instrument': 54,
         'created': T69, 'updated': T69, 'deleted': '2020-06-02T00:00:00'},
    ]),
    ('files', [
        _file(103, 67, 'b.txt', 'data/x/', 1000, '2016-11-12T21:38:21'),
        _file(104, 67, 'a.txt', 'data/x', 2000, '2016-11-13T01:00:00'),
        _file(105, 67, 'c.txt', 'data', 4000, '2016-11-13T01:00:00', '2020-06-02T00:00:00'),
        _file(106, 68, 'd.txt', '', 30, '2020-05-11T08:00:00'),
        _file(107, 69, 'e.txt', 'e', 7, '2020-06-01T02:00:00'),
    ]),
    ('keys', [{'_id': 1, 'key': 'temp_f'}, {'_id': 2, 'key': 't\u00e9mp_c'},
              {'_id': 3, 'key': 'color'}]),
    ('values', [{'_id': 1, 'value': '27'}, {'_id': 2, 'value': '19'},
                {'_id': 3, 'value': 'red'}]),
    ('trans_key_value', [
        {'transaction': 67, 'key': 1, 'value': 1},
        {'transaction': 68, 'key': 1, 'value': 2},
        {'transaction': 67, 'key': 3, 'value': 3, 'deleted': '2020-06-02T00:00:00'},
    ]),
    ('file_key_value', [{'file': 103, 'key': 1, 'value': 1},
                        {'file': 103, 'key': 2, 'value': 1}]),
    ('transaction_user', [
        {'uuid': '11111111-0000-4000-8000-000000000067', 'user': 11, 'transaction': 67,
         'relationship_name': 'authorized_releaser', 'created': '2020-07-01T00:00:00',
         'updated': '2020-07-01T00:00:00'},
        # a release by a relationship that does not count, and a deleted real one
        {'user': 11, 'transaction': 68, 'relationship_name': 'member_of'},
        {'user': 10, 'transaction': 69, 'relationship_name': 'authorized_releaser',
         'deleted': '2020-07-02T00:00:00'},
    ]),
    ('doi_entries', [{'doi': '10.25584/data.67/1', 'status': 'pending',
                      'site_url': 'https://example.org/67', 'creator': 11}]),
    ('doi_transaction', [{'doi': '10.25584/data.67/1',
                          'transaction': '11111111-0000-4000-8000-000000000067',
                          'created': '2020-07-03T00:00:00'}]),
    ('doi_info', [{'doi': '10.25584/data.67/1', 'key': 'title', 'value': 'A DOI'}]),
]


def load(api):
    """PUT every row of :data:`ROWS` through the generic endpoints."""
    for name, rows in ROWS:
        resp = api.request('PUT', name, body=rows)
        assert resp.status_code == 200, (name, resp.text)


def count_statements(db_url, func, *args, **kwargs):
    """Run ``func`` in this process against ``db_url``; returns (result, SQL statements)."""
    from pacifica.common.database import open_database  # pylint: disable=import-outside-toplevel
    from pacifica.metadata.orm import DB  # pylint: disable=import-outside-toplevel
    db = open_database(db_url, max_connections=2)
    previous = DB.obj
    DB.initialize(db)
    statements = []

    # a query hook, not a wrapper of execute_sql: on PostgreSQL the reads go through
    # common.prepared, which notifies the hooks but never calls execute_sql
    def counting(event):
        statements.append(event.sql)

    db.query_hooks.append(counting)
    try:
        db.connect()
        result = func(*args, **kwargs)
        return result, len(statements)
    finally:
        db.query_hooks.remove(counting)
        db.close()
        db.close_all()
        DB.initialize(previous)


def ingest_document(tid=1234, first_file=34, files=2):
    """An ingest document shaped like pacifica-ingest's (Transactions._id last)."""
    doc = [
        {'destinationTable': 'Transactions.submitter', 'value': 10},
        {'destinationTable': 'Transactions.project', 'value': '1234a'},
        {'destinationTable': 'Transactions.instrument', 'value': 54},
        {'destinationTable': 'TransactionKeyValue', 'key': 'Tag', 'value': 'foo'},
        {'destinationTable': 'TransactionKeyValue', 'key': 'count', 'value': 9606},
        {'destinationTable': 'NothingReally', 'value': 'ignored'},
    ]
    for number in range(files):
        doc.append({'destinationTable': 'Files', '_id': first_file + number,
                    'name': 'f{}.txt'.format(number), 'subdir': 'a/b/',
                    'ctime': 'Tue Nov 29 14:09:05 PST 2016',
                    'mtime': '2016-11-29T14:09:05-08:00', 'size': '128',
                    'mimetype': 'text/plain', 'hashtype': 'sha1', 'hashsum': SHA1,
                    'sourceTable': 'x', 'suspense_date': '2020-01-01'})
    doc.append({'destinationTable': 'FileKeyValue', 'key': 'Micronic Adjustment',
                'value': '5.66%', 'file_id': first_file})
    doc.append({'destinationTable': 'Transactions._id', 'value': tid})
    return doc
