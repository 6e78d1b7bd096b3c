"""Space on a small real filesystem (an 8 MiB tmpfs as the cart volume): a file larger than
the volume fails at once and purges nothing; the LRU purge takes only finished carts unused
for lru_buffer_time, only as many as the file needs, and nothing at all when even that would
not make room."""
import os
import subprocess
import time

import pytest
import requests

from cartd.conftest import Stack, _stack_params
from support import create_postgres_database, drop_postgres_database

VOLUME_BYTES = 8 * 1024 * 1024
BUFFER = 4          # lru_buffer_time of this stack, seconds
MB = 1000 * 1000


@pytest.fixture(scope='module', params=_stack_params())
def small(request, tmp_path_factory):
    """A cart stack whose volume is an 8 MiB tmpfs."""
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs as the cart volume needs root')
    family, broker = request.param
    base = tmp_path_factory.mktemp('small')
    (base / 'volume').mkdir(mode=0o700)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                              'size={},mode=0700'.format(VOLUME_BYTES), 'tmpfs',
                              str(base / 'volume')], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs here: {}'.format(mounted.stderr.strip()))
    db_url = ('sqliteext:///' + str(base / 'cart.sqlite3') if family == 'sqlite'
              else create_postgres_database('pacifica_cartd_space'))
    try:
        stack = Stack(base, db_url, broker, extra_env={'LRU_BUFFER_TIME': str(BUFFER)})
        try:
            yield stack
        finally:
            stack.close()
    finally:
        subprocess.run(['umount', str(base / 'volume')], check=True)
        if family != 'sqlite':
            drop_postgres_database(db_url)


def _ready(small, uid, fileid, data):
    assert small.post(uid, [(fileid, 'data.bin', data)]).status_code == 201
    head = small.wait(uid)
    assert head.headers['X-Pacifica-Status'] == 'ready', head.headers
    return uid


def _is_ready(small, uid):
    head = small.head(uid)
    return head.status_code == 204 and head.headers['X-Pacifica-Status'] == 'ready'


def _failure(small, uid, fileid, data):
    started = time.monotonic()
    assert small.post(uid, [(fileid, 'data.bin', data)]).status_code == 201
    head = small.wait(uid)
    assert (head.status_code, head.headers['X-Pacifica-Status']) == (500, 'error')
    return head.headers['X-Pacifica-Message'], time.monotonic() - started


def _cart_dirs(small):
    return sorted(path.name for path in small.volume.iterdir() if path.name.isdigit())


def test_space_is_made_only_from_idle_finished_carts_and_only_when_it_can_work(small):
    three_a, three_b, three_c = (bytes([n]) * (3 * MB) for n in (1, 2, 3))
    ten, six = os.urandom(10 * MB), os.urandom(6 * MB)
    for fileid, data in ((7201, three_a), (7202, three_b), (7203, three_c), (7204, ten),
                         (7205, six)):
        small.put(fileid, data)
    user_a = _ready(small, small.new_uid(), 7201, three_a)
    user_b = _ready(small, small.new_uid(), 7202, three_b)
    time.sleep(BUFFER + 1)   # both are idle now: candidates for the purge

    # Larger than the whole volume: fails at once, nothing is purged.
    dirs_before = _cart_dirs(small)
    message, took = _failure(small, small.new_uid(), 7204, ten)
    assert 'cannot fit in the cart volume even when it is empty' in message
    assert 'no cart was purged' in message
    assert took < 10
    assert _is_ready(small, user_a) and _is_ready(small, user_b)
    assert set(dirs_before) <= set(_cart_dirs(small))

    # Needs one cart's room: only the oldest idle cart goes.
    dirs_before = _cart_dirs(small)
    user_c = _ready(small, small.new_uid(), 7203, three_c)
    assert small.head(user_a).status_code == 404
    assert _is_ready(small, user_b)
    assert len(_cart_dirs(small)) == len(dirs_before)   # one cart's files went, one came
    got = requests.get('{}/{}'.format(small.url, user_b))
    assert got.status_code == 200 and three_b in got.content

    # 6 MB: user_c is new and user_b was just downloaded (both within lru_buffer_time), so
    # free space alone would have to do, and cannot: nothing is purged.
    message, _took = _failure(small, small.new_uid(), 7205, six)
    assert 'would not make room' in message and 'no cart was purged' in message
    assert _is_ready(small, user_b) and _is_ready(small, user_c)
