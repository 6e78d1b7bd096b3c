"""``pacifica-cartd-cmd``: schema, purge, fixit and dump, on SQLite and PostgreSQL."""
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import requests

from pacifica.cartd import lifecycle
from pacifica.cartd.orm import DB, Cart, File
from pacifica.common.database import open_database
from support import free_port, run_admin, service_env, start_service


@pytest.fixture
def env(tmp_path, db_url):
    """The admin command's environment on a fresh database."""
    return service_env(tmp_path, 'cartd', PEEWEE_URL=db_url, VOLUME_PATH=tmp_path / 'volume',
                       PACIFICA_HOME=tmp_path / 'home', DATABASE_CONNECT_ATTEMPTS=2,
                       DATABASE_CONNECT_WAIT=0.2)


@pytest.fixture
def db(db_url):
    """The test process's own connection to the same database, through the models."""
    database = open_database(db_url)
    DB.initialize(database)
    yield database
    if not database.is_closed():
        database.close()
    database.close_all()


def admin(env, *args):
    """Run the admin command."""
    return run_admin('pacifica.cartd', list(args), env)


def _refuses_to_start(env, argv, line, cwd=None):
    """The program exits 1 at start with ``line`` on stderr and no traceback."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1, done.stderr
    assert line in done.stderr
    assert 'Traceback' not in done.stderr


def test_dbsync_and_dbchk(env, db):
    assert admin(env, 'dbchk').returncode == 255
    done = admin(env, 'dbsync')
    assert done.returncode == 0 and 'created schema 2.2' in done.stdout
    assert set(db.get_tables()) >= {'cart', 'file', 'carttasks', 'cartsystem'}
    assert admin(env, 'dbchk').returncode == 0
    assert admin(env, 'dbchk', '--equal').returncode == 0
    assert 'already at 2.2' in admin(env, 'dbsync').stdout


UPSTREAM_0_1 = [
    'CREATE TABLE cartsystem (part VARCHAR(255) PRIMARY KEY, value INTEGER NOT NULL)',
    "INSERT INTO cartsystem VALUES ('major', 0), ('minor', 1)",
    'CREATE TABLE cart (id {pk}, cart_uid VARCHAR(255) NOT NULL, bundle_path VARCHAR(255) '
    'NOT NULL, creation_date TIMESTAMP NOT NULL, updated_date TIMESTAMP NOT NULL, '
    'deleted_date TIMESTAMP, status TEXT NOT NULL, error TEXT NOT NULL)',
    'CREATE TABLE file (id {pk}, cart_id INTEGER NOT NULL REFERENCES cart (id), file_name '
    'VARCHAR(255) NOT NULL, bundle_path VARCHAR(255) NOT NULL, hash_type VARCHAR(255), '
    'hash_value VARCHAR(255), status TEXT NOT NULL, error TEXT NOT NULL)',
    "INSERT INTO cart (cart_uid, bundle_path, creation_date, updated_date, status, error) "
    "VALUES ('old', '', '2020-01-01 00:00:00', '2020-01-01 00:00:00', 'ready', '')",
]


def test_upgrade_from_upstream_0_1(env, db, db_url, tmp_path):
    pk = 'INTEGER PRIMARY KEY AUTOINCREMENT' if db_url.startswith('sqlite') else 'SERIAL PRIMARY KEY'
    for statement in UPSTREAM_0_1:
        db.execute_sql(statement.format(pk=pk))
    db.close()
    assert admin(env, 'dbchk').returncode == 255
    # The server refuses the old schema with one line, no traceback.
    _refuses_to_start(env, [sys.executable, '-m', 'pacifica.cartd', '-p', str(free_port())],
                      'Database version too old 0.1 update to 2.2')
    done = admin(env, 'dbsync')
    assert done.returncode == 0 and 'updated schema 0.1 to 2.2' in done.stdout, done.stderr
    cart = Cart.get(Cart.cart_uid == 'old')
    assert cart.bundle is False and cart.status == 'ready'
    assert 'carttasks' in db.get_tables()
    assert admin(env, 'dbchk', '--equal').returncode == 0


PROGRESS_COLUMNS = (('cart', 'total_files'), ('cart', 'staged_files'),
                    ('cart', 'staged_bytes'), ('cart', 'announced_bytes'), ('file', 'size'))


def test_upgrade_from_2_1_keeps_the_progress_of_carts_in_flight(env, db, tmp_path):
    """A 2.1 database (no progress counters) with a cart half staged by the 2.1 workers
    (the sizes they announced are in ``sizes~``): after dbsync its HEAD reports the same
    progress, and a file a new worker stages counts too."""
    assert admin(env, 'dbsync').returncode == 0
    for table, column in PROGRESS_COLUMNS:
        db.execute_sql('ALTER TABLE {} DROP COLUMN {}'.format(table, column))
    db.execute_sql("UPDATE cartsystem SET value = 1 WHERE part = 'minor'")
    cart_id = db.execute_sql(
        "INSERT INTO cart (cart_uid, bundle_path, bundle, creation_date, updated_date, "
        "status, error) VALUES ('legacy', '', false, '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00', 'staging', '') RETURNING id").fetchone()[0]
    ids = [db.execute_sql(
        "INSERT INTO file (cart_id, file_name, bundle_path, status, error) "
        "VALUES (%s, %s, %s, %s, '') RETURNING id".replace('%s', db.param),
        (cart_id, name, name, status)).fetchone()[0]
           for name, status in (('one', 'staged'), ('two', 'waiting'), ('three', 'waiting'))]
    os.makedirs(str(tmp_path / 'volume' / str(cart_id)))
    with open(str(tmp_path / 'volume' / str(cart_id) / 'sizes~'), 'w', encoding='ascii') as out:
        out.write('{} 1000\n{} 5000\n'.format(ids[0], ids[1]))
    db.close()
    assert admin(env, 'dbchk', '--equal').returncode != 0
    # 2.1 lacks the columns this code reads: dbchk says so and the server refuses to start
    assert admin(env, 'dbchk').returncode == 255
    _refuses_to_start(env, [sys.executable, '-m', 'pacifica.cartd', '-p', str(free_port())],
                      'Database version too old 2.1 update to 2.2')
    _refuses_to_start(env, [sys.executable, '-m', 'celery', '-A', 'pacifica.cartd.tasks',
                            'worker', '--pool', 'solo'],
                      'pacifica.cartd.tasks: Database version too old 2.1 update to 2.2',
                      cwd=str(tmp_path))
    done = admin(env, 'dbsync')
    assert done.returncode == 0 and 'updated schema 2.1 to 2.2' in done.stdout, done.stderr
    server = start_service('pacifica.cartd', tmp_path, env)
    try:
        head = requests.head(server.url + '/legacy')
        assert head.status_code == 204 and head.headers['X-Pacifica-Status'] == 'staging'
        assert head.headers['X-Pacifica-Progress'] == '1/3 files, 1000/6000 bytes'
        # A 2.2 worker announces and stages the last file of the cart.
        lifecycle.announce_sizes(cart_id, {ids[2]: 300})
        lifecycle.mark_staged([ids[1], ids[2]], [cart_id])
        head = requests.head(server.url + '/legacy')
        assert head.headers['X-Pacifica-Progress'] == '3/3 files, 6300/6300 bytes'
    finally:
        server.stop()
    assert admin(env, 'dbchk', '--equal').returncode == 0


@pytest.mark.parametrize('value', ['3 fortnights ago', '1 days later', '1 days', 'x days ago',
                                   '1 2 3 4'])
def test_purge_time_syntax_is_checked(env, value):
    done = admin(env, 'purge', '--time-ago', value)
    assert done.returncode == 2
    assert 'Traceback' not in done.stderr


def _cart(volume, uid, status, age_days, **extra):
    when = datetime.now() - timedelta(days=age_days)
    cart = Cart.create(cart_uid=uid, status=status, creation_date=when, updated_date=when,
                       **extra)
    folder = os.path.join(volume, str(cart.id), uid)
    os.makedirs(folder)
    with open(os.path.join(folder, 'f.txt'), 'w', encoding='utf-8') as handle:
        handle.write(uid)
    return cart


def test_purge_deletes_old_finished_carts_only(env, db, tmp_path):
    assert admin(env, 'dbsync').returncode == 0
    volume = str(tmp_path / 'volume')
    old = _cart(volume, 'shared', 'ready', 200)
    new = _cart(volume, 'shared', 'ready', 1)
    busy = _cart(volume, 'busy', 'staging', 300)
    failed = _cart(volume, 'failed', 'error', 190)
    db.close()
    done = admin(env, 'purge')
    assert done.returncode == 0, done.stderr
    assert 'purged 2 cart(s)' in done.stdout
    assert Cart.get_by_id(old.id).status == 'deleted'
    assert Cart.get_by_id(failed.id).deleted_date is not None
    assert Cart.get_by_id(new.id).deleted_date is None   # same uid, newer: kept
    assert Cart.get_by_id(busy.id).deleted_date is None  # staging: never purged
    assert not os.path.exists(os.path.join(volume, str(old.id)))
    assert os.path.exists(os.path.join(volume, str(new.id)))
    # A negative age puts the cut-off in the future: everything finished goes.
    done = admin(env, 'purge', '--time-ago', '-1 days ago')
    assert 'purged 1 cart(s)' in done.stdout
    assert Cart.get_by_id(new.id).deleted_date is not None
    assert Cart.get_by_id(busy.id).deleted_date is None


def test_fixit_restages_a_failed_cart(env, db, tmp_path):
    archive = start_service('pacifica.archiveinterface', tmp_path,
                            service_env(tmp_path, 'archiveinterface'),
                            ['--prefix', str(tmp_path / 'archive')])
    try:
        assert admin(env, 'dbsync').returncode == 0
        cart = Cart.create(cart_uid='fixme', status='error', error='Failed to pull file(x)',
                           bundle=True)
        File.create(cart=cart, archive_id='fix1', bundle_path='d/one.txt', hash_type='md5',
                    hash_value='5a105e8b9d40e1329780d62ea2265d8a', status='error',
                    error='Failed to pull with error')
        db.close()
        # The file is now in the archive (it was missing when the cart failed).
        requests.put(archive.url + '/fix1', data=b'test1')
        fix_env = dict(env, ARCHIVE_INTERFACE_URL=archive.url + '/')
        done = admin(fix_env, 'fixit', '--cartid', 'fixme', 'nonexistent')
        assert 'cart fixme is ready' in done.stdout, done.stdout + done.stderr
        assert 'no cart with uid nonexistent' in done.stdout
        assert done.returncode == 1   # one of the two could not be fixed
        fixed = Cart.get_by_id(cart.id)
        assert fixed.status == 'ready' and fixed.error == ''
        assert fixed.bundle_path.endswith('fixme.tar') and os.path.isfile(fixed.bundle_path)
        dump = admin(env, 'dump', '--json')
        carts = json.loads(dump.stdout)
        assert carts[0]['cart_uid'] == 'fixme' and carts[0]['bundle'] == 'True'
        assert carts[0]['files'][0]['status'] == 'staged'
    finally:
        archive.stop()
