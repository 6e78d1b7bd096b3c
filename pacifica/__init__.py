"""Pacifica namespace package.

Declared with pkgutil so that other distributions (pacifica-ingest, pacifica-policy, ...)
can install their own ``pacifica.<name>`` packages beside ours.
"""
__path__ = __import__('pkgutil').extend_path(__path__, __name__)
