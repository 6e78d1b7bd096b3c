"""Filesystem helpers more than one service needs."""
import os


def fsync_path(path):
    """fsync a file or a directory by name (a directory: the names it holds are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
