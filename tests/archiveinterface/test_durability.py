"""Acknowledged means durable: a real archive interface whose fsync, rename, chmod and
unlink calls are recorded (fsync_probe.py) shows that every write is synced, renamed into
place and its directory synced before the answer, and that a cross-filesystem PATCH
syncs its copy before it removes the source."""
import io
import json
import os
import stat
import sys

import pytest
import requests

from support import Server, free_port, service_env

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fsync_probe.py')


@pytest.fixture(scope='module')
def probed(tmp_path_factory):
    """An archive interface under the probe; renames out of the staging root fail with
    EXDEV when the test says so (``probed.cross_fs(True)``)."""
    base = tmp_path_factory.mktemp('probed')
    root, staging, exdev = base / 'root', base / 'staging', base / 'exdev-staging'
    for path in (root, staging, exdev):
        path.mkdir()
    log = base / 'calls.log'
    env = service_env(base, 'archiveinterface', PROBE_LOG=log, PROBE_EXDEV=str(exdev))
    port = free_port()
    server = Server([sys.executable, PROBE, '-a', '127.0.0.1', '-p', str(port),
                     '--prefix', str(root), '--staging-root', str(base)],
                    env, port, str(base))
    server.root, server.staging, server.exdev, server.calls = root, staging, exdev, log
    yield server
    server.stop()


def calls(server):
    """The recorded calls so far, and forget them."""
    lines = server.calls.read_text().splitlines() if server.calls.exists() else []
    server.calls.write_text("")
    return [json.loads(line) for line in lines]


def index(events, **match):
    """Position of the first event with every ``match`` item (AssertionError if none)."""
    for number, event in enumerate(events):
        if all(event.get(key) == value for key, value in match.items()):
            return number
    raise AssertionError('no {} in {}'.format(match, events))


def test_put_syncs_file_then_renames_then_syncs_the_directory(probed):
    calls(probed)
    response = requests.put(probed.url + '/durable.bin', data=b'acknowledged bytes',
                            timeout=10)
    assert response.status_code == 201
    events = calls(probed)
    target = str(probed.root / 'durable.bin')
    renamed = index(events, op='rename', dst=target)
    temp = events[renamed]['src']
    assert index(events, op='fsync', path=temp) < renamed
    assert index(events, op='chmod', path=temp, mode=0o444) < renamed
    assert renamed < index(events, op='fsync', path=str(probed.root))


def patch_in(probed, source, name):
    """PATCH ``source`` in as ``name``; returns the calls the server made for it."""
    calls(probed)
    response = requests.patch('{}/{}'.format(probed.url, name), json={'path': str(source)},
                              timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {'message': 'File Moved Successfully'}
    return calls(probed)


def test_patch_on_one_filesystem_syncs_source_and_directory(probed):
    source = probed.staging / 'same-fs.dat'
    source.write_bytes(b'staged on the same filesystem')
    events = patch_in(probed, source, 'same-fs.dat')
    target = probed.root / 'same-fs.dat'
    renamed = index(events, op='rename', src=str(source), dst=str(target))
    assert index(events, op='fsync', path=str(source)) < renamed
    assert renamed < index(events, op='fsync', path=str(probed.root))
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert target.read_bytes() == b'staged on the same filesystem'


def test_cross_filesystem_patch_syncs_the_copy_before_removing_the_source(probed):
    source = probed.exdev / 'other-fs.dat'
    source.write_bytes(b'the only copy, until the archive has one' * 1000)
    os.utime(str(source), (1000000000, 1000000000))
    events = patch_in(probed, source, 'other-fs.dat')
    target = probed.root / 'other-fs.dat'
    index(events, op='rename-exdev', src=str(source))
    renamed = index(events, op='rename', dst=str(target))
    temp = events[renamed]['src']
    assert temp != str(source) and os.path.dirname(temp) == str(probed.root)
    assert index(events, op='fsync', path=temp) < renamed
    dir_synced = index(events, op='fsync', path=str(probed.root))
    assert renamed < dir_synced < index(events, op='unlink', path=str(source))
    assert not source.exists()
    assert target.read_bytes() == b'the only copy, until the archive has one' * 1000
    assert stat.S_IMODE(target.stat().st_mode) == 0o444      # as PUT leaves a file
    assert target.stat().st_mtime == 1000000000
    assert sorted(os.listdir(str(probed.root))) == sorted(
        name for name in os.listdir(str(probed.root)) if '+upload-' not in name)


def test_new_directories_are_synced_into_their_parents(tmp_path, monkeypatch):
    """id2filename mode creates directory levels: each new name is synced in its parent,
    so a file acknowledged in a new directory cannot vanish with the directory."""
    from pacifica.archiveinterface.backend import PosixBackend  # pylint: disable=import-outside-toplevel
    synced = []
    real_fsync = os.fsync

    def record(fd):
        real_fsync(fd)
        synced.append(os.readlink('/proc/self/fd/{}'.format(fd)))

    monkeypatch.setattr(os, 'fsync', record)
    backend = PosixBackend(str(tmp_path), use_id2filename=True)
    backend.store('123456789', io.BytesIO(b'deep'), 4, 0)
    for level in ('', '15', '15/cd'):
        assert str(tmp_path / level).rstrip('/') in synced, (level, synced)
    assert str(tmp_path / '15' / 'cd' / '5b') in synced   # the file's own directory
    assert (tmp_path / '15' / 'cd' / '5b' / '75bcd15').read_bytes() == b'deep'
