"""What the volume tests plant and check: a victim directory outside the volume that nothing
may touch, and trees deeper than any recursion, descriptor or PATH_MAX limit."""
import os

PRECIOUS = b'keep me'


def make_victim(path):
    """A directory with one file; returns it."""
    path.mkdir()
    (path / 'precious').write_bytes(PRECIOUS)
    return path


def assert_untouched(victim):
    """The victim holds exactly what :func:`make_victim` put there."""
    assert sorted(os.listdir(str(victim))) == ['precious']
    assert (victim / 'precious').read_bytes() == PRECIOUS


def deep_tree(top, depth, data=b'at the bottom'):
    """``top/d/d/.../d/leaf`` (``top`` is made if missing), ``depth`` directories deep,
    made relative to descriptors: the full path is longer than PATH_MAX."""
    os.makedirs(str(top), exist_ok=True)
    fd = os.open(str(top), os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir('d', dir_fd=fd)
        deeper = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    leaf = os.open('leaf', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, data)
    os.close(leaf)
    os.close(fd)
