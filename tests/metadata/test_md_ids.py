"""Integer ids are never handed out again after the row that held them was hard-deleted:
PostgreSQL's sequences do it, and on SQLite the ``id`` keys are AUTOINCREMENT. A SQLite
database made before (plain rowid keys) is rebuilt once by ``dbsync``, keeping its rows,
indexes and foreign keys, and then behaves the same."""
import sqlite3


def _next_id(api, keyword):
    api.ok('PUT', 'keywords', body={'keyword': keyword})
    return api.get('keywords', 'keyword=' + keyword)[0]['_id']


def test_hard_deleted_id_is_not_reused(md_api):
    first = _next_id(md_api, 'reuse-a')
    second = _next_id(md_api, 'reuse-b')
    assert second > first
    md_api.ok('DELETE', 'keywords', '_id={}&force=true'.format(second))
    assert _next_id(md_api, 'reuse-c') > second


def _plain_rowid(path, tables):
    """Turn ``tables`` back into plain rowid tables, as databases made before were."""
    conn = sqlite3.connect(path)
    conn.isolation_level = None
    conn.execute('PRAGMA foreign_keys = OFF')
    conn.execute('BEGIN')
    for table in tables:
        sql, = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        indexes = [row[0] for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql "
            'IS NOT NULL', (table,))]
        conn.execute(sql.replace('"{}"'.format(table), '"old_{}"'.format(table), 1)
                     .replace(' AUTOINCREMENT', ''))
        conn.execute('INSERT INTO "old_{0}" SELECT * FROM "{0}"'.format(table))
        conn.execute('DROP TABLE "{}"'.format(table))
        conn.execute('ALTER TABLE "old_{0}" RENAME TO "{0}"'.format(table))
        for index in indexes:
            conn.execute(index)
    conn.execute('COMMIT')
    conn.close()


def test_dbsync_gives_an_older_sqlite_database_autoincrement(tmp_path, md_start, md_admin):
    from metadata.conftest import Api  # pylint: disable=import-outside-toplevel
    path = tmp_path / 'old.sqlite3'
    url = 'sqliteext:///' + str(path)
    server, env = md_start(tmp_path, url)
    try:
        api = Api(server, url)
        api.ok('PUT', 'users', body=[{'_id': 5}, {'_id': 6}])
        api.ok('PUT', 'keywords', body=[{'_id': 1, 'keyword': 'a'}, {'_id': 2, 'keyword': 'b'}])
        api.ok('PUT', 'institutions', body={'_id': 7, 'name': 'I'})
        api.ok('PUT', 'contributors', body={'_id': 3, 'user': 6, 'institution': 7})
    finally:
        server.stop()
    _plain_rowid(str(path), ['keywords', 'users'])
    conn = sqlite3.connect(str(path))
    try:   # what a plain rowid key does: the largest id comes back after a delete
        conn.execute('DELETE FROM keywords WHERE id = 2')
        conn.execute("INSERT INTO keywords (created, updated, keyword, encoding) VALUES "
                     "('2020-01-01', '2020-01-01', 'reused', 'UTF8')")
        assert conn.execute("SELECT id FROM keywords WHERE keyword = 'reused'").fetchone() \
            == (2,)
        conn.commit()
    finally:
        conn.close()
    before = Api(server, url).snapshot()
    done = md_admin(env, 'dbsync', cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert 'AUTOINCREMENT ids for users, keywords (2 tables)' in done.stdout + done.stderr
    again = md_admin(env, 'dbsync', cwd=str(tmp_path))
    assert 'AUTOINCREMENT' not in again.stdout + again.stderr
    conn = sqlite3.connect(str(path))
    try:
        assert 'AUTOINCREMENT' in conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]
        assert conn.execute('PRAGMA foreign_key_check').fetchall() == []
        assert len(conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                                "tbl_name = 'users'").fetchall()) >= 4
    finally:
        conn.close()
    server, _ = md_start(tmp_path, url)
    api = Api(server, url)
    try:
        assert api.snapshot() == before          # every row kept
        api.ok('DELETE', 'keywords', '_id=2&force=true')
        assert _next_id(api, 'fresh') == 3
        # the foreign key from contributors to users still holds
        resp = api.request('DELETE', 'users', '_id=6&force=true')
        assert resp.status_code == 400, resp.text
    finally:
        server.stop()
