"""Pacifica UniqueID: hands out ranges of integers that are unique within a named mode."""
