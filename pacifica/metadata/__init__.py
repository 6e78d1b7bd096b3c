"""Pacifica Metadata: the 45-object metadata catalog behind one generic CRUD API."""
