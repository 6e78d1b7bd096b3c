"""Pacifica cartd: carts of archive files, staged by Celery workers and downloaded as tar."""
