"""The tar generator: readable as a stream, exact size, closes what it opened."""
import io
import os
import tarfile
import threading
import time

import pytest

from pacifica.cartd import bundle
from pacifica.common import sendfile
from support import fds_into


@pytest.fixture
def cart_tree(tmp_path):
    """A small cart directory with nested, UTF-8 and long names (``<volume>/7/uid``)."""
    root = tmp_path / '7' / 'uid'
    files = {'a/b/x.bin': os.urandom(3000), 'top.txt': b'', 'é/ünï.txt': b'hello',
             'a/' + 'l' * 200: os.urandom(10000), 'big.bin': os.urandom(300000)}
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root, files


@pytest.fixture
def cart_fd(cart_tree):
    """A descriptor of the cart directory holding the tree."""
    fd = os.open(str(cart_tree[0].parent), os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


@pytest.mark.parametrize('chunk', [512, 4096, 1 << 20])
def test_stream_is_a_tar_of_the_directory(cart_tree, cart_fd, chunk):
    _root, files = cart_tree
    members = bundle.plan(cart_fd, 'uid', 'pre')
    data = b''.join(bundle.stream(members, cart_fd, chunk))
    assert len(data) == bundle.tar_size(members)
    assert len(data) % tarfile.RECORDSIZE == 0
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode='r|') as tar:
        for member in tar:
            found[member.name] = tar.extractfile(member).read() if member.isfile() else None
    assert {k: v for k, v in found.items() if v is not None} == {
        'pre/' + path: content for path, content in files.items()}
    assert {'pre', 'pre/a', 'pre/a/b', 'pre/é'} <= set(found)


def test_regions_stand_for_exactly_the_bytes_of_large_members(cart_tree, cart_fd):
    """With regions (a server that sends them with sendfile) the big member is one region
    and, read back, the stream is byte for byte the copied one."""
    _root, files = cart_tree
    members = bundle.plan(cart_fd, 'uid', 'pre')
    copied = b''.join(bundle.stream(members, cart_fd, 4096))
    regions, pieces = 0, []
    for chunk in bundle.stream(members, cart_fd, 4096, regions=True):
        if isinstance(chunk, sendfile.FileRegion):
            regions += 1
            assert chunk.count == len(files['big.bin']) >= bundle.REGION_MIN
            pieces.append(b''.join(chunk.read_blocks()))   # while its file is still open
        else:
            pieces.append(chunk)
    assert regions == 1
    assert b''.join(pieces) == copied


def test_a_file_that_shrank_fails_loudly(cart_tree, cart_fd):
    root, _files = cart_tree
    members = bundle.plan(cart_fd, 'uid', 'pre')
    (root / 'big.bin').write_bytes(b'short')
    with pytest.raises(bundle.BundleError, match='shrank'):
        b''.join(bundle.stream(members, cart_fd, 4096))


def test_closing_the_stream_closes_the_file(cart_tree, cart_fd):
    before = fds_into(cart_tree[0].parent)
    chunks = bundle.stream(bundle.plan(cart_fd, 'uid', 'pre'), cart_fd, 512)
    next(chunks)
    next(chunks)
    chunks.close()   # what the server does when a client disconnects
    assert fds_into(cart_tree[0].parent) == before == {cart_fd}


def test_write_bundle_renames_a_complete_tar(cart_tree, tmp_path):
    root, files = cart_tree
    path = bundle.write_bundle(str(tmp_path), 7, 'uid', 65536)
    assert path == str(tmp_path / '7' / 'uid.tar')
    assert root.exists()   # removed by the caller once the cart is ready
    with tarfile.open(path) as tar:
        assert tar.extractfile('uid/big.bin').read() == files['big.bin']
    assert [n for n in os.listdir(str(tmp_path / '7')) if '~' in n] == []


def test_exclusive_lock_waits_only_its_grace(tmp_path):
    """A remover waits up to its grace for a download that is letting go, then gives up."""
    (tmp_path / '7').mkdir()
    with bundle.cart_lock(str(tmp_path), 7):
        started = time.monotonic()
        with pytest.raises(bundle.CartBusy):
            with bundle.cart_lock(str(tmp_path), 7, exclusive=True, grace=0.3):
                pass
        assert 0.3 <= time.monotonic() - started < 2
        with pytest.raises(bundle.CartBusy):
            with bundle.cart_lock(str(tmp_path), 7, exclusive=True):
                pass

    held = threading.Event()
    done = threading.Event()

    def download():
        with bundle.cart_lock(str(tmp_path), 7):
            held.set()
            time.sleep(0.2)
        done.set()

    thread = threading.Thread(target=download)
    thread.start()
    assert held.wait(5)
    with bundle.cart_lock(str(tmp_path), 7, exclusive=True, grace=5):
        assert done.is_set()
    thread.join()
