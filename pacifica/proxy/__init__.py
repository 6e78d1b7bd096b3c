"""Pacifica Proxy: serves archived files by content hash (``/files/<hashtype>/<hashsum>``)."""
