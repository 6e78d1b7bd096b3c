"""Links planted where an attacker (or a stray process) would put them in the cart volume:
through real HTTP, a real worker and a real archive, every cart ends ``ready`` or ``error``,
no request answers 500, and the victim directory outside the volume is never touched."""
import os

import pytest
import requests

from pacifica.common.database import open_database
from cartd.planting import assert_untouched, make_victim
from support import start_service


@pytest.fixture
def victim(tmp_path):
    """A directory outside the volume that nothing may touch."""
    return make_victim(tmp_path / 'victim')


def _next_cart_id(stack):
    database = open_database(stack.db_url)
    try:
        (last,) = database.execute_sql('SELECT max(id) FROM cart').fetchone()
    finally:
        database.close()
    return (last or 0) + 1


def _private_dir(path):
    path.mkdir(mode=0o700)
    return path


DATA = b'archive bytes\n'


@pytest.fixture
def archived(stack):
    """One archive file, id 7001."""
    stack.put(7001, DATA)
    return (7001, 'f.txt', DATA)


def _status(response):
    return response.status_code, response.headers.get('X-Pacifica-Status'), \
        response.headers.get('X-Pacifica-Message')


def test_a_link_planted_as_the_next_cart_directory(stack, gate, victim, archived):
    uid = stack.new_uid()
    next_id = _next_cart_id(stack)
    for cart_id in range(next_id, next_id + 3):   # the next ids, as an attacker would
        os.symlink(str(victim), str(stack.volume / str(cart_id)))
    try:
        assert stack.post(uid, [archived]).status_code == 201
        code, status, message = _status(stack.head(uid))   # failed at once, nothing queued
        assert (code, status) == (500, 'error')
        assert 'already holds an entry named {}'.format(next_id) in message
        assert_untouched(victim)
        assert requests.get('{}/{}'.format(stack.url, uid)).status_code == 409
        deleted = requests.delete('{}/{}'.format(stack.url, uid))
        assert deleted.status_code == 200, deleted.text
        assert not os.path.lexists(str(stack.volume / str(next_id)))   # the link went
        assert_untouched(victim)
    finally:
        for cart_id in range(next_id, next_id + 3):
            if os.path.islink(str(stack.volume / str(cart_id))):
                os.unlink(str(stack.volume / str(cart_id)))


def _post_and_plant(stack, gate, item, plant):
    """POST a one-file cart whose file the archive reports on tape for a few status checks,
    and call ``plant(cart directory, uid)`` while the worker waits for it (the cart's
    directory is made at POST); returns the uid."""
    uid = stack.new_uid()
    next_id = _next_cart_id(stack)
    gate.tape[str(item[0])] = 3
    assert stack.post(uid, [item]).status_code == 201
    cart_dir = stack.volume / str(next_id)
    assert cart_dir.is_dir() and not cart_dir.is_symlink()
    plant(cart_dir, uid)
    return uid


def test_a_link_planted_as_the_sizes_file_is_neither_written_nor_followed(stack, gate, victim,
                                                                         archived):
    # sizes~ is only read (for carts staged before schema 2.2), never through a link.
    uid = _post_and_plant(stack, gate, archived, lambda cart_dir, _uid: os.symlink(
        str(victim / 'precious'), str(cart_dir / 'sizes~')))
    head = stack.wait(uid)
    assert _status(head)[:2] == (204, 'ready')
    assert head.headers['X-Pacifica-Progress'] == '1/1 files, {0}/{0} bytes'.format(len(DATA))
    assert_untouched(victim)
    assert requests.delete('{}/{}'.format(stack.url, uid)).status_code == 200
    assert_untouched(victim)


@pytest.mark.parametrize('name', ['partial~'])
def test_a_link_planted_inside_the_cart_directory(stack, gate, victim, archived, name):
    uid = _post_and_plant(stack, gate, archived,
                          lambda cart_dir, _uid: os.symlink(str(victim), str(cart_dir / name)))
    code, status, message = _status(stack.wait(uid))
    assert (code, status) == (500, 'error')
    assert name in message and 'symbolic link' in message
    assert_untouched(victim)
    cart_dir = next(path for path in stack.volume.iterdir() if (path / name).is_symlink())
    deleted = requests.delete('{}/{}'.format(stack.url, uid))
    assert deleted.status_code == 200, deleted.text
    assert not os.path.lexists(str(cart_dir))
    assert_untouched(victim)


def test_a_link_planted_as_a_staged_file_parent(stack, gate, victim, archived):
    def plant(cart_dir, uid):
        _private_dir(cart_dir / uid)
        os.symlink(str(victim), str(cart_dir / uid / 'sub'))

    uid = _post_and_plant(stack, gate, (7001, 'sub/f.txt', DATA), plant)
    code, status, message = _status(stack.wait(uid))
    assert (code, status) == (500, 'error')
    assert "'sub'" in message and 'symbolic link' in message
    assert_untouched(victim)
    deleted = requests.delete('{}/{}'.format(stack.url, uid))
    assert deleted.status_code == 200, deleted.text
    assert_untouched(victim)


def test_a_link_planted_as_the_staged_file_is_replaced_not_followed(stack, gate, victim,
                                                                   archived):
    planted = []

    def plant(cart_dir, uid):
        _private_dir(cart_dir / uid)
        os.symlink(str(victim / 'precious'), str(cart_dir / uid / 'f.txt'))
        planted.append(cart_dir / uid / 'f.txt')

    uid = _post_and_plant(stack, gate, archived, plant)
    assert _status(stack.wait(uid))[:2] == (204, 'ready')
    assert planted[0].read_bytes() == DATA
    assert not os.path.islink(str(planted[0]))
    assert_untouched(victim)


def test_a_link_planted_in_a_ready_cart(stack, gate, victim, archived):
    """A link to the victim appears in a ready cart, and its lock file becomes a link: the
    download and the delete answer (never 500) and neither follows them."""
    uid = stack.new_uid()
    assert stack.post(uid, [archived]).status_code == 201
    assert _status(stack.wait(uid))[:2] == (204, 'ready')
    cart_dir = next(path for path in stack.volume.iterdir()
                    if path.is_dir() and (path / uid).is_dir())
    os.symlink(str(victim), str(cart_dir / uid / 'escape'))
    got = requests.get('{}/{}?filename=x.tar'.format(stack.url, uid))
    assert got.status_code == 200
    assert b'precious' not in got.content and b'keep me' not in got.content
    os.unlink(str(cart_dir / 'lock~'))
    os.symlink(str(victim / 'precious'), str(cart_dir / 'lock~'))
    got = requests.get('{}/{}'.format(stack.url, uid))
    assert got.status_code == 404, got.text
    deleted = requests.delete('{}/{}'.format(stack.url, uid))
    assert deleted.status_code == 200, deleted.text
    assert not os.path.lexists(str(cart_dir))
    assert_untouched(victim)


def test_a_link_planted_as_the_uid_links_directory(stack, gate, victim, archived):
    links = stack.volume / 'cartuids'
    moved = stack.volume / 'cartuids.moved'
    if links.exists():
        links.rename(moved)
    os.symlink(str(victim), str(links))
    try:
        uid = stack.new_uid()
        assert stack.post(uid, [archived]).status_code == 201
        code, status, message = _status(stack.wait(uid))
        assert (code, status) == (500, 'error')
        assert 'cartuids' in message
        assert_untouched(victim)
    finally:
        os.unlink(str(links))
        if moved.exists():
            moved.rename(links)


@pytest.mark.parametrize('mode', [0o1777, 0o777, 0o775])
def test_server_and_worker_refuse_a_volume_others_can_write(stack, tmp_path, mode):
    from cartd.conftest import Worker  # pylint: disable=import-outside-toplevel
    shared = tmp_path / 'shared-volume'
    shared.mkdir()
    shared.chmod(mode)
    env = dict(stack.env, VOLUME_PATH=str(shared))
    with pytest.raises(RuntimeError) as caught:
        start_service('pacifica.cartd', tmp_path, env).stop()
    assert 'can be written by other users' in str(caught.value)
    assert 'Traceback' not in str(caught.value)
    worker = Worker(env, str(tmp_path))
    with pytest.raises(RuntimeError) as caught:
        worker.start(timeout=30)
    worker.stop()
    assert 'can be written by other users' in str(caught.value)
    assert os.listdir(str(shared)) == []
