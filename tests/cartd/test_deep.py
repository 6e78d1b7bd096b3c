"""Deep trees, through real HTTP and a real worker: paths deeper than the documented cap are
refused at POST; trees deeper than any recursion, descriptor or PATH_MAX limit (a cart staged
before the cap, or bundled from such a tree) are still downloaded, bundled and removed; a
bundling that fails ends the cart in ``error``."""
import io
import os
import tarfile
import threading

import requests

from pacifica.cartd import validate
from pacifica.cartd.orm import DB, Cart
from pacifica.common.database import open_database
from cartd.planting import deep_tree
from support import assert_json_error, run_admin

DATA = b'deep data\n'
LEGACY_DEPTH = 1800


def _cart_dir(stack, uid):
    return next(path for path in stack.volume.iterdir()
                if path.name.isdigit() and ((path / uid).exists() or
                                            (path / (uid + '.tar')).exists()))


def _members(response):
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        return {member.name: tar.extractfile(member).read() if member.isfile() else None
                for member in tar}


def test_paths_deeper_than_the_cap_are_refused(stack):
    stack.put(7101, DATA)
    uid = stack.new_uid()
    too_deep = '/'.join(['d'] * validate.MAX_DEPTH + ['f'])
    response = stack.post(uid, [(7101, 'ok.txt', DATA), (7101, too_deep, DATA)])
    assert_json_error(response, 400, 'fileids[1].path is too deep', str(validate.MAX_DEPTH))
    assert stack.head(uid).status_code == 404   # nothing was created


def test_a_path_at_the_cap_is_staged_downloaded_and_removed(stack):
    stack.put(7102, DATA)
    uid = stack.new_uid()
    deepest = '/'.join(['d'] * (validate.MAX_DEPTH - 1) + ['f'])
    assert stack.post(uid, [(7102, deepest, DATA)]).status_code == 201
    assert stack.wait(uid).headers['X-Pacifica-Status'] == 'ready'
    got = requests.get('{}/{}?filename=cap.tar'.format(stack.url, uid))
    assert got.status_code == 200
    assert _members(got)['cap/' + deepest] == DATA
    cart_dir = _cart_dir(stack, uid)
    deleted = requests.delete('{}/{}'.format(stack.url, uid))
    assert deleted.status_code == 200, deleted.text
    assert not os.path.lexists(str(cart_dir))


def test_a_legacy_tree_deeper_than_any_limit_is_downloaded_and_deleted(stack):
    """A directory cart whose tree is 1800 levels deep (staged before the cap existed)."""
    uid, cart_dir = _ready_deep_cart(stack, 7103)
    got = requests.get('{}/{}?filename=old'.format(stack.url, uid))
    assert got.status_code == 200, got.text
    members = _members(got)
    assert members['old/top.txt'] == DATA
    assert members['old/' + 'd/' * LEGACY_DEPTH + 'leaf'] == DATA
    deleted = requests.delete('{}/{}'.format(stack.url, uid))
    assert deleted.status_code == 200, deleted.text
    assert not os.path.lexists(str(cart_dir))


def test_purge_removes_what_an_earlier_delete_left_behind(stack):
    """Before removal was iterative, deleting a deep cart marked it deleted and left its
    files; ``purge`` now removes such leftovers (and leaves alone what is no cart's)."""
    uid, cart_dir = _ready_deep_cart(stack, 7108)
    database = open_database(stack.db_url)
    DB.initialize(database)
    try:
        Cart.update(status='deleted', deleted_date=Cart.updated_date).where(
            Cart.cart_uid == uid).execute()
    finally:
        database.close_all()
    stranger = stack.volume / '999999'
    stranger.mkdir(mode=0o700)
    try:
        done = run_admin('pacifica.cartd', ['purge', '--time-ago', '0 seconds ago'],
                         stack.env, cwd=str(stack.base))
        assert done.returncode == 0, done.stderr
        assert 'removing the files left by deleted cart' in done.stdout
        assert not os.path.lexists(str(cart_dir))
        assert stranger.is_dir()
    finally:
        stranger.rmdir()


def test_a_deep_tree_is_bundled(stack, gate):
    """While the cart's last file is held at the gate, its tree grows 1800 levels deep; the
    worker bundles it (no recursion) and the tar holds the deepest file."""
    uid = _bundle_cart_with_a_held_file(stack, gate, 7104)
    deep_tree(_files_dir(stack, uid), LEGACY_DEPTH, DATA)
    gate.release.set()
    head = stack.wait(uid)
    assert head.headers['X-Pacifica-Status'] == 'ready', head.headers
    got = requests.get('{}/{}'.format(stack.url, uid))
    assert got.status_code == 200
    members = _members(got)
    assert members[uid + '/' + 'd/' * LEGACY_DEPTH + 'leaf'] == DATA
    assert members[uid + '/b.txt'] == DATA
    cart_dir = _cart_dir(stack, uid)
    deleted = requests.delete('{}/{}'.format(stack.url, uid))
    assert deleted.status_code == 200, deleted.text
    assert not os.path.lexists(str(cart_dir))


def test_a_bundling_that_fails_ends_in_error(stack, gate, tmp_path):
    """The files directory is swapped for a link while the last file downloads: the pull
    lands in the real directory (opened before), bundling refuses the link, the cart ends
    ``error`` and the link's target is untouched."""
    victim = tmp_path / 'victim'
    victim.mkdir()
    uid = _bundle_cart_with_a_held_file(stack, gate, 7106)
    files = _files_dir(stack, uid)
    files.rename(files.parent / 'moved-away')
    os.symlink(str(victim), str(files))
    gate.release.set()
    head = stack.wait(uid)
    assert (head.status_code, head.headers['X-Pacifica-Status']) == (500, 'error')
    assert 'symbolic link' in head.headers['X-Pacifica-Message']
    assert os.listdir(str(victim)) == []
    assert requests.get('{}/{}'.format(stack.url, uid)).status_code == 409
    cart_dir = files.parent
    deleted = requests.delete('{}/{}'.format(stack.url, uid))
    assert deleted.status_code == 200, deleted.text
    assert not os.path.lexists(str(cart_dir))


def _ready_deep_cart(stack, fileid):
    """A ready directory cart of ``top.txt`` whose tree then grows 1800 levels deep (as one
    staged before the cap existed); returns its uid and directory."""
    stack.put(fileid, DATA)
    uid = stack.new_uid()
    assert stack.post(uid, [(fileid, 'top.txt', DATA)]).status_code == 201
    assert stack.wait(uid).headers['X-Pacifica-Status'] == 'ready'
    cart_dir = _cart_dir(stack, uid)
    deep_tree(cart_dir / uid, LEGACY_DEPTH, DATA)
    return uid, cart_dir


def _bundle_cart_with_a_held_file(stack, gate, first_id):
    """POST a bundle cart of ``a.txt`` (archive id ``first_id``) and ``b.txt`` (the next
    id), whose ``b.txt`` download the gate holds; returns once ``a.txt`` is staged."""
    stack.put(first_id, DATA)
    stack.put(first_id + 1, DATA)
    uid = stack.new_uid()
    gate.hold.add(str(first_id + 1))
    assert stack.post(uid, [(first_id, 'a.txt', DATA), (first_id + 1, 'b.txt', DATA)],
                      bundle=True).status_code == 201
    assert gate.arrived.wait(30)
    _wait_for(lambda: _files_dir(stack, uid) is not None and
              (_files_dir(stack, uid) / 'a.txt').exists())
    return uid


def _files_dir(stack, uid):
    for path in stack.volume.iterdir():
        if path.name.isdigit() and (path / uid).is_dir():
            return path / uid
    return None


def _wait_for(condition, timeout=30):
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError('condition not met in {} s'.format(timeout))
