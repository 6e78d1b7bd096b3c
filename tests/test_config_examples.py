"""Every service's example INI in config/ documents exactly the keys the service declares,
with their environment variables, and loads; its server file is a CherryPy config.
A key added to a service without documenting it fails here."""
import configparser
import importlib
import os

import pytest

from pacifica.common import config as cfg
from support import ROOT

SERVICES = ['uniqueid', 'metadata', 'archiveinterface', 'cartd', 'proxy']


@pytest.mark.parametrize('service', SERVICES)
def test_example_ini_documents_every_key(service):
    keys = importlib.import_module('pacifica.{}.config'.format(service)).KEYS
    path = os.path.join(ROOT, 'config', service + '.ini')
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    assert {(s, n) for s in parser.sections() for n in parser[s]} == {
        (k.section, k.name) for k in keys}
    text = open(path, encoding='utf-8').read()
    for key in keys:
        if key.env:
            assert key.env in text, key.env
    loaded = cfg.load(keys, path, environ={})
    for key in keys:
        loaded.get(key.section, key.name)
    assert cfg.is_cherrypy_config(os.path.join(ROOT, 'config', service + '-server.conf'))
