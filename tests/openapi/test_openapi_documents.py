"""``/api/openapi.json`` on all five services: a valid OpenAPI 3.1 document that describes
exactly the routes the service answers (found by walking the mounted CherryPy tree and the
operational dispatcher, not from a list)."""
import importlib
import re

import pytest
import requests
from openapi_spec_validator import validate

from pacifica.common import cli, openapi, operations, rest

SERVICES = ('archiveinterface', 'cartd', 'metadata', 'proxy', 'uniqueid')


def context_for(name, tmp_path):
    """A loaded (not started) context of a service, its state under ``tmp_path``."""
    service = importlib.import_module('pacifica.{}.service'.format(name)).SERVICE
    environ = {'PAI_PREFIX': str(tmp_path / 'archive'),
               'CARTD_VOLUME_PATH': str(tmp_path / 'carts'),
               'BROKER_URL': 'filesystem://',
               '{}_PEEWEE_URL'.format(name.upper()): 'sqlite:///{}'.format(
                   tmp_path / 'db.sqlite3')}
    context = cli.make_context(service, str(tmp_path / 'absent.ini'), environ=environ)
    if name == 'archiveinterface':
        from pacifica.archiveinterface.service import backend  # pylint: disable=import-outside-toplevel
        context.extra['backend'] = backend(context)
    return service, context


def answered_routes(name, tmp_path):
    """``{(resource path, method)}`` the mounted service answers: its resource tree (HEAD
    wherever GET is, as CherryPy's MethodDispatcher does) and the operational paths."""
    service, context = context_for(name, tmp_path)
    root = service.make_root(context)
    app = operations.mount(rest.build_app(root), context)
    found = set()
    for path, methods in openapi.tree_routes(root).items():
        if 'GET' in methods:
            methods = methods | {'HEAD'}
        found.update((path, method) for method in methods)
    for path in app.config['/']['request.dispatch'].routes:
        found.update({(path, 'GET'), (path, 'HEAD')})
    return found, context


def described_routes(document):
    """``{(resource path, method)}`` a document describes: path parameters at the end of a
    path are the virtual segments of the resource before them."""
    found = set()
    for path, item in document['paths'].items():
        resource = re.sub(r'(/\{[^/]+\})+$', '', path) or '/'
        found.update((resource, method.upper()) for method in item
                     if method.upper() in openapi.METHODS)
    return found


@pytest.mark.parametrize('name', SERVICES)
def test_the_document_describes_every_route_and_no_other(name, tmp_path):
    answered, context = answered_routes(name, tmp_path)
    document = importlib.import_module('pacifica.{}.openapi'.format(name)).describe(context)
    described = described_routes(document)
    assert answered - described == set(), 'answered but not described'
    assert described - answered == set(), 'described but not answered'
    if name == 'metadata':
        from pacifica.metadata.objects import OBJECTS  # pylint: disable=import-outside-toplevel
        schemas = document['components']['schemas']
        assert {obj.class_name for obj in OBJECTS} <= set(schemas)
        assert len(OBJECTS) == 45


def test_a_route_missing_from_a_document_is_found(tmp_path):
    """The comparison itself can fail: drop one path or add one and it tells."""
    answered, context = answered_routes('uniqueid', tmp_path)
    document = importlib.import_module('pacifica.uniqueid.openapi').describe(context)
    del document['paths']['/getid']
    assert answered - described_routes(document) == {('/getid', 'GET'), ('/getid', 'HEAD')}
    document['paths']['/nowhere'] = {'get': {}}
    assert ('/nowhere', 'GET') in described_routes(document) - answered


@pytest.mark.parametrize('name', SERVICES)
def test_every_service_serves_a_valid_openapi_31_document(suite, name):
    url = suite[name] + openapi.OPENAPI_PATH
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers['Content-Type'] == 'application/json'
    document = resp.json()
    assert document['openapi'] == '3.1.0'
    validate(document)
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.content == b''
    assert head.headers['Content-Type'] == 'application/json'
    refused = requests.post(url, timeout=30)
    assert refused.status_code == 405 and refused.json()['status'].startswith('405')


def test_the_documents_carry_the_limits_the_services_enforce(suite):
    """uniqueid's range limit and cartd's POST rules come from the code that checks them."""
    from pacifica.cartd import validate as cart_rules  # pylint: disable=import-outside-toplevel
    from pacifica.uniqueid.config import DEFAULT_MAX_RANGE  # pylint: disable=import-outside-toplevel
    uid = requests.get(suite['uniqueid'] + openapi.OPENAPI_PATH, timeout=30).json()
    params = {p['name']: p for p in uid['paths']['/getid']['get']['parameters']}
    assert params['range']['schema']['maximum'] == DEFAULT_MAX_RANGE
    over = requests.get(suite['uniqueid'] + '/getid', params={
        'range': DEFAULT_MAX_RANGE + 1, 'mode': 'x'}, timeout=30)
    assert over.status_code == 400
    cart = requests.get(suite['cartd'] + openapi.OPENAPI_PATH, timeout=30).json()
    body = cart['components']['schemas']['CartRequest']
    assert body['properties']['fileids']['maxItems'] == cart_rules.MAX_FILES
    uid_param = cart['paths']['/{uid}']['post']['parameters'][0]
    assert uid_param['schema']['pattern'] == '^(?:{})$'.format(cart_rules.UID_RE.pattern[:-2])
