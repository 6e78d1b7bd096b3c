"""The staging rules without Celery: space reservation and LRU purge, the single bundler,
the re-drive of stale carts. Real archive interface, real database."""
import errno
import hashlib
import os
import threading
from datetime import datetime, timedelta

import pytest
import requests

from pacifica.cartd import carts, lifecycle, staging
from pacifica.cartd.config import KEYS
from pacifica.cartd.orm import DB, Cart, CartSchema, File
from pacifica.common import config as cfg
from pacifica.common.database import open_database
from support import service_env, start_service


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    """A real archive interface."""
    base = tmp_path_factory.mktemp('archive')
    server = start_service('pacifica.archiveinterface', base,
                           service_env(base, 'archiveinterface'), ['--prefix', str(base / 'r')])
    yield server
    server.stop()


@pytest.fixture
def stager(db_url, tmp_path, archive):
    """A Stager on a fresh database and volume."""
    database = open_database(db_url)
    DB.initialize(database)
    CartSchema(database).dbsync()
    config = cfg.load(KEYS, None, environ={
        'VOLUME_PATH': str(tmp_path / 'volume'), 'ARCHIVE_INTERFACE_URL': archive.url,
        'REDRIVE_AFTER': '60'})
    os.makedirs(str(tmp_path / 'volume'))
    yield staging.Stager(config)
    if not database.is_closed():
        database.close()
    database.close_all()


def _staging_cart(archive, uid, data=b'content'):
    requests.put('{}/{}'.format(archive.url, uid), data=data)
    cart = Cart.create(cart_uid=uid, status='staging')
    row = File.create(cart=cart, archive_id=uid, bundle_path='f.bin', hash_type='sha256',
                      hash_value=hashlib.sha256(data).hexdigest())
    return cart, row


def _ready_cart(stager, uid, age_days, status='ready'):
    when = datetime.now() - timedelta(days=age_days)
    cart = Cart.create(cart_uid=uid, status=status, creation_date=when, updated_date=when)
    os.makedirs(os.path.join(stager.volume, str(cart.id), uid))
    return cart


def test_full_volume_purges_least_recently_used_ready_cart(stager, archive, monkeypatch):
    oldest = _ready_cart(stager, 'oldest', 30)
    busy = _ready_cart(stager, 'busy', 40, status='staging')
    cart, row = _staging_cart(archive, 'needs-room')
    real_fallocate = os.posix_fallocate

    def fallocate(fd, offset, length):
        if Cart.get_by_id(oldest.id).deleted_date is None:
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_fallocate(fd, offset, length)

    monkeypatch.setattr(os, 'posix_fallocate', fallocate)
    monkeypatch.setattr(carts, 'free_bytes', lambda volume: (
        0 if Cart.get_by_id(oldest.id).deleted_date is None else 10 ** 12))
    assert stager.advance(row.id, 0, 0) is None
    assert Cart.get_by_id(cart.id).status == 'ready'
    assert Cart.get_by_id(oldest.id).status == 'deleted'
    assert not os.path.exists(os.path.join(stager.volume, str(oldest.id)))
    assert Cart.get_by_id(busy.id).deleted_date is None   # staging carts are never purged


def test_no_room_marks_the_cart_error_and_leaves_no_partial_file(stager, archive,
                                                                 monkeypatch):
    cart, row = _staging_cart(archive, 'no-room')

    def fallocate(fd, offset, length):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'posix_fallocate', fallocate)
    monkeypatch.setattr(carts, 'free_bytes', lambda volume: 0)
    assert stager.advance(row.id, 0, 0) is None
    failed = Cart.get_by_id(cart.id)
    assert failed.status == 'error'
    assert 'Not enough space' in failed.error
    assert File.get_by_id(row.id).status == 'error'
    partial = os.path.join(stager.volume, str(cart.id), 'partial~')
    assert os.listdir(partial) == []


def test_exactly_one_caller_bundles(stager, archive):
    cart, row = _staging_cart(archive, 'once')
    File.update(status='staged').where(File.id == row.id).execute()
    os.makedirs(os.path.join(stager.volume, str(cart.id), 'once'))
    results = []

    def finish():
        with DB.connection_context():
            results.append(stager.finish(cart.id))

    threads = [threading.Thread(target=finish) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert Cart.get_by_id(cart.id).status == 'ready'


def test_stale_carts_are_redriven_once(stager, archive):
    cart, _row = _staging_cart(archive, 'stale')
    Cart.update(updated_date=datetime.now() - timedelta(hours=1)).where(
        Cart.id == cart.id).execute()
    fresh, _row = _staging_cart(archive, 'fresh')
    cutoff = datetime.now() - timedelta(seconds=60)
    assert lifecycle.redrive_stale(cutoff) == [cart.id]
    assert lifecycle.redrive_stale(cutoff) == []   # taken: not again right away


def test_deleted_cart_is_not_staged(stager, archive):
    cart, row = _staging_cart(archive, 'gone')
    Cart.update(status='deleted', deleted_date=datetime.now()).where(
        Cart.id == cart.id).execute()
    assert stager.advance(row.id, 0, 0) is None
    assert File.get_by_id(row.id).status == 'waiting'
    assert not os.path.exists(os.path.join(stager.volume, str(cart.id), 'gone', 'f.bin'))


def test_lru_purge_skips_a_cart_being_downloaded(stager, archive, monkeypatch):
    from pacifica.cartd import bundle  # pylint: disable=import-outside-toplevel
    downloading = _ready_cart(stager, 'downloading', 50)
    older_free = _ready_cart(stager, 'idle', 20)
    monkeypatch.setattr(carts, 'free_bytes', lambda volume: (
        0 if Cart.get_by_id(older_free.id).deleted_date is None else 10 ** 12))
    with bundle.cart_lock(stager.volume, downloading.id):   # what a GET holds while streaming
        assert carts.purge_for_space(stager.volume, 100, keep_cart_id=0, buffer_seconds=0)
    assert Cart.get_by_id(downloading.id).deleted_date is None
    assert Cart.get_by_id(older_free.id).status == 'deleted'


def test_pulled_files_are_recorded_together_and_only_once_durable(stager, archive):
    """A batch's pulled files stay to do until mark_staged syncs and records them; one that
    vanished before it could be synced stays to do."""
    cart = Cart.create(cart_uid='batch', status='staging')
    rows = []
    for number in range(3):
        data = 'file {}'.format(number).encode() * 100
        requests.put('{}/batch-{}'.format(archive.url, number), data=data)
        rows.append(File.create(cart=cart, archive_id='batch-{}'.format(number),
                                bundle_path='d/f{}.bin'.format(number), hash_type='sha256',
                                hash_value=hashlib.sha256(data).hexdigest()))
    pulled = []
    for row in rows:
        assert stager.advance(row.id, 0, 0, pulled) is None
    assert [entry[:2] for entry in pulled] == [(row.id, cart.id) for row in rows]
    assert all(os.path.isfile(path) for _f, _c, path in pulled)
    assert {File.get_by_id(row.id).status for row in rows} == {'waiting'}   # not yet

    os.unlink(pulled[1][2])   # gone before it could be made durable
    stager.mark_staged(pulled)
    assert [File.get_by_id(row.id).status for row in rows] == ['staged', 'waiting', 'staged']
    assert Cart.get_by_id(cart.id).status == 'staging'   # one file still to do

    assert stager.advance(rows[1].id, 0, 0) is None   # alone: recorded at once
    assert File.get_by_id(rows[1].id).status == 'staged'
    assert Cart.get_by_id(cart.id).status == 'ready'


def _progress(stager, cart_id):
    return carts.progress(Cart.get_by_id(cart_id), stager.volume)


def test_progress_counts_each_file_once_however_often_it_is_staged(stager, archive):
    """HEAD's counters on the cart row: a file announced, pulled or recorded again (a
    redelivered message, a worker that died before recording) is counted once."""
    datas = [b'a' * 10, b'b' * 200, b'c' * 3000]
    items = []
    for number, data in enumerate(datas):
        requests.put('{}/once-{}'.format(archive.url, number), data=data)
        items.append({'id': 'once-{}'.format(number), 'path': 'f{}'.format(number),
                      'hashtype': 'sha256', 'hashsum': hashlib.sha256(data).hexdigest()})
    cart = lifecycle.create('counted', items, False)
    ids = lifecycle.files_to_do(cart.id)
    assert _progress(stager, cart.id) == (0, 3, 0, 0)

    surveyed = stager.survey(ids[:2])
    assert _progress(stager, cart.id) == (0, 3, 0, 210)
    surveyed = stager.survey(ids[:2])   # the batch again: announced once
    assert _progress(stager, cart.id) == (0, 3, 0, 210)

    pulled = []
    for file_id in ids[:2]:
        assert stager.advance(file_id, 0, 0, pulled, surveyed=surveyed[file_id]) is None
    stager.mark_staged(pulled)
    stager.mark_staged(pulled)   # recorded twice
    assert _progress(stager, cart.id) == (2, 3, 210, 210)
    assert stager.advance(ids[0], 0, 0) is None   # a staged file's message redelivered
    assert _progress(stager, cart.id) == (2, 3, 210, 210)

    lost = []
    assert stager.advance(ids[2], 0, 0, lost) is None   # pulled, never recorded (died)
    assert _progress(stager, cart.id) == (2, 3, 210, 3210)
    results = []

    def record():
        with DB.connection_context():
            results.append(lifecycle.mark_staged([ids[2]], [cart.id]))

    threads = [threading.Thread(target=record) for _ in range(4)]   # four redeliveries
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert _progress(stager, cart.id) == (3, 3, 3210, 3210)
    # The counters agree with the file rows.
    Cart.update(staged_files=None).where(Cart.id == cart.id).execute()
    assert _progress(stager, cart.id) == (3, 3, 3210, 3210)


def test_bundling_is_claimed_when_the_rows_and_the_counters_say_done(stager):
    """The counters spare reading a cart's rows while files are left; a cart without them
    (made before schema 2.2) is decided by its rows alone."""
    items = [{'id': 'cb-{}'.format(number), 'path': 'c{}'.format(number),
              'hashtype': 'sha256', 'hashsum': '0' * 64} for number in range(3)]
    cart = lifecycle.create('counted-bundle', items, False)
    ids = lifecycle.files_to_do(cart.id)
    lifecycle.mark_staged(ids[:2], [cart.id])
    assert not lifecycle.claim_bundling(cart.id, 'w')          # a file left
    File.update(status='staged').where(File.id == ids[2]).execute()   # not counted
    assert not lifecycle.claim_bundling(cart.id, 'w')          # the counters say one left
    Cart.update(staged_files=None, total_files=None).where(Cart.id == cart.id).execute()
    assert lifecycle.claim_bundling(cart.id, 'w')              # no counters: the rows decide
    assert Cart.get_by_id(cart.id).status == 'bundling'

    other = lifecycle.create('counted-bundle-2', items, False)
    other_ids = lifecycle.files_to_do(other.id)
    lifecycle.mark_staged(other_ids, [other.id])
    File.update(status='waiting').where(File.id == other_ids[0]).execute()
    assert not lifecycle.claim_bundling(other.id, 'w')         # counters done, a row is not
    lifecycle.mark_staged(other_ids[:1], [other.id])
    assert lifecycle.claim_bundling(other.id, 'w')
    assert not lifecycle.claim_bundling(other.id, 'w')         # once
