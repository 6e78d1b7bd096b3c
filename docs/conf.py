"""Sphinx configuration of the Pacifica Core manual (``make docs``)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '_ext'))
sys.path.insert(0, os.path.dirname(HERE))

project = 'Pacifica Core'
author = 'the Pacifica Core authors'
copyright = '2026, ' + author  # pylint: disable=redefined-builtin
release = '0.1.0'

extensions = ['sphinx.ext.autodoc', 'sphinx.ext.viewcode', 'pacifica_docs']
# The example pages are included into the service pages (and run by tests/test_docs.py);
# the deploy/ files are shown with literalinclude.
exclude_patterns = ['_build', 'examples', 'deploy']
autodoc_member_order = 'bysource'
# Only our own docstrings: members that override a library's (Celery's Task attributes,
# peewee's Model) would otherwise show that library's text, with roles only its docs know.
autodoc_inherit_docstrings = False
autodoc_default_options = {'members': True, 'show-inheritance': True}
nitpicky = False
html_theme = 'alabaster'
html_theme_options = {'description': 'Pacifica services, wire-compatible', 'fixed_sidebar': True}
