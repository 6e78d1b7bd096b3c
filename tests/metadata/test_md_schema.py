"""Schema 7.0 and the admin command (spec 5, 6.3, D17, D18).

``UPSTREAM`` is the 0.13.0 schema transcribed from the spec's tables (sections 2 and 3),
independently of the models: on PostgreSQL the test builds a database from it the way the
upstream ``dbsync`` left it, checks that our ``dbsync`` adopts it and ``dbchk --equal``
passes, and that a fresh ``dbsync`` creates exactly the same tables, columns, indexes and
constraints.
"""
import json

import pytest

from pacifica.common.database import open_database
from support import POSTGRES_URL, create_postgres_database, drop_postgres_database, service_env

# table: (columns "name type [null] [idx|uniq] [>table.col]", composite pk, unique index)
UPSTREAM = {
    'journals': ('id serial; name v; impact_factor real; website_url v; encoding v', '', ''),
    'users': ('id serial; first_name v idx; middle_initial v idx; last_name v idx; '
              'network_id v null idx; email_address v idx; encoding v', '', ''),
    'institutions': ('id serial; name text; association_cd v; is_foreign bool; encoding v',
                     '', ''),
    'projects': ('id vpk; title text idx; short_name v null idx; abstract text null; '
                 'science_theme v null; project_type v null; submitted_date ts idx; '
                 'accepted_date date null idx; actual_start_date date null idx; '
                 'actual_end_date date null idx; closed_date date null idx; '
                 'suspense_date date null idx; encoding v', '', ''),
    'instruments': ('id serial; display_name v idx; name v idx; name_short v idx; '
                    'active bool idx; encoding v', '', ''),
    'citations': ('id serial; article_title text; journal_id int >journals.id; '
                  'journal_volume int; journal_issue int; page_range v; abstract_text text; '
                  'xml_text text; release_authorization_id v; doi_reference v; encoding v',
                  '', ''),
    'contributors': ('id serial; user_id int >users.id; first_name v; middle_initial v; '
                     'last_name v; dept_code v; institution_id int >institutions.id; '
                     'encoding v', '', ''),
    'datasets': ('id serial; description text null; display_name v idx; '
                 'suspense_date date null idx', '', ''),
    'relationships': ('uuid uuidpk; name v uniq; display_name v idx; description text; '
                      'encoding v', '', ''),
    'datasources': ('uuid uuidpk; name v idx; uri v idx; display_name v idx; '
                    'description text; encoding v', '', ''),
    'keywords': ('id serial; keyword v; encoding v', '', ''),
    'groups': ('id serial; name v; is_admin bool; display_name v idx; description text; '
               'encoding v', '', ''),
    'analyticaltools': ('id serial; name v; encoding v', '', ''),
    'instrumentuser': ('uuid uuidpk; instrument_id int >instruments.id; user_id int >users.id; '
                       'relationship_id uuid >relationships.uuid', '',
                       'instrumentuser_user_id_instrument_id_relationship_id'
                       '(user_id,instrument_id,relationship_id)'),
    'institutionuser': ('uuid uuidpk; user_id int >users.id; '
                        'institution_id int >institutions.id; '
                        'relationship_id uuid >relationships.uuid', '',
                        'institutionuser_user_id_institution_id_relationship_id'
                        '(user_id,institution_id,relationship_id)'),
    'citationcontributor': ('citation_id int >citations.id; author_id int >contributors.id; '
                            'author_precedence int', 'citation_id,author_id', ''),
    'citationkeyword': ('citation_id int >citations.id; keyword_id int >keywords.id',
                        'citation_id,keyword_id', ''),
    'projectinstrument': ('uuid uuidpk; project_id v >projects.id; '
                          'instrument_id int >instruments.id; '
                          'relationship_id uuid >relationships.uuid', '',
                          'projectinstrument_project_id_instrument_id_relationship_id'
                          '(project_id,instrument_id,relationship_id)'),
    'projectuser': ('uuid uuidpk; user_id int >users.id; project_id v >projects.id; '
                    'relationship_id uuid >relationships.uuid', '',
                    'projectuser_user_id_project_id_relationship_id'
                    '(user_id,project_id,relationship_id)'),
    'projectgroup': ('group_id int >groups.id; project_id v >projects.id',
                     'group_id,project_id', ''),
    'citationproject': ('citation_id int >citations.id; project_id v >projects.id',
                        'citation_id,project_id', ''),
    'transactions': ('id serial; description text null; suspense_date date null idx', '', ''),
    'transsip': ('id_id intpk >transactions.id; submitter_id int >users.id; '
                 'instrument_id int >instruments.id; project_id v >projects.id', '', ''),
    'transsap': ('id_id intpk >transactions.id; submitter_id int >users.id; '
                 'analytical_tool_id int >analyticaltools.id; project_id v >projects.id',
                 '', ''),
    'files': ('id serial; name v idx; subdir v idx; ctime ts idx; mtime ts idx; '
              'hashsum v idx; hashtype v idx; size bigint; '
              'transaction_id int >transactions.id; mimetype v; encoding v; '
              'suspense_date date null idx', '', ''),
    'keys': ('id serial; key v idx; display_name v idx; description text; encoding v', '', ''),
    'values': ('id serial; value v idx; display_name v idx; description text; encoding v',
               '', ''),
    'filekeyvalue': ('file_id int >files.id; key_id int >keys.id; value_id int >values.id',
                     'file_id,key_id,value_id', ''),
    'transactionkeyvalue': ('transaction_id int >transactions.id; key_id int >keys.id; '
                            'value_id int >values.id', 'transaction_id,key_id,value_id', ''),
    'usergroup': ('user_id int >users.id; group_id int >groups.id', 'user_id,group_id', ''),
    'datasetfile': ('dataset_id int >datasets.id; file_id int >files.id',
                    'dataset_id,file_id', ''),
    'datasetprojectuser': ('uuid uuidpk; dataset_id int >datasets.id; user_id int >users.id; '
                           'project_id v >projects.id; '
                           'relationship_id uuid >relationships.uuid', '',
                           'datasetprojectuser_dataset_id_user_id_project_id_relationship_i'
                           '(dataset_id,user_id,project_id,relationship_id)'),
    'instrumentgroup': ('instrument_id int >instruments.id; group_id int >groups.id',
                        'instrument_id,group_id', ''),
    'atoolproject': ('project_id v >projects.id; analytical_tool_id int >analyticaltools.id',
                     'analytical_tool_id,project_id', ''),
    'atooltransaction': ('transaction_id int >transactions.id; '
                         'analytical_tool_id int >analyticaltools.id',
                         'analytical_tool_id,transaction_id', ''),
    'transactionuser': ('uuid uuidpk; user_id int >users.id; '
                        'transaction_id int >transactions.id; '
                        'relationship_id uuid >relationships.uuid', '',
                        'transactionuser_user_id_transaction_id_relationship_id'
                        '(user_id,transaction_id,relationship_id)'),
    'doientries': ('doi vpk; status v; released bool; site_url v; encoding v; '
                   'creator_id int >users.id', '', ''),
    'doiauthors': ('id serial; last_name v; first_name v; email v null; affiliation v null; '
                   'orcid v null', '', ''),
    'doitransaction': ('doi vpk >doientries.doi; transaction_id uuid >transactionuser.uuid',
                       '', ''),
    'citationtransaction': ('citation_id int >citations.id; '
                            'transaction_id uuid >transactionuser.uuid',
                            'citation_id,transaction_id', ''),
    'citationdoi': ('doi_id v >doientries.doi; citation_id int >citations.id',
                    'citation_id,doi_id', ''),
    'doiauthormapping': ('author_id int >doiauthors.id; doi_id v >doientries.doi; '
                         'author_order int', 'author_id,doi_id,author_order', ''),
    'doiinfo': ('doi v >doientries.doi; key v; value v', 'doi,key', ''),
    'instrumentdatasource': ('instrument_id int >instruments.id; '
                             'data_source_id uuid >datasources.uuid; '
                             'relationship_id uuid >relationships.uuid',
                             'instrument_id,data_source_id,relationship_id', ''),
    'instrumentkeyvalue': ('instrument_id int >instruments.id; key_id int >keys.id; '
                           'value_id int >values.id; relationship_id uuid >relationships.uuid',
                           'instrument_id,key_id,value_id,relationship_id', ''),
}
TYPES = {'serial': 'SERIAL NOT NULL PRIMARY KEY', 'vpk': 'VARCHAR(255) NOT NULL PRIMARY KEY',
         'uuidpk': 'UUID NOT NULL PRIMARY KEY', 'intpk': 'INTEGER NOT NULL PRIMARY KEY',
         'v': 'VARCHAR(255)', 'text': 'TEXT', 'ts': 'TIMESTAMP', 'date': 'DATE',
         'bool': 'BOOLEAN', 'real': 'REAL', 'int': 'INTEGER', 'bigint': 'BIGINT',
         'uuid': 'UUID'}


def upstream_ddl():
    """The statements upstream's dbsync ran for a fresh 7.0 database."""
    statements = ['CREATE TABLE "metadatasystem" ("part" VARCHAR(255) NOT NULL PRIMARY KEY, '
                  '"value" INTEGER NOT NULL)',
                  "INSERT INTO \"metadatasystem\" VALUES ('major', 7), ('minor', 0)"]
    for table, (columns, pk, unique) in UPSTREAM.items():
        cols, fks, indexes = [], [], ['created', 'updated', 'deleted']
        specs = [c.split() for c in columns.split('; ')]
        specs[1:1] = [['created', 'ts'], ['updated', 'ts'], ['deleted', 'ts', 'null']]
        for name, kind, *flags in specs:
            sql = '"{}" {}'.format(name, TYPES[kind])
            if 'PRIMARY' not in sql and 'null' not in flags:
                sql += ' NOT NULL'
            cols.append(sql)
            for flag in flags:
                if flag.startswith('>'):
                    ref_table, ref_col = flag[1:].split('.')
                    fks.append('FOREIGN KEY ("{}") REFERENCES "{}" ("{}")'.format(
                        name, ref_table, ref_col))
                    indexes.append(name)
                elif flag == 'idx':
                    indexes.append(name)
                elif flag == 'uniq':
                    indexes.append('UNIQUE ' + name)
            if kind in ('serial', 'vpk', 'uuidpk', 'intpk') and name in indexes:
                indexes.remove(name)
        if pk:
            cols.append('PRIMARY KEY ({})'.format(', '.join('"{}"'.format(c)
                                                           for c in pk.split(','))))
        statements.append('CREATE TABLE "{}" ({})'.format(table, ', '.join(cols + fks)))
        for index in indexes:
            uniq = index.startswith('UNIQUE ')
            column = index.split()[-1]
            statements.append('CREATE {}INDEX "{}_{}" ON "{}" ("{}")'.format(
                'UNIQUE ' if uniq else '', table, column, table, column))
        if unique:
            name, cols_text = unique.rstrip(')').split('(')
            statements.append('CREATE UNIQUE INDEX "{}" ON "{}" ({})'.format(
                name, table, ', '.join('"{}"'.format(c) for c in cols_text.split(','))))
    statements.append(
        "INSERT INTO relationships VALUES ('ad417f50-5401-446d-8e5f-69892777f9b1', "
        "'2017-01-01', '2017-01-01', NULL, 'member_of', 'Member of', "
        "'subject is a member of the object', 'UTF8')")
    return statements


def introspect(url):
    """Tables, columns, indexes and constraints of a PostgreSQL database, comparably."""
    db = open_database(url, max_connections=1)
    db.connect()
    try:
        def rows(sql):
            return sorted(tuple(r) for r in db.execute_sql(sql).fetchall())
        return {
            'columns': rows("SELECT table_name, column_name, data_type, is_nullable, "
                            "character_maximum_length, column_default IS NOT NULL "
                            "FROM information_schema.columns WHERE table_schema = 'public'"),
            'indexes': rows("SELECT tablename, indexname, "
                            "regexp_replace(indexdef, '^.* USING ', '') "
                            "FROM pg_indexes WHERE schemaname = 'public'"),
            'constraints': rows("SELECT conrelid::regclass::text, conname, contype, "
                                "pg_get_constraintdef(oid) FROM pg_constraint "
                                "WHERE connamespace = 'public'::regnamespace"),
            'sequences': rows("SELECT sequencename FROM pg_sequences"),
        }
    finally:
        db.close()
        db.close_all()


def execute(url, statements):
    """Run SQL statements in one transaction."""
    db = open_database(url, max_connections=1)
    db.connect()
    try:
        with db.atomic():
            for sql in statements:
                db.execute_sql(sql)
    finally:
        db.close()
        db.close_all()


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database (upstream 0.13.0 ran on PostgreSQL only)."""
    if not POSTGRES_URL:
        pytest.skip('PACIFICA_TEST_POSTGRES is not set (no PostgreSQL server to test against)')
    url = create_postgres_database('pacifica_mdschema')
    yield url
    drop_postgres_database(url)


def test_upstream_database_is_adopted_and_fresh_schema_matches(pg_url, md_admin, tmp_path):
    execute(pg_url, upstream_ddl())
    env = service_env(tmp_path, 'metadata', PEEWEE_URL=pg_url)
    before = introspect(pg_url)
    done = md_admin(env, 'dbsync')
    assert done.returncode == 0, done.stderr
    assert 'already at 7.0' in done.stdout
    assert md_admin(env, 'dbchk', '--equal').returncode == 0
    assert introspect(pg_url) == before

    fresh = create_postgres_database('pacifica_mdfresh')
    try:
        fresh_env = service_env(tmp_path, 'metadata', PEEWEE_URL=fresh)
        assert md_admin(fresh_env, 'dbsync').returncode == 0
        assert introspect(fresh) == before
    finally:
        drop_postgres_database(fresh)


def _sql(url, *statements):
    execute(url, statements)


def test_fresh_dbsync_dbchk_and_seeds(db_url, md_admin, tmp_path):
    env = service_env(tmp_path, 'metadata', PEEWEE_URL=db_url)
    assert md_admin(env, 'dbchk').returncode == 255          # nothing there yet
    done = md_admin(env, 'dbsync')
    assert done.returncode == 0 and 'created schema 7.0' in done.stdout, done.stderr
    assert md_admin(env, 'dbsync').stdout.strip() == 'schema already at 7.0'
    assert md_admin(env, 'dbchk', '--equal').returncode == 0
    rendered = md_admin(env, 'render', '--object-name', 'Relationships',
                        '--where-clause', '{"name": "authorized_releaser"}')
    assert rendered.returncode == 0, rendered.stderr
    row = json.loads(rendered.stdout)
    assert row['display_name'] == 'Authorized Releaser' and 'transaction_user' in row
    db = open_database(db_url, max_connections=1)
    db.connect()
    names = sorted(r[0] for r in db.execute_sql('SELECT name FROM relationships').fetchall())
    db.close()
    db.close_all()
    assert names == sorted(['upload_required', 'search_required', 'member_of',
                            'co_principal_investigator', 'principal_investigator',
                            'custodian', 'point_of_contact', 'authorized_releaser'])


@pytest.mark.parametrize('statements, words', [
    (['CREATE TABLE metadatasystem (part VARCHAR(255) PRIMARY KEY, value INTEGER NOT NULL)'],
     'half-initialised'),
    (['CREATE TABLE metadatasystem (part VARCHAR(255) PRIMARY KEY, value INTEGER NOT NULL)',
      "INSERT INTO metadatasystem VALUES ('major', 6), ('minor', 0)"], '6.0'),
    (['CREATE TABLE metadatasystem (part VARCHAR(255) PRIMARY KEY, value INTEGER NOT NULL)',
      "INSERT INTO metadatasystem VALUES ('major', 7), ('minor', 1)"], '7.1'),
    (['CREATE TABLE users (id INTEGER PRIMARY KEY)'], 'half-initialised'),
])
def test_dbsync_refuses_unusable_databases(db_url, md_admin, tmp_path, statements, words):
    _sql(db_url, *statements)
    env = service_env(tmp_path, 'metadata', PEEWEE_URL=db_url)
    done = md_admin(env, 'dbsync')
    assert done.returncode == 1
    assert words in done.stderr and 'Traceback' not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_server_refuses_old_schema(db_url, tmp_path):
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    _sql(db_url, 'CREATE TABLE metadatasystem (part VARCHAR(255) PRIMARY KEY, '
                 'value INTEGER NOT NULL)',
         "INSERT INTO metadatasystem VALUES ('major', 6), ('minor', 0)")
    env = service_env(tmp_path, 'metadata', PEEWEE_URL=db_url)
    done = subprocess.run([sys.executable, '-m', 'pacifica.metadata', '-p', '1'], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert 'Database version too old 6.0 update to 7.0' in done.stderr
    assert 'Traceback' not in done.stderr


def test_admin_commands(db_url, md_admin, tmp_path):
    env = service_env(tmp_path, 'metadata', PEEWEE_URL=db_url, NOTIFICATIONS_DISABLED='true')
    none = md_admin(env)
    assert none.returncode == 2 and 'usage' in none.stderr
    made = md_admin(env, 'create_table', '--object-name', 'Keys')
    assert made.returncode == 0, made.stderr
    bad = md_admin(env, 'create_table', '--object-name', 'Nope')
    assert bad.returncode == 2 and "invalid objstr_to_ormobj value: 'Nope'" in bad.stderr
    assert md_admin(env, 'dbsync').returncode == 1     # tables but no version: refused
    _sql(db_url, 'DROP TABLE keys')
    assert md_admin(env, 'dbsync').returncode == 0
    _sql(db_url, "INSERT INTO keys (id, created, updated, key, display_name, description, "
                 "encoding) VALUES (5, '2017-07-15', '2017-07-15', 'k', '', '', 'UTF8')")
    where = md_admin(env, 'render', '--object-name', 'Keys', '--where-clause', '[1]')
    assert where.returncode == 2 and 'JSON object' in where.stderr
    shown = md_admin(env, 'render', '--object-name', 'Keys', '--where-clause', '{"_id": 5}',
                     '--recursion', '0')
    assert json.loads(shown.stdout) == {
        'created': '2017-07-15T00:00:00', 'updated': '2017-07-15T00:00:00', 'deleted': None,
        '_id': 5, 'key': 'k', 'display_name': '', 'description': '', 'encoding': 'UTF8'}
    assert md_admin(env, 'render', '--object-name', 'Keys',
                    '--where-clause', '{"_id": 6}').returncode == 1
    soft = md_admin(env, 'delete_obj', '--object-name', 'Keys', '--where-clause', '{"_id": 5}')
    assert soft.returncode == 0, soft.stderr
    again = md_admin(env, 'delete_obj', '--object-name', 'Keys', '--where-clause', '{"_id": 5}')
    assert again.returncode == 1 and "didn't select" in again.stdout
    hard = md_admin(env, 'delete_obj', '--object-name', 'Keys', '--where-clause',
                    '{"_id": 5, "deleted": ""}', '--force')
    assert hard.returncode == 0, hard.stderr
    gone = md_admin(env, 'render', '--object-name', 'Keys', '--where-clause',
                    '{"_id": 5, "deleted": ""}')
    assert gone.returncode == 1


def _expected_sqlite():
    """The UPSTREAM transcription as SQLite reports a table: columns with NOT NULL, primary
    key columns, foreign keys and named indexes."""
    expected = {}
    for table, (columns, pk, unique) in UPSTREAM.items():
        specs = [c.split() for c in columns.split('; ')]
        specs[1:1] = [['created', 'ts'], ['updated', 'ts'], ['deleted', 'ts', 'null']]
        cols, fks, indexes, pks = set(), set(), set(), pk.split(',') if pk else []
        for name, kind, *flags in specs:
            cols.add((name, 'null' not in flags))
            if kind in ('serial', 'vpk', 'uuidpk', 'intpk'):
                pks = [name]
            for flag in flags:
                if flag.startswith('>'):
                    fks.add((name,) + tuple(flag[1:].split('.')))
                if flag.startswith('>') or flag in ('idx', 'uniq'):
                    if kind not in ('serial', 'vpk', 'uuidpk', 'intpk'):
                        indexes.add(('{}_{}'.format(table, name), flag == 'uniq', (name,)))
        for name in ('created', 'updated', 'deleted'):
            indexes.add(('{}_{}'.format(table, name), False, (name,)))
        if unique:
            name, cols_text = unique.rstrip(')').split('(')
            indexes.add((name, True, tuple(cols_text.split(','))))
        expected[table] = (cols, pks, fks, indexes)
    return expected


def test_sqlite_schema_matches_transcription(tmp_path, md_admin):
    url = 'sqliteext:///' + str(tmp_path / 'schema.sqlite3')
    assert md_admin(service_env(tmp_path, 'metadata', PEEWEE_URL=url), 'dbsync').returncode == 0
    db = open_database(url, max_connections=1)
    db.connect()
    try:
        def q(sql):
            return db.execute_sql(sql).fetchall()
        for table, (cols, pks, fks, indexes) in _expected_sqlite().items():
            info = q('PRAGMA table_info("{}")'.format(table))
            assert {(r[1], bool(r[3]) or r[5] > 0) for r in info} == cols, table
            assert [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] == pks, table
            assert {(r[3], r[2], r[4]) for r in q('PRAGMA foreign_key_list("{}")'.format(
                table))} == fks, table
            found = set()
            for row in q('PRAGMA index_list("{}")'.format(table)):
                if row[3] != 'c':
                    continue   # the implicit index of a PRIMARY KEY / UNIQUE constraint
                columns = tuple(r[2] for r in q('PRAGMA index_info("{}")'.format(row[1])))
                found.add((row[1], bool(row[2]), columns))
            assert found == indexes, table
        version = dict(q('SELECT part, value FROM metadatasystem'))
        assert version == {'major': 7, 'minor': 0}
    finally:
        db.close()
        db.close_all()
