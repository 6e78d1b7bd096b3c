"""Pacifica archive interface: a POSIX key-to-blob store speaking the archive protocol that
cartd, the proxy and pacifica-ingest use."""
