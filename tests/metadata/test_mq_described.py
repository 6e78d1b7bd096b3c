"""The query endpoints answer what their declarations say, on the realistic catalog of
:mod:`mq_dataset`: every 200 answer matches the schema the service's own
``/api/openapi.json`` gives it, every error is a documented status with the JSON error page,
every query operation of the document is exercised here, and every argument a handler reads
is one it declares (and is named like the query function's parameter it fills)."""
import inspect

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from metadata.mq_dataset import ingest_document, load
from pacifica.common.openapi import OPENAPI_PATH, tree_routes
from pacifica.metadata.endpoints.base import Get, Leaf, Post

DOI = '10.25584/data.67/1'
OSTI = ('<records numfound="1"><record status="Completed" released="Y"><doi>{}</doi>'
        '<publication_date>2020-08-01</publication_date><creatorsblock><creators_detail>'
        '<first_name>Ann</first_name><last_name>Lee</last_name></creators_detail>'
        '</creatorsblock></record></records>').format(DOI)
NEW_ENTRY = {'doi': DOI, 'id': 7, 'owner_network_id': 'bjohn',
             'meta': {'doi_infix': 'data.67', 'site_url': 'https://example.org/67',
                      'title': 'A DOI', 'authors': ['Ann Lee']}}
# (method, path, query, body): each answers 200. Reads first, then the writes (in order).
OK = [
    ('GET', 'userinfo/by_id/10', '', None),
    ('GET', 'userinfo/by_id/10/simple', '', None),
    ('GET', 'userinfo/by_user_id', 'person_id=11', None),
    ('GET', 'userinfo/search/d+brown', '', None),
    ('GET', 'userinfo/search/bob/simple', 'extra=ignored', None),
    ('GET', 'projectinfo/by_project_id/1234a', '', None),
    ('GET', 'projectinfo/by_project_id/1237', '', None),
    ('GET', 'projectinfo/search/pac', '', None),
    ('GET', 'projectinfo/by_user_id/10', '', None),
    ('POST', 'projectinfo/has_data', '', ['1234a', '1235', 'nope']),
    ('GET', 'instrumentinfo/by_instrument_id/54', '', None),
    ('GET', 'instrumentinfo/by_instrument_id/104', '', None),
    ('GET', 'instrumentinfo/search/nittany', '', None),
    ('GET', 'instrumentinfo/search', '', None),
    ('GET', 'instrumentinfo/by_user_id/10', '', None),
    ('GET', 'instrumentinfo/categories', '', None),
    ('GET', 'transactioninfo/by_id/67', '', None),
    ('GET', 'transactioninfo/by_id/69', '', None),
    ('GET', 'transactioninfo/files/67', '', None),
    ('GET', 'transactioninfo/files/4242', '', None),
    ('GET', 'transactioninfo/last', '', None),
    ('GET', 'transactioninfo/search/details', 'project=1234a', None),
    ('GET', 'transactioninfo/search/list', 'instrument=54&item_count=1&page=2', None),
    ('GET', 'transactioninfo/search', 'instrument=-1&start=2020-01-01&end=2020-12-31', None),
    ('GET', 'transactioninfo/multisearch',
     'project_id=1234a&instrument_group_id=1001&start_time=2020-01-01&end_time=2020-12-31',
     None),
    ('GET', 'transactioninfo/release_state/67', '', None),
    ('GET', 'transactioninfo/release_state/68', '', None),
    ('POST', 'transactioninfo/release_state', '', [67, '68', 4239672]),
    ('GET', 'transactioninfo/summary/2020-01-01/2020-12-31', '', None),
    ('GET', 'transactioninfo/summary', 'start_date=2030-01-01&end_date=2030-01-02', None),
    ('POST', 'summaryinfo/by_date/modified/project/2016-01-01/2021-01-01', '', ['1234a']),
    ('POST', 'summaryinfo/by_date/submitted/instrument/2020-01-01/2021-01-01', '', [54, 104]),
    ('POST', 'summaryinfo/by_date/created/user/bad/worse', '', [10]),
    ('POST', 'summaryinfo/transaction_details', '', [67, 68, 69, 4242]),
    ('POST', 'fileinfo/file_details', '', [103, 104, 106]),
    ('POST', 'fileinfo/earliest_latest/project/modified', '', ['1234a']),
    ('POST', 'fileinfo/earliest_latest/instrument/SUBMITTED', '', [54]),
    ('GET', 'fileinfo/files_for_keyvalue/temp_f/27', '', None),
    ('GET', 'fileinfo/files_for_keyvalue/temp_f/nothing', '', None),
    ('GET', 'tkvinfo/values_for_key/temp_f', '', None),
    ('GET', 'tkvinfo/values_for_key/temp_f/2020-05-11', '', None),
    ('GET', 'tkvinfo/kv_for_transaction/67', '', None),
    ('GET', 'migrate/instruments', '', None),
    ('GET', 'migrate/projects', '', None),
    ('GET', 'migrate/users', '', None),
    ('GET', 'objectinfo', '', None),
    ('GET', 'objectinfo/list', '', None),
    ('GET', 'objectinfo/keys', 'key=temp_f', None),
    ('GET', 'objectinfo/keys/hashlist', 'key=temp_f&_id=', None),
    ('GET', 'objectinfo/project_user/hashlist', '', None),
    ('POST', 'tkvupload/upload_entries', '', {'67': {'organism': 'Homo_sapiens', 'n': 9606}}),
    ('POST', 'doiupload/new_entry', '', NEW_ENTRY),
    ('POST', 'doiupload/new_entry', '', [NEW_ENTRY]),
    ('POST', 'doiupload/update', '', OSTI),
    ('POST', 'doiupload/update_modified_time', '', [DOI, 'unknown']),
    ('PUT', 'ingest', '', ingest_document(tid=7001, first_file=7001)),
    ('GET', 'transactioninfo/release_state/67', '', None),
]
# Refused requests: each answers this status with the JSON error page.
REFUSED = [
    ('GET', 'userinfo/by_id/bob', '', None, 400),
    ('GET', 'userinfo/by_id/21', '', None, 404),
    ('GET', 'userinfo/search/d+millard', '', None, 404),
    ('GET', 'projectinfo/by_user_id/user', '', None, 400),
    ('GET', 'instrumentinfo/by_instrument_id/54abc', '', None, 400),
    ('GET', 'transactioninfo/by_id/67abc', '', None, 400),
    ('GET', 'transactioninfo/by_id/67/68', '', None, 404),
    ('GET', 'transactioninfo/search', 'page=0&project=1', None, 400),
    ('GET', 'transactioninfo/multisearch/extra', '', None, 404),
    ('POST', 'transactioninfo/release_state/67', '', [67], 404),
    ('POST', 'fileinfo/file_details', '', [105], 404),
    ('POST', 'fileinfo/earliest_latest/submitter/modified', '', ['1'], 400),
    ('GET', 'tkvinfo/values_for_key/temp_f/2030-01-01/2020-01-01', '', None, 400),
    ('GET', 'objectinfo/nothing', '', None, 404),
    ('POST', 'tkvupload/upload_entries', '', ['not', 'an', 'object'], 400),
    ('PUT', 'ingest', '', [], 400),
]


@pytest.fixture(scope='module')
def api(md_api):
    """The module's server with the catalog loaded."""
    load(md_api)
    return md_api


@pytest.fixture(scope='module')
def document(api):
    """The server's own OpenAPI document."""
    resp = api.session.get(api.url + OPENAPI_PATH, timeout=30)
    assert resp.status_code == 200
    return resp.json()


def operation_of(document, method, path):
    """The documented operation answering ``method /path`` (path arguments are trailing
    segments of a resource's path) and its JSON pointer."""
    parts = path.split('/')
    for cut in range(len(parts), 0, -1):
        resource = '/' + '/'.join(parts[:cut])
        item = document['paths'].get(resource)
        if item and method.lower() in item:
            pointer = '#/paths/{}/{}'.format(resource.replace('~', '~0').replace('/', '~1'),
                                             method.lower())
            return resource, item[method.lower()], pointer
    raise AssertionError('{} /{} is not in the document'.format(method, path))


def validator(document, pointer):
    """A validator of the schema at ``pointer`` of the document, its references resolved
    inside the document."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource('urn:openapi', resource)
    return Draft202012Validator({'$ref': 'urn:openapi' + pointer}, registry=registry)


def send(api, method, path, query, body):
    """Send one case (a str body is the XML of /doiupload/update)."""
    if isinstance(body, str):
        return api.request(method, path, query, raw=body.encode(),
                           headers={'Content-Type': 'application/xml'})
    return api.request(method, path, query, body)


def check_answer(document, method, path, resp):
    """``resp`` is a documented status of its operation and matches that answer's schema."""
    _resource, operation, pointer = operation_of(document, method, path)
    status = str(resp.status_code)
    assert status in operation['responses'], (method, path, status, resp.text)
    answer = operation['responses'][status]
    if '$ref' in answer:   # a shared error response
        answer = document['components']['responses'][answer['$ref'].rsplit('/', 1)[1]]
        schema_pointer = '#/components/schemas/Error'
    else:
        schema_pointer = pointer + '/responses/{}/content/application~1json/schema'.format(
            status)
    assert resp.headers['Content-Type'] == 'application/json'
    assert 'application/json' in answer['content']
    errors = sorted(validator(document, schema_pointer).iter_errors(resp.json()),
                    key=lambda err: list(err.absolute_path))
    assert not errors, '{} /{}: {}'.format(method, path, '\n'.join(
        '{}: {}'.format(list(err.absolute_path), err.message) for err in errors[:5]))


def test_refused_requests_are_documented_errors(api, document):
    for method, path, query, body, status in REFUSED:
        resp = send(api, method, path, query, body)
        assert resp.status_code == status, (method, path, resp.text)
        check_answer(document, method, path, resp)


def test_every_answer_matches_its_declared_schema(api, document):
    """Runs after the refusals (the writes at the end of OK change the catalog)."""
    covered = set()
    for method, path, query, body in OK:
        resp = send(api, method, path, query, body)
        assert resp.status_code == 200, (method, path, resp.text)
        check_answer(document, method, path, resp)
        covered.add((operation_of(document, method, path)[0], method.lower()))
    queries = {(path, method) for path, item in document['paths'].items()
               for method, operation in item.items()
               if method != 'head' and 'queries' in operation.get('tags', ())}
    assert queries - covered == set(), 'query operations no case above answers'


def test_a_wrong_answer_is_caught(document):
    """The schema check can fail: a transaction record without its files is refused."""
    _resource, _operation, pointer = operation_of(document, 'GET', 'transactioninfo/by_id')
    schema = validator(document, pointer + '/responses/200/content/application~1json/schema')
    assert not schema.is_valid({'transaction_id': 67})
    assert not validator(document, '#/components/schemas/Error').is_valid({'status': 400})


def resources():
    """Every query endpoint resource of a mounted tree, with its path."""
    from pacifica.metadata.endpoints import mount  # pylint: disable=import-outside-toplevel

    class Root:  # pylint: disable=too-few-public-methods
        """A bare root to mount the endpoints on."""
        exposed = True

    class Quiet:  # pylint: disable=too-few-public-methods
        """No events."""
        def publish(self, _event):
            """Nothing to send."""

    root = Root()
    mount(root, Quiet())
    found = {}
    for path in tree_routes(root):
        if path == '/':
            continue
        node = root
        for name in path.strip('/').split('/'):
            node = getattr(node, name)
        if isinstance(node, Leaf):
            found[path] = node
    return found


def test_declared_arguments_are_the_query_functions_parameters():
    """A Get or Post passes its declared arguments to its query function by name (Get) or
    in order (Post, before the body): they must be the function's own parameters."""
    seen = 0
    for path, node in resources().items():
        if not isinstance(node, (Get, Post)):
            continue
        params = list(inspect.signature(node.call).parameters)
        method = 'GET' if isinstance(node, Get) else 'POST'
        names = [arg.name for arg in node.declared(method)]
        if isinstance(node, Post):
            params = params[:-1]   # the body
        assert names == params, path
        seen += 1
    assert seen >= 20


def test_every_method_of_every_endpoint_declares_its_answer():
    for path, node in resources().items():
        methods = [name for name in ('GET', 'POST', 'PUT') if hasattr(node, name)]
        assert methods, path
        for method in methods:
            assert method in node.answers, (path, method)
            if method != 'GET':
                assert method in node.bodies, (path, method)


@pytest.mark.parametrize('path', ['transactioninfo/by_id/67', 'userinfo/by_id/10'])
def test_an_undeclared_query_parameter_changes_nothing(api, path):
    """Arguments come only from the declaration: a parameter no handler declares is ignored
    (pacifica-policy forwards its own query string)."""
    plain = api.request('GET', path)
    extra = api.request('GET', path, 'trans_idx=1&person=2&option2=simple')
    assert plain.status_code == extra.status_code == 200
    assert plain.content == extra.content


def test_hostile_arguments_on_the_loaded_catalog_never_5xx_and_write_nothing(api, document):
    """schemathesis runs on an empty database; here every GET query operation gets hostile
    or borderline values for its declared arguments (and undeclared ones) against the
    catalog, as query parameters or path segments: every answer is documented, below 500,
    and the catalog is unchanged afterwards."""
    from hypothesis import given, note, strategies as st  # pylint: disable=import-outside-toplevel
    from support import check_answer, hostile_strategies, pct, property_settings  # pylint: disable=import-outside-toplevel
    hostile = hostile_strategies()
    operations = sorted((path, [p['name'] for p in op['parameters'] if p['in'] == 'query'])
                        for path, item in document['paths'].items()
                        for method, op in item.items()
                        if method == 'get' and 'queries' in op.get('tags', ()))
    value = st.one_of(hostile['text'], hostile['integers'].map(str), st.sampled_from(
        ['10', '67', '54', '1234a', '-1', '0', '2020-05-10', 'temp_f', 'users', 'hashlist',
         'simple', 'list', '9' * 19, '00067', ' 67 ']))

    def cases(operation):
        path, names = operation
        names = names + ['filters', 'deleted', '_id', 'x']
        return st.tuples(st.just(path), st.dictionaries(st.sampled_from(names), value,
                                                        max_size=4),
                         # (the client itself would resolve "." and "..": another path)
                         st.lists(value.filter(lambda seg: seg not in ('.', '..')),
                                  max_size=3))

    before = api.snapshot()

    @property_settings(200)
    @given(case=st.sampled_from(operations).flatmap(cases))
    def check(case):
        path, params, segments = case
        note(repr(case))
        full = path.lstrip('/') + ''.join('/' + pct(seg) for seg in segments)
        query = '&'.join('{}={}'.format(pct(k), pct(v)) for k, v in params.items())
        resp = api.request('GET', full, query)
        check_answer(resp)
        status = str(resp.status_code)
        _resource, operation, _pointer = operation_of(document, 'GET', path.lstrip('/'))
        assert status in operation['responses'], (status, resp.text[:200])
    check()
    assert api.snapshot() == before
