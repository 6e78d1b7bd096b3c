"""The volume module on a real filesystem: which roots are refused, and that removal and walks
never follow a link, whatever the depth or shape of the tree."""
import io
import os
import stat
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacifica.cartd import bundle, volume
from cartd.planting import assert_untouched, deep_tree, make_victim
from support import fds_into


@pytest.fixture
def victim(tmp_path):
    """A directory outside the volume that nothing may touch."""
    return make_victim(tmp_path / 'victim')


# -- the root ------------------------------------------------------------------------------------
def test_a_missing_root_is_created_private(tmp_path):
    root = volume.prepare_root(str(tmp_path / 'new' / 'volume'))
    assert root == str(tmp_path / 'new' / 'volume')
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700


def test_a_tilde_root_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    assert volume.prepare_root('~/.pacifica-cartd/volume') == str(
        tmp_path / '.pacifica-cartd' / 'volume')


@pytest.mark.parametrize('mode, words', [
    (0o1777, 'can be written by other users (mode 1777)'),   # /tmp-like: sticky is no help
    (0o777, 'can be written by other users'),
    (0o770, 'can be written by other users (mode 770)'),
    (0o702, 'can be written by other users'),
])
def test_a_root_others_can_write_is_refused(tmp_path, mode, words):
    root = tmp_path / 'shared'
    root.mkdir()
    root.chmod(mode)
    with pytest.raises(volume.UnsafeVolume) as caught:
        volume.prepare_root(str(root))
    assert words in str(caught.value)
    assert '\n' not in str(caught.value)


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give a directory to another user')
def test_a_root_of_another_user_is_refused(tmp_path):
    root = tmp_path / 'theirs'
    root.mkdir(mode=0o700)
    os.chown(str(root), 65534, 65534)
    with pytest.raises(volume.UnsafeVolume, match='belongs to uid 65534'):
        volume.prepare_root(str(root))


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give a directory to another user')
def test_a_root_under_a_directory_of_another_user_is_refused(tmp_path):
    parent = tmp_path / 'alice'
    (parent / 'volume').mkdir(parents=True, mode=0o700)
    os.chown(str(parent), 65534, 65534)
    with pytest.raises(volume.UnsafeVolume, match='belongs to uid 65534 .who could replace'):
        volume.prepare_root(str(parent / 'volume'))


def test_a_root_under_an_open_directory_is_refused(tmp_path):
    """Others could rename the volume away and put their own in its place."""
    parent = tmp_path / 'open'
    parent.mkdir()
    parent.chmod(0o777)
    (parent / 'volume').mkdir(mode=0o700)
    with pytest.raises(volume.UnsafeVolume, match='lies under .*open'):
        volume.prepare_root(str(parent / 'volume'))
    parent.chmod(0o1777)   # sticky: only the volume's owner may rename it
    assert volume.prepare_root(str(parent / 'volume'))


def test_a_root_that_is_a_file_is_refused(tmp_path):
    (tmp_path / 'file').write_bytes(b'')
    with pytest.raises(volume.UnsafeVolume):
        volume.prepare_root(str(tmp_path / 'file'))


# -- cart directories and names ---------------------------------------------------------------
def test_cart_directory_is_private_and_never_a_link(tmp_path, victim):
    root = volume.prepare_root(str(tmp_path / 'vol'))
    fd = volume.open_cart_dir(root, 1, create=True)
    os.close(fd)
    assert stat.S_IMODE(os.stat(os.path.join(root, '1')).st_mode) == 0o700
    os.symlink(str(victim), os.path.join(root, '2'))
    with pytest.raises(volume.Refused, match='symbolic link'):
        volume.open_cart_dir(root, 2, create=True)
    os.mkdir(os.path.join(root, '3'), 0o777)
    os.chmod(os.path.join(root, '3'), 0o777)
    with pytest.raises(volume.Refused, match='mode 777'):
        volume.open_cart_dir(root, 3)
    assert_untouched(victim)


def test_a_new_cart_directory_is_created_exclusively(tmp_path, victim):
    root = volume.prepare_root(str(tmp_path / 'vol'))
    volume.create_cart_dir(root, 5)
    assert stat.S_IMODE(os.stat(os.path.join(root, '5')).st_mode) == 0o700
    with pytest.raises(FileExistsError):
        volume.create_cart_dir(root, 5)   # a leftover of an earlier database
    os.symlink(str(victim), os.path.join(root, '6'))
    with pytest.raises(FileExistsError):
        volume.create_cart_dir(root, 6)   # a planted link
    assert_untouched(victim)


def test_open_path_stops_at_a_link(tmp_path, victim):
    top = tmp_path / 'cart'
    (top / 'a').mkdir(parents=True)
    os.symlink(str(victim), str(top / 'a' / 'b'))
    fd = os.open(str(top), os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(volume.Refused):
            volume.open_path(fd, ['a', 'b', 'c'], create=True)
        with pytest.raises(volume.Refused):
            volume.open_file(os.open(str(top / 'a'), os.O_RDONLY), 'b', os.O_RDONLY)
    finally:
        os.close(fd)
    assert_untouched(victim)


# -- removal and walks -------------------------------------------------------------------------
def test_a_tree_deeper_than_any_limit_is_walked_tarred_and_removed(tmp_path):
    depth = 3000   # well past the recursion limit, PATH_MAX and the usual 1024 descriptors
    deep_tree(tmp_path / 'deep', depth)
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    before = fds_into(tmp_path)
    try:
        members = bundle.plan(fd, 'deep', 'x')
        assert len(members) == depth + 2
        data = b''.join(bundle.stream(members, fd, 4096))
        assert len(data) == bundle.tar_size(members)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert tar.extractfile('x/' + 'd/' * depth + 'leaf').read() == b'at the bottom'
        assert volume.usage(fd, 'deep') > 0
        assert volume.remove_tree(fd, 'deep') is True
        assert volume.remove_tree(fd, 'deep') is False   # gone: fine
        assert fds_into(tmp_path) == before == {fd}
    finally:
        os.close(fd)
    assert os.listdir(str(tmp_path)) == []


def test_removal_removes_links_and_never_their_targets(tmp_path, victim):
    cart = tmp_path / 'cart'
    (cart / 'uid' / 'sub').mkdir(parents=True)
    (cart / 'uid' / 'sub' / 'f').write_bytes(b'x')
    os.symlink(str(victim), str(cart / 'uid' / 'to-dir'))
    os.symlink(str(victim / 'precious'), str(cart / 'uid' / 'sub' / 'to-file'))
    os.symlink(str(victim), str(cart / 'lock~'))
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        volume.remove_tree(fd, 'cart')
        os.symlink(str(victim), str(tmp_path / 'linked-cart'))
        volume.remove_tree(fd, 'linked-cart')   # the cart directory itself is a link
    finally:
        os.close(fd)
    assert sorted(os.listdir(str(tmp_path))) == ['victim']
    assert_untouched(victim)


def test_a_plan_leaves_out_links_and_special_files(tmp_path, victim):
    top = tmp_path / 'uid'
    top.mkdir()
    (top / 'real').write_bytes(b'data')
    os.symlink(str(victim / 'precious'), str(top / 'link'))
    os.mkfifo(str(top / 'fifo'))
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        names = [member.name for member, _parts in bundle.plan(fd, 'uid', 'p')]
    finally:
        os.close(fd)
    assert names == ['p', 'p/real']


# A tree: each node is a file, a link to the victim, or a directory of named nodes.
_NAMES = st.text(alphabet='abc.-_~é', min_size=1, max_size=6).filter(
    lambda name: name not in ('.', '..'))
_TREES = st.recursive(
    st.sampled_from(['file', 'link-dir', 'link-file']),
    lambda children: st.dictionaries(_NAMES, children, max_size=4),
    max_leaves=25)


def _build(path, node, victim):
    if node == 'file':
        path.write_bytes(b'x')
    elif node == 'link-dir':
        os.symlink(str(victim), str(path))
    elif node == 'link-file':
        os.symlink(str(victim / 'precious'), str(path))
    else:
        path.mkdir()
        for name, child in node.items():
            _build(path / name, child, victim)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(_NAMES, _TREES, max_size=5))
def test_any_tree_is_removed_whole_and_the_victim_is_untouched(tmp_path, victim, tree):
    work = tmp_path / 'work'
    _build(work, tree, victim)
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        walked = list(volume.walk_tree(fd, 'work'))
        assert len(walked) == 1 + sum(1 for _ in work.rglob('*'))
        volume.remove_tree(fd, 'work')
    finally:
        os.close(fd)
    assert not os.path.lexists(str(work))
    assert_untouched(victim)


def test_two_removers_of_one_tree_both_succeed(tmp_path):
    """A worker clearing a bundled cart's files while the cart is deleted."""
    import threading  # pylint: disable=import-outside-toplevel
    deep_tree(tmp_path / 'deep', 400)
    for number in range(50):
        (tmp_path / 'deep' / 'f{}'.format(number)).write_bytes(b'x')
    errors = []

    def remove():
        fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            volume.remove_tree(fd, 'deep')
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)
        finally:
            os.close(fd)

    threads = [threading.Thread(target=remove) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert os.listdir(str(tmp_path)) == []
