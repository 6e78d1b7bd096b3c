"""``pacifica-uniqueid`` and ``pacifica-uniqueid-cmd``: flags, exit codes, config files,
adopting an upstream database, and what the WSGI module imports."""
import sqlite3
import subprocess
import sys

import pytest
import requests

from support import (POSTGRES_URL, free_port, run_admin, service_env, start_service)

PKG = 'pacifica.uniqueid'


def admin(env, tmp_path, *args):
    """Run pacifica-uniqueid-cmd."""
    return run_admin(PKG, args, env, cwd=str(tmp_path))


def serve_once(env, tmp_path, *args, timeout=60):
    """Run the server expecting it to exit (start-up failures)."""
    return subprocess.run([sys.executable, '-m', PKG] + list(args), env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_dbsync_on_a_fresh_directory_with_the_documented_default(tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqliteext:///db.sqlite3')
    done = admin(env, tmp_path, 'dbsync')
    assert done.returncode == 0, done.stderr
    assert (tmp_path / 'db.sqlite3').exists()
    assert admin(env, tmp_path, 'dbchk', '--equal').returncode == 0
    again = admin(env, tmp_path, 'dbsync')
    assert again.returncode == 0 and 'already' in again.stdout


def test_dbchk_exit_codes(db_url, tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=db_url)
    assert admin(env, tmp_path, 'dbchk').returncode == 255       # empty database: 0.0
    assert admin(env, tmp_path, 'dbchk', '--equal').returncode == 255
    assert admin(env, tmp_path, 'dbsync').returncode == 0
    assert admin(env, tmp_path, 'dbchk').returncode == 0
    assert admin(env, tmp_path, 'dbchk', '--equal').returncode == 0


def test_no_subcommand_prints_usage_and_exits_2(tmp_path):
    done = admin(service_env(tmp_path, 'uniqueid'), tmp_path)
    assert done.returncode == 2
    assert 'usage:' in done.stderr and 'Traceback' not in done.stderr
    assert admin(service_env(tmp_path, 'uniqueid'), tmp_path, 'bogus').returncode == 2


def test_server_refuses_an_unsynced_database(db_url, tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=db_url)
    done = serve_once(env, tmp_path, '-p', str(free_port()))
    assert done.returncode == 1
    assert 'Database version too old 0.0 update to 1.0' in done.stderr
    assert 'Traceback' not in done.stderr


def test_server_gives_up_on_an_unreachable_database(tmp_path):
    env = service_env(tmp_path, 'uniqueid',
                      PEEWEE_URL='postgresql://nobody@127.0.0.1:1/none',
                      DATABASE_CONNECT_ATTEMPTS=2, DATABASE_CONNECT_WAIT=0.1)
    done = serve_once(env, tmp_path, '-p', str(free_port()))
    assert done.returncode == 1
    assert 'Failed database connect retry.' in done.stderr
    assert 'Traceback' not in done.stderr
    cmd = admin(env, tmp_path, 'dbsync')
    assert cmd.returncode == 1 and 'Failed database connect retry.' in cmd.stderr


@pytest.mark.parametrize('key, value, env_name', [
    ('connect_attempts', 'ten', 'DATABASE_CONNECT_ATTEMPTS'),
    ('connect_wait', 'soon', 'DATABASE_CONNECT_WAIT'),
    ('peewee_url', 'oracle://x/y', 'PEEWEE_URL'),
])
def test_bad_config_values_stop_start_up_naming_the_key(tmp_path, key, value, env_name):
    ini = tmp_path / 'bad.ini'
    ini.write_text('[database]\n{} = {}\n'.format(key, value))
    env = service_env(tmp_path, 'uniqueid')
    for done in (serve_once(env, tmp_path, '-c', str(ini)), admin(env, tmp_path, '-c', str(ini),
                                                                   'dbsync')):
        assert done.returncode == 1
        assert 'Traceback' not in done.stderr
        assert (key in done.stderr) or ('oracle' in done.stderr)
    env = service_env(tmp_path, 'uniqueid', **{env_name: value})
    done = admin(env, tmp_path, 'dbsync')
    assert done.returncode == 1 and 'Traceback' not in done.stderr


def test_ini_file_overrides_the_environment(tmp_path):
    ini = tmp_path / 'svc.ini'
    ini.write_text('[database]\npeewee_url = sqliteext:///from_ini.sqlite3\n')
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqliteext:///from_env.sqlite3')
    assert admin(env, tmp_path, '-c', str(ini), 'dbsync').returncode == 0
    assert (tmp_path / 'from_ini.sqlite3').exists()
    assert not (tmp_path / 'from_env.sqlite3').exists()
    # and UNIQUEID_CONFIG selects the same file
    env['UNIQUEID_CONFIG'] = str(ini)
    assert admin(env, tmp_path, 'dbchk', '--equal').returncode == 0


def test_c_accepts_a_service_ini_or_a_cherrypy_file(tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqliteext:///cli.sqlite3')
    assert admin(env, tmp_path, 'dbsync').returncode == 0
    port = free_port()
    cp = tmp_path / 'server.conf'
    cp.write_text("[global]\nserver.socket_host: '127.0.0.1'\nserver.socket_port: {}\n"
                  "[/]\nrequest.dispatch: cherrypy.dispatch.MethodDispatcher()\n".format(port))
    proc = subprocess.Popen([sys.executable, '-m', PKG, '-c', str(cp)], env=env,  # pylint: disable=consider-using-with
                            cwd=str(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_for(port)
        assert requests.get('http://127.0.0.1:{}/getid?range=1&mode=c'.format(port),
                            timeout=5).json() == {'startIndex': 0, 'endIndex': 0}
    finally:
        proc.terminate()
        proc.wait(10)


def test_explicit_flags_win_over_the_cherrypy_file(tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqliteext:///flags.sqlite3')
    assert admin(env, tmp_path, 'dbsync').returncode == 0
    file_port, flag_port = free_port(), free_port()
    cp = tmp_path / 'server.conf'
    cp.write_text("[global]\nserver.socket_host: '127.0.0.1'\nserver.socket_port: {}\n".format(
        file_port))
    server = start_service(PKG, tmp_path, env, ['--cpconfig', str(cp)], port=flag_port)
    try:
        assert requests.get(server.url + '/', timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):
            requests.get('http://127.0.0.1:{}/'.format(file_port), timeout=2)
    finally:
        server.stop()


def test_port_in_use_is_one_line_and_exit_1(tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqliteext:///busy.sqlite3')
    assert admin(env, tmp_path, 'dbsync').returncode == 0
    server = start_service(PKG, tmp_path, env)
    try:
        done = serve_once(env, tmp_path, '-a', '127.0.0.1', '-p', str(server.port))
        assert done.returncode == 1
        assert 'already in use' in done.stderr and 'Traceback' not in done.stderr
    finally:
        server.stop()


def test_missing_explicit_files_are_errors(tmp_path):
    env = service_env(tmp_path, 'uniqueid')
    for args in (['-c', 'nope.ini'], ['--cpconfig', 'nope.conf']):
        done = serve_once(env, tmp_path, *args)
        assert done.returncode == 1 and 'does not exist' in done.stderr


def test_help_texts(tmp_path):
    env = service_env(tmp_path, 'uniqueid')
    server_help = serve_once(env, tmp_path, '--help').stdout
    for flag in ('-c CONFIG', '--cpconfig CPCONFIG', '-p PORT', '-a ADDRESS', '[global]'):
        assert flag in server_help
    assert 'stop-after' not in server_help
    admin_help = admin(env, tmp_path, '--help').stdout
    assert 'dbsync' in admin_help and 'dbchk' in admin_help


def _wait_for(port, timeout=20):
    import time  # pylint: disable=import-outside-toplevel
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get('http://127.0.0.1:{}/'.format(port), timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError('server on port {} did not start'.format(port))


UPSTREAM_DDL = {
    # What upstream 0.5.1's dbsync leaves behind (peewee 3 DDL), with counters in use.
    'sqlite': [
        'CREATE TABLE "uniqueindex" ("id" VARCHAR(255) NOT NULL PRIMARY KEY, '
        '"index" INTEGER NOT NULL)',
        'CREATE TABLE "uniqueindexsystem" ("part" VARCHAR(255) NOT NULL PRIMARY KEY, '
        '"value" INTEGER NOT NULL)',
    ],
    'postgresql': [
        'CREATE TABLE "uniqueindex" ("id" VARCHAR(255) NOT NULL PRIMARY KEY, '
        '"index" BIGINT NOT NULL)',
        'CREATE TABLE "uniqueindexsystem" ("part" VARCHAR(255) NOT NULL PRIMARY KEY, '
        '"value" INTEGER NOT NULL)',
    ],
}


def _execute(db_url, statements):
    if db_url.startswith('sqlite'):
        conn = sqlite3.connect(db_url.split(':///', 1)[1])
        conn.executescript(';\n'.join(statements) + ';')
        conn.commit()
        conn.close()
        return
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()


@pytest.mark.parametrize('with_version_table', [True, False])
def test_adopts_an_upstream_database_keeping_its_counters(db_url, tmp_path, with_version_table):
    family = 'sqlite' if db_url.startswith('sqlite') else 'postgresql'
    statements = list(UPSTREAM_DDL[family][:1])
    statements.append('INSERT INTO "uniqueindex" ("id", "index") VALUES (\'file\', 21), '
                      '(\'upload\', 1)')
    if with_version_table:
        statements.append(UPSTREAM_DDL[family][1])
        statements.append('INSERT INTO "uniqueindexsystem" VALUES (\'major\', 1), '
                          '(\'minor\', 0)')
    _execute(db_url, statements)
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=db_url)
    expected = 0 if with_version_table else 255
    assert admin(env, tmp_path, 'dbchk', '--equal').returncode == expected
    done = admin(env, tmp_path, 'dbsync')
    assert done.returncode == 0, done.stderr
    assert admin(env, tmp_path, 'dbchk', '--equal').returncode == 0
    server = start_service(PKG, tmp_path, env)
    try:
        get = lambda q: requests.get(server.url + '/getid?' + q, timeout=5).json()  # noqa: E731
        assert get('range=10&mode=file') == {'startIndex': 21, 'endIndex': 30}
        assert get('range=1&mode=upload') == {'startIndex': 1, 'endIndex': 1}
        assert get('range=1&mode=new') == {'startIndex': 0, 'endIndex': 0}
    finally:
        server.stop()


def test_half_initialised_database_is_refused(db_url, tmp_path):
    family = 'sqlite' if db_url.startswith('sqlite') else 'postgresql'
    _execute(db_url, UPSTREAM_DDL[family])  # version table present, but no rows
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=db_url)
    done = admin(env, tmp_path, 'dbsync')
    assert done.returncode == 1
    assert 'half-initialised' in done.stderr and 'Traceback' not in done.stderr


def test_newer_schema_is_refused(db_url, tmp_path):
    family = 'sqlite' if db_url.startswith('sqlite') else 'postgresql'
    _execute(db_url, UPSTREAM_DDL[family] + [
        'INSERT INTO "uniqueindexsystem" VALUES (\'major\', 2), (\'minor\', 0)'])
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=db_url)
    done = admin(env, tmp_path, 'dbsync')
    assert done.returncode == 1 and 'unknown uniqueid schema version 2.0' in done.stderr
    assert admin(env, tmp_path, 'dbchk').returncode == 255
    served = serve_once(env, tmp_path, '-p', str(free_port()))
    assert served.returncode == 1 and 'Database version too old 2.0' in served.stderr


def test_wsgi_module_imports_no_other_service_celery_or_psycopg2(tmp_path):
    code = ('import sys, pacifica.uniqueid.wsgi as w; assert callable(w.application); '
            'print(" ".join(sorted(m for m in sys.modules)))')
    env = service_env(tmp_path, 'uniqueid')
    done = subprocess.run([sys.executable, '-c', code], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, check=True)
    modules = done.stdout.split()
    roots = {name.split('.')[0] for name in modules}
    assert not roots & {'celery', 'kombu', 'psycopg2', 'psycopg'}
    services = {name.split('.')[1] for name in modules
                if name.startswith('pacifica.') and name.count('.') >= 1}
    assert services <= {'common', 'uniqueid'}


@pytest.mark.skipif(not POSTGRES_URL, reason='PACIFICA_TEST_POSTGRES is not set')
def test_postgresql_driver_loads_on_demand(tmp_path):
    url = POSTGRES_URL
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=url)
    done = admin(env, tmp_path, 'dbchk')
    assert done.returncode in (0, 255), done.stderr


def test_tracebacks_only_with_pacifica_debug(tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqliteext:///debug.sqlite3')
    assert admin(env, tmp_path, 'dbsync').returncode == 0
    for flag, expect in (('0', False), ('1', True)):
        server = start_service(PKG, tmp_path, dict(env, PACIFICA_DEBUG=flag))
        try:
            body = requests.get(server.url + '/getid?range=x&mode=y', timeout=5).json()
            assert bool(body['traceback']) is expect
            assert ('Traceback' in body['traceback']) is expect
        finally:
            server.stop()
    done = serve_once(dict(env, PACIFICA_DEBUG='perhaps'), tmp_path)
    assert done.returncode == 1 and 'PACIFICA_DEBUG' in done.stderr
