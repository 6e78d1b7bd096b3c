"""A worker killed with SIGKILL mid-cart costs seconds, on every broker.

The re-drive of carts without progress is set to ten minutes here, so a cart that recovers
within the test's bound did so through the claims (pacifica.cartd.claims): the dead
worker's claims lapse after ``claim_timeout`` (its default, 10 s) and a live worker takes
them over. Each broker treats a dead worker's messages in its own way (RabbitMQ redelivers
at once, Redis after an hour, the filesystem broker never), which is why each is run.
"""
import io
import os
import re
import tarfile
import sys
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests

from pacifica.cartd import claims, lifecycle
from pacifica.cartd.orm import DB, Cart, CartSchema, File
from pacifica.common.database import open_database
from support import BROKER_URL, REDIS_URL


def _cart_conftest():
    """tests/cartd/conftest.py as pytest loaded it (a plain ``import conftest`` may find
    tests/conftest.py instead)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'conftest.py')
    return next(module for module in list(sys.modules.values())
                if getattr(module, '__file__', None) == here)


Stack = _cart_conftest().Stack

RECOVERY_BOUND = 30   # seconds from a worker being ready again to the cart being ready


def _brokers():
    params = [pytest.param(None, id='filesystem')]
    for url, env in ((BROKER_URL, 'PACIFICA_TEST_BROKER'), (REDIS_URL, 'PACIFICA_TEST_REDIS')):
        name = urlsplit(url).scheme if url else env
        marks = [] if url else [pytest.mark.skip(reason='{} is not set'.format(env))]
        params.append(pytest.param(url, id=name, marks=marks))
    return params


@pytest.fixture(scope='module', params=_brokers())
def stack(request, tmp_path_factory):
    """A cart stack whose last-resort re-drive is too slow to be what recovers a cart."""
    base = tmp_path_factory.mktemp('recovery')
    running = Stack(base, 'sqliteext:///' + str(base / 'cart.sqlite3'), request.param,
                    extra_env={'REDRIVE_AFTER': 600})
    try:
        yield running
    finally:
        running.close()


def _tar_files(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode='r|') as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def _bundled_lines(*workers):
    return sum(len(re.findall(r'cart \d+ bundled and ready', worker.output()))
               for worker in workers)


@pytest.mark.timeout(240)
def test_a_cart_survives_its_worker_being_killed_mid_staging(stack, gate):
    items = []
    for number in range(60):
        data = os.urandom(20000 + number * 101)
        stack.put('rec-{}'.format(number), data)
        items.append(('rec-{}'.format(number), 'd{}/f{}.bin'.format(number % 4, number), data))
    gate.hold.add('rec-37')   # one batch stalls mid-pull; the others get ahead
    uid = stack.new_uid()
    assert stack.post(uid, items, bundle=True).status_code == 201
    assert gate.arrived.wait(60)
    killed = stack.worker
    output_before = killed.output()
    killed.kill9()
    gate.hold.clear()
    gate.release.set()
    head = stack.head(uid)
    assert head.headers['X-Pacifica-Status'] == 'staging', head.headers
    staged_at_kill = int(head.headers['X-Pacifica-Progress'].split('/')[0])
    assert staged_at_kill < len(items)

    replacement = stack.another_worker()   # another node name: it waits for the lapse
    try:
        back = time.monotonic()
        head = stack.wait(uid, timeout=RECOVERY_BOUND + 30)
        took = time.monotonic() - back
        assert head.headers['X-Pacifica-Status'] == 'ready', head.headers
        assert took < RECOVERY_BOUND, 'ready {:.1f} s after the worker came back'.format(took)
        download = requests.get('{}/{}'.format(stack.url, uid))
        assert _tar_files(download.content) == {uid + '/' + path: data for _f, path, data in items}
        assert _bundled_lines(replacement) == 1 and 'bundled and ready' not in output_before
        assert 'held by a dead worker' in replacement.output()
    finally:
        replacement.stop()
        stack.worker = killed
        killed.start()


@pytest.fixture
def models(db_url):
    """The models on a fresh database at the current schema."""
    database = open_database(db_url)
    DB.initialize(database)
    CartSchema(database).dbsync()
    yield database
    if not database.is_closed():
        database.close()
    database.close_all()


def _cart(status='staging', files=3, **claim):
    cart = Cart.create(cart_uid='c', status=status, **claim)
    rows = [File.create(cart=cart, archive_id='a{}'.format(n), bundle_path='f{}'.format(n))
            for n in range(files)]
    return cart, rows


def test_lapsed_claims_are_taken_over_once(models):
    live = claims.Holdings(claims.worker_name('live@h', 'boot1', 1), 10)
    dead = claims.worker_name('dead@h', 'boot2', 2)
    cart, rows = _cart()
    assert live.claim([rows[0].id]) == {rows[0].id}
    old = datetime.now() - timedelta(seconds=60)
    File.update(claimed_by=dead, heartbeat=old).where(File.id.in_([rows[1].id, rows[2].id])
                                                     ).execute()
    assert live.claim([r.id for r in rows]) == {rows[0].id, rows[1].id, rows[2].id}
    # A second process of another worker finds nothing free, and nothing lapsed.
    other = claims.Holdings(claims.worker_name('other@h', 'boot3', 3), 10)
    assert other.claim([r.id for r in rows]) == set()
    assert claims.take_over_stale(other.name, 10) == claims.Handed({}, [])
    # live stops renewing (it died): after the timeout its claims are handed out, once.
    File.update(heartbeat=old).where(File.cart == cart.id).execute()
    handed = claims.take_over_stale(other.name, 10)
    assert handed.files == {cart.id: [r.id for r in rows]}
    assert claims.take_over_stale(other.name, 10).files == {}
    assert {f.claimed_by for f in File.select()} == {None}


def test_holdings_renew_only_what_they_hold(models):
    _cart_row, rows = _cart()
    holdings = claims.Holdings(claims.worker_name('w@h', 'b', 1), 10)
    holdings.claim([r.id for r in rows])
    holdings.finished([rows[0].id])
    holdings.release([rows[1].id])
    old = datetime.now() - timedelta(seconds=60)
    File.update(heartbeat=old).where(File.claimed_by.is_null(False)).execute()
    assert holdings.renew() == 1
    beats = {f.id: f.heartbeat for f in File.select()}
    assert beats[rows[2].id] > old and beats[rows[0].id] == old and beats[rows[1].id] is None


def test_a_starting_worker_takes_over_its_earlier_run_at_once(models):
    cart, rows = _cart(files=2)
    earlier = claims.worker_name('node@h', 'oldboot', 7)
    sibling = claims.worker_name('node@h', 'newboot', 8)
    File.update(claimed_by=earlier, heartbeat=datetime.now()).where(
        File.id == rows[0].id).execute()
    File.update(claimed_by=sibling, heartbeat=datetime.now()).where(
        File.id == rows[1].id).execute()
    me = claims.worker_name('node@h', 'newboot', 9)
    assert claims.take_over_stale(me, 10).files == {}   # both claims are fresh
    handed = claims.take_over_stale(me, 10, previous_runs=True)
    assert handed.files == {cart.id: [rows[0].id]}   # not the live sibling's


def test_a_cart_whose_bundler_died_goes_back_to_staging(models):
    old = datetime.now() - timedelta(seconds=60)
    stuck, _rows = _cart(status='bundling', claimed_by='dead@h/b/1', heartbeat=old)
    alive, _rows = _cart(status='bundling', claimed_by='live@h/b/2', heartbeat=datetime.now())
    handed = claims.take_over_stale('me@h/b/3', 10)
    assert handed.carts == [stuck.id]
    assert Cart.get_by_id(stuck.id).status == 'staging'
    assert Cart.get_by_id(stuck.id).claimed_by is None
    assert Cart.get_by_id(alive.id).status == 'bundling'


def test_a_failure_while_bundling_ends_in_error(models):
    cart, _rows = _cart(status='bundling')
    assert lifecycle.fail_cart(cart.id, 'Failed to bundle the cart: RecursionError')
    assert Cart.get_by_id(cart.id).status == 'error'
    done, _rows = _cart(status='ready')
    assert not lifecycle.fail_cart(done.id, 'late')   # a finished cart keeps its status


def test_claims_made_on_receipt(models):
    """A worker's main process claims a message's files on receipt; its own pool process
    takes them over, another worker only once they lapsed (for a message with a countdown:
    a timeout after it is due)."""
    cart, rows = _cart(files=2)
    received = claims.worker_name('node@h', 'boot', 'received')
    later = datetime.now() + timedelta(seconds=30)
    claims.claim_on_receipt([rows[0].id], received, 10)
    claims.claim_on_receipt([rows[1].id], received, 10, until=later)
    other = claims.Holdings(claims.worker_name('other@h', 'b2', 5), 10)
    assert other.claim([r.id for r in rows]) == set()
    claims.claim_on_receipt([rows[0].id], claims.worker_name('other@h', 'b2', 'received'), 10)
    assert File.get_by_id(rows[0].id).claimed_by == received   # not taken while fresh
    # Its own pool process takes the receipt claim over.
    mine = claims.Holdings(claims.worker_name('node@h', 'boot', 42), 10)
    assert mine.claim([rows[0].id]) == {rows[0].id}
    # The countdown's claim holds until it is due, then lapses like any other.
    stale = datetime.now() - timedelta(seconds=20)
    File.update(heartbeat=stale).where(File.id == rows[0].id).execute()
    assert claims.take_over_stale(other.name, 10).files == {cart.id: [rows[0].id]}
    assert claims.take_over_stale(other.name, 10).files == {}
    File.update(heartbeat=stale).where(File.id == rows[1].id).execute()
    assert claims.take_over_stale(other.name, 10).files == {cart.id: [rows[1].id]}


def test_orphaned_carts_are_those_without_progress_or_a_live_claim(models):
    old = datetime.now() - timedelta(seconds=60)
    lost, _rows = _cart(updated_date=old)
    held, rows = _cart(updated_date=old)
    File.update(claimed_by='w@h/b/1', heartbeat=datetime.now()).where(
        File.id == rows[0].id).execute()
    fresh, _rows = _cart()
    done, _rows = _cart(status='ready', updated_date=old)
    assert claims.orphaned_carts(10) == [lost.id]
    assert claims.take_orphan(lost.id, 10)
    assert not claims.take_orphan(lost.id, 10)   # handled: not again right away
    assert claims.orphaned_carts(10) == []
    assert {held.id, fresh.id, done.id}.isdisjoint(claims.orphaned_carts(10))
