"""Staged files written around the page cache (pacifica.cartd.directio): the bytes on disk
are exactly those written, whatever the sizes of the pieces and of the file, with O_DIRECT
or without it (refused when set, or refused on the first write)."""
import errno
import fcntl
import os

import pytest
from hypothesis import given, settings, strategies as st

from pacifica.cartd import directio

SIZES = [0, 1, 4095, 4096, 4097, 65536, directio.BUFFER - 1, directio.BUFFER,
         directio.BUFFER + 1, 3 * directio.BUFFER + 12345]


def _data(size):
    return bytes((index * 7 + index // 251) % 256 for index in range(size))


def _write(path, data, pieces, buffer, reserve=False, hint=False):
    """Write ``data`` through a DirectWriter in pieces of the given sizes (cycled), telling
    it the file's size if ``hint``; returns whether it wrote direct at first."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if reserve and data:
            os.posix_fallocate(fd, 0, len(data))
        writer = directio.DirectWriter(fd, buffer, len(data) if hint else None)
        direct = writer.direct
        done, turn = 0, 0
        while done < len(data):
            size = pieces[turn % len(pieces)]
            assert writer.write(memoryview(data)[done:done + size]) == len(data[done:done + size])
            done += size
            turn += 1
        writer.flush()
        writer.flush()   # a second flush (the stager's after the client's) changes nothing
    finally:
        os.close(fd)
    return direct


@pytest.fixture(scope='module')
def buffer():
    """One buffer for all the writes, as a stager keeps one."""
    return directio.aligned_buffer()


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('pieces', [[1 << 22], [65536], [1000, 70000, 3]])
@pytest.mark.parametrize('hint', [False, True])
def test_bytes_on_disk_are_the_bytes_written(tmp_path, buffer, size, pieces, hint):
    data = _data(size)
    _write(tmp_path / 'f', data, pieces, buffer, reserve=True, hint=hint)
    assert (tmp_path / 'f').read_bytes() == data


def _watch_writes(monkeypatch):
    """Record, for each os.write the writer makes, whether O_DIRECT was set on the file."""
    real = os.write
    seen = []

    def write(fd, data):
        seen.append(bool(fcntl.fcntl(fd, fcntl.F_GETFL) & directio.DIRECT))
        return real(fd, data)
    monkeypatch.setattr(directio.os, 'write', write)
    return seen


@pytest.mark.parametrize('size', [1, 4096, 65536, directio.SMALL - 1])
def test_a_file_below_the_threshold_is_written_plainly(tmp_path, buffer, monkeypatch, size):
    """A small file told by its size never has O_DIRECT set: a direct write of it would be
    one synchronous block write in the downloading thread."""
    seen = _watch_writes(monkeypatch)
    assert not _write(tmp_path / 'f', _data(size), [1000, 70000], buffer, hint=True)
    assert seen and not any(seen)
    assert (tmp_path / 'f').read_bytes() == _data(size)


@pytest.mark.parametrize('size', [directio.SMALL, directio.SMALL + 4097])
def test_a_file_at_the_threshold_goes_direct_where_it_can(tmp_path, buffer, monkeypatch, size):
    """From :data:`SMALL` bytes on, the whole buffers go direct (where the file system takes
    the flag at all: the writer says whether it does)."""
    probe = os.open(str(tmp_path / 'probe'), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        can = directio.DirectWriter(probe, buffer).direct
    finally:
        os.close(probe)
    seen = _watch_writes(monkeypatch)
    assert _write(tmp_path / 'f', _data(size), [65536], buffer, hint=True) == can
    assert seen[0] == can
    assert (tmp_path / 'f').read_bytes() == _data(size)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 2 * directio.BUFFER + 9000),
       pieces=st.lists(st.integers(1, directio.BUFFER + 5000), min_size=1, max_size=5))
def test_any_sizes_and_pieces(tmp_path_factory, buffer, size, pieces):
    path = tmp_path_factory.mktemp('d') / 'f'
    data = _data(size)
    _write(path, data, pieces, buffer)
    assert path.read_bytes() == data


def test_direct_where_the_file_system_allows(tmp_path, buffer):
    """On a file system that takes O_DIRECT (ext4, xfs, btrfs, tmpfs since Linux 6.6) the
    whole blocks go direct, the tail plainly; the flag is cleared by the end."""
    fd = os.open(str(tmp_path / 'f'), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        writer = directio.DirectWriter(fd, buffer)
        # Where the file system refuses the flag, the writer says so and never sets it.
        assert bool(fcntl.fcntl(fd, fcntl.F_GETFL) & directio.DIRECT) == writer.direct
        writer.write(_data(directio.BUFFER + 10))
        writer.flush()
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & directio.DIRECT
    finally:
        os.close(fd)
    assert (tmp_path / 'f').read_bytes() == _data(directio.BUFFER + 10)


def test_flag_refused_writes_plainly(tmp_path, buffer, monkeypatch):
    real = fcntl.fcntl

    def refuse(fd, command, *args):
        if command == fcntl.F_SETFL and args and args[0] & directio.DIRECT:
            raise OSError(errno.EINVAL, 'no O_DIRECT here')
        return real(fd, command, *args)
    monkeypatch.setattr(directio.fcntl, 'fcntl', refuse)
    data = _data(2 * directio.BUFFER + 77)
    assert not _write(tmp_path / 'f', data, [300000], buffer)
    assert (tmp_path / 'f').read_bytes() == data


def test_write_refused_after_the_flag_goes_on_plainly(tmp_path, buffer, monkeypatch):
    """A file system that takes the flag but refuses direct writes (EINVAL): the same
    bytes, written plainly from the refused write on."""
    real = os.write
    refused = []

    def write(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & directio.DIRECT:
            refused.append(len(data))
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real(fd, data)
    monkeypatch.setattr(directio.os, 'write', write)
    data = _data(2 * directio.BUFFER + 77)
    _write(tmp_path / 'f', data, [300000], buffer)
    assert (tmp_path / 'f').read_bytes() == data
    assert refused in ([], [directio.BUFFER])   # [] where O_DIRECT could not be set at all


def test_other_write_errors_propagate(tmp_path, buffer, monkeypatch):
    def full(_fd, _data):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(directio.os, 'write', full)
    with pytest.raises(OSError) as caught:
        _write(tmp_path / 'f', _data(directio.BUFFER), [directio.BUFFER], buffer)
    assert caught.value.errno == errno.ENOSPC
