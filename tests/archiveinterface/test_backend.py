"""The POSIX backend without HTTP: the id-to-path layout and the date parser."""
import pytest

from pacifica.archiveinterface.backend import PosixBackend, id2filename, parse_time
from pacifica.common.errors import BadRequest


@pytest.mark.parametrize('number, path', [
    (0, 'file.0'), (1, 'file.1'), (-1, 'file.-1'), (1234, 'd2/4d2'), (12345, '39/3039'),
    (32767, 'ff/7fff'), (32768, '00/8000'), (123456789, '15/cd/5b/75bcd15'),
])
def test_id2filename_layout(number, path):
    assert id2filename(number) == path


def test_id2filename_is_reversible():
    for number in (0, 5, 255, 256, 4096, 123456789, 2 ** 62):
        name = id2filename(number).rsplit('/', 1)[-1]
        assert int(name[len('file.'):] if name.startswith('file.') else name, 16) == number


@pytest.mark.parametrize('text', [
    'Sun Nov  6 08:49:37 1994', 'Sun, 06 Nov 1994 08:49:37 GMT',
    'Sunday, 06-Nov-94 08:49:37 GMT', '784111777', '784111777.0',
])
def test_parse_time_forms(text):
    assert parse_time(text) == 784111777.0


def test_parse_time_honours_zone_and_rejects_garbage():
    assert parse_time('Sun, 06 Nov 1994 09:49:37 +0100') == 784111777.0
    with pytest.raises(ValueError):
        parse_time('yesterday')


@pytest.mark.parametrize('fileid', ['..', '.', '../x', 'a/b', '/x', '//x', 'a\x00b', '',
                                    'x' * 256, 'a+upload-1', 'ü'])
def test_unsafe_ids_are_refused(tmp_path, fileid):
    with pytest.raises(BadRequest):
        PosixBackend(str(tmp_path)).path(fileid)


def test_id2filename_mode_needs_integers(tmp_path):
    backend = PosixBackend(str(tmp_path), use_id2filename=True)
    assert backend.path('1234') == str(tmp_path / 'd2' / '4d2')
    with pytest.raises(BadRequest):
        backend.path('foo.txt')


def test_delete_command(tmp_path):
    from support import run_admin, service_env  # pylint: disable=import-outside-toplevel
    (tmp_path / 'a.txt').write_text('a')
    (tmp_path / 'b.txt').write_text('b')
    env = service_env(tmp_path, 'archiveinterface')
    done = run_admin('pacifica.archiveinterface', ['--prefix', str(tmp_path), 'delete',
                                                   'a.txt', 'b.txt'], env)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / 'a.txt').exists() and not (tmp_path / 'b.txt').exists()
    done = run_admin('pacifica.archiveinterface', ['--prefix', str(tmp_path), 'delete',
                                                   'a.txt', '../x'], env)
    assert done.returncode == 1
    assert 'was not found' in done.stderr and 'not allowed' in done.stderr
    assert 'Traceback' not in done.stderr
    assert run_admin('pacifica.archiveinterface', [], env).returncode == 2


def test_full_disk_on_put_leaves_nothing(tmp_path, monkeypatch):
    """ENOSPC cannot be produced on demand here; fsync is where delayed allocation reports
    it, so that is where it is injected."""
    import errno  # pylint: disable=import-outside-toplevel
    import io  # pylint: disable=import-outside-toplevel
    import os  # pylint: disable=import-outside-toplevel
    from pacifica.archiveinterface.backend import StorageFull  # pylint: disable=import-outside-toplevel

    def full(_fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    backend = PosixBackend(str(tmp_path))
    (tmp_path / 'kept.bin').write_bytes(b'old')
    monkeypatch.setattr(os, 'fsync', full)
    with pytest.raises(StorageFull) as caught:
        backend.store('kept.bin', io.BytesIO(b'new data'), 8, 0)
    assert caught.value.status == 507
    assert 'full' in str(caught.value)
    assert os.listdir(str(tmp_path)) == ['kept.bin']
    assert (tmp_path / 'kept.bin').read_bytes() == b'old'


def test_backend_imports_no_cherrypy():
    """The backend is usable without the web framework (the admin command, other servers)."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    code = ('import sys, pacifica.archiveinterface.backend; '
            'sys.exit("cherrypy" in sys.modules)')
    assert subprocess.run([sys.executable, '-c', code], check=False).returncode == 0
