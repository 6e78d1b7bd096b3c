"""The WSGI fast path for ``GET /getid``: the same bytes as CherryPy's own answer, through
real HTTP on CherryPy's server and uWSGI, on SQLite and PostgreSQL.

A plain query (``range=5&mode=m``) takes the fast path; the same query with the range
percent-encoded (``range=%35``) means the same to CherryPy but is left to it by the fast
path, so one server answers the same request both ways and the answers are compared.
"""
import re
import time
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import (property_settings, raw_http, run_admin, service_env, start_service,
                     start_uwsgi)

DATE = re.compile(rb'\r\nDate: [^\r]+\r\n')


def _get(port, query, version='HTTP/1.1'):
    request = 'GET /getid?{} {}\r\nHost: x\r\nConnection: close\r\n\r\n'.format(query, version)
    return DATE.sub(b'\r\nDate: -\r\n',
                    raw_http(port, request.encode('ascii'), one_response=True))


def _same_both_ways(port, mode, version='HTTP/1.1'):
    """Two allocations of 5, fast then CherryPy's path: the same bytes but the indexes."""
    fast = _get(port, 'range=5&mode=' + mode, version)
    slow = _get(port, 'range=%35&mode=' + mode, version)
    start = int(re.search(rb'"startIndex": (\d+)', fast).group(1))
    assert fast.replace(b'"startIndex": %d, "endIndex": %d' % (start, start + 4), b'IDS') \
        .replace(b'Content-Length: %d' % (len(str(start)) + len(str(start + 4)) + 30), b'LEN') \
        == slow.replace(b'"startIndex": %d, "endIndex": %d' % (start + 5, start + 9), b'IDS') \
        .replace(b'Content-Length: %d' % (len(str(start + 5)) + len(str(start + 9)) + 30),
                 b'LEN'), (fast, slow)
    assert b'Cache-Control: no-store' in fast
    return start


def test_fast_answer_is_cherrypys_answer(server):
    start = _same_both_ways(server.port, 'fastsame')
    assert _same_both_ways(server.port, 'fastsame') == start + 10
    assert _same_both_ways(server.port, 'fastsame', 'HTTP/1.0') == start + 20


def test_order_of_parameters(server):
    first = _get(server.port, 'mode=fastorder&range=3')
    assert b'{"startIndex": 0, "endIndex": 2}' in first
    assert b'{"startIndex": 3, "endIndex": 5}' in _get(server.port, 'range=3&mode=fastorder')


def test_exhausted_mode_answers_cherrypys_400_once(module_db_url, tmp_path):
    """The fast path's allocation fails; CherryPy's handler answers with that error (and
    does not allocate again): the same bytes as CherryPy's own refusal."""
    limit = 2 ** 63 - 1
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=module_db_url, UNIQUEID_MAX_RANGE=limit)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    srv = start_service('pacifica.uniqueid', tmp_path, env)
    try:
        assert b'"startIndex": 0' in _get(srv.port, 'range={}&mode=fastfull'.format(limit - 3))
        fast = _get(srv.port, 'range=5&mode=fastfull')
        slow = _get(srv.port, 'range=%35&mode=fastfull')
        assert fast.startswith(b'HTTP/1.1 400 ') and b'cannot hand out 5 more ids' in fast
        assert fast == slow
        # Nothing was taken by the refusals: the last three ids are still there.
        assert b'{"startIndex": %d, "endIndex": %d}' % (limit - 3, limit - 1) in _get(
            srv.port, 'range=3&mode=fastfull')
    finally:
        srv.stop()


def test_metrics_count_fast_requests(server):
    import requests  # pylint: disable=import-outside-toplevel

    def scrape():
        text = requests.get(server.url + '/api/metrics', timeout=10).text
        ids = re.search(r'pacifica_uniqueid_ids_allocated_total\{mode="fastmetrics"\} (\S+)',
                        text)
        reqs = re.search(r'pacifica_http_requests_total\{method="GET",route="/getid",'
                         r'status="200"\} (\S+)', text)
        return (float(ids.group(1)) if ids else 0.0, float(reqs.group(1)) if reqs else 0.0)
    before = scrape()
    for _ in range(3):
        _get(server.port, 'range=4&mode=fastmetrics')
    # A request's metrics may be recorded a moment after its client has the answer (the
    # CherryPy path counts at the end of the request): wait for them, then compare exactly.
    expected = (before[0] + 12, before[1] + 3)
    deadline = time.monotonic() + 5
    after = scrape()
    while after != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        after = scrape()
    assert after[0] == expected[0]
    assert after[1] == expected[1]


def test_access_log_line_is_cherrypys(module_db_url, tmp_path):
    """With the documented cpconfig (an access log, the JSON Content-Type tool) the fast
    path stays on and writes the access-log line CherryPy writes."""
    log = tmp_path / 'access.log'
    conf = tmp_path / 'server.conf'
    conf.write_text("[global]\nlog.access_file: '{}'\n[/]\n"
                    "request.dispatch: cherrypy.dispatch.MethodDispatcher()\n"
                    "tools.response_headers.on: True\n"
                    "tools.response_headers.headers: [('Content-Type', 'application/json')]\n"
                    .format(log))
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=module_db_url, UNIQUEID_CPCONFIG=conf)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    srv = start_service('pacifica.uniqueid', tmp_path, env)
    try:
        _same_both_ways(srv.port, 'fastlog')
        request = (b'GET /getid?range=2&mode=fastlog HTTP/1.1\r\nHost: h\r\nReferer: r"q\r\n'
                   b'User-Agent: agent \xe9\r\nConnection: close\r\n\r\n')
        raw_http(srv.port, request)
        raw_http(srv.port, request.replace(b'range=2', b'range=%32'))
    finally:
        srv.stop()
    lines = [re.sub(r'\[[^]]+\]', '[T]', line) for line in log.read_text().splitlines()
             if 'fastlog' in line]
    assert lines[0] == '127.0.0.1 - - [T] "GET /getid?range=5&mode=fastlog HTTP/1.1" 200 32 "" ""'
    assert lines[-2].replace('range=2', 'range=%32') == lines[-1], lines[-2:]
    assert '"r\\"q" "agent \\xc3\\xa9"' in lines[-1]


def test_another_tool_turns_the_fast_path_off(module_db_url, tmp_path):
    """A cpconfig tool the fast path does not know (here one that adds a header) leaves
    every request to CherryPy, so the tool still applies to /getid."""
    conf = tmp_path / 'server.conf'
    conf.write_text("[/getid]\ntools.response_headers.on: True\n"
                    "tools.response_headers.headers: [('X-Site', 'here')]\n")
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=module_db_url, UNIQUEID_CPCONFIG=conf)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    srv = start_service('pacifica.uniqueid', tmp_path, env)
    try:
        assert b'\r\nX-Site: here\r\n' in _get(srv.port, 'range=1&mode=fasttool')
    finally:
        srv.stop()


def test_uwsgi_fast_answer_is_cherrypys_answer(module_db_url, tmp_path):
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=module_db_url)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    srv = start_uwsgi('pacifica.uniqueid.wsgi', tmp_path, env, processes=1, threads=4,
                      socket_option='--http11-socket')
    try:
        start = _same_both_ways(srv.port, 'fastuwsgi')
        assert _same_both_ways(srv.port, 'fastuwsgi') == start + 10
    finally:
        srv.stop()


# -- which queries the fast path takes: exactly what CherryPy reads the same way --------------
_PIECES = st.sampled_from(['range', 'mode', '=', '&', ';', '+', '%', '%35', '%20', '0', '1',
                           '5', '9' * 19, '1' * 20, 'a', 'Z', '-', '.', '_', '~', ' ', '\x00',
                           'é', 'x' * 255, 'x' * 256, '/', '?', '#', 'range=1', 'mode=m'])


@property_settings(400)
@given(st.lists(_PIECES, max_size=8).map(''.join))
def test_fast_path_reads_a_query_as_cherrypy_does(query):
    from cherrypy.lib import httputil  # pylint: disable=import-outside-toplevel
    from pacifica.common import rest  # pylint: disable=import-outside-toplevel
    from pacifica.uniqueid.fastpath import FastGetID  # pylint: disable=import-outside-toplevel
    fast = FastGetID(None, None, max_range=1000000)
    environ = {'PATH_INFO': '/getid', 'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '',
               'QUERY_STRING': urllib.parse.quote(query, safe='=&;+%~')}
    taken = fast._params(environ)  # pylint: disable=protected-access
    if taken is None:
        return
    params = httputil.parse_query_string(environ['QUERY_STRING'])
    assert set(params) == {'range', 'mode'}
    assert taken == (rest.int_param('range', params['range'], 1, 1000000),
                     rest.str_param('mode', params['mode']))


@pytest.mark.parametrize('change', [
    {'REQUEST_METHOD': 'HEAD'}, {'PATH_INFO': '/getid/'}, {'SCRIPT_NAME': '/x'},
    {'CONTENT_LENGTH': '3'}, {'HTTP_TRANSFER_ENCODING': 'chunked'},
    {'QUERY_STRING': 'range=1000001&mode=m'}, {'QUERY_STRING': 'range=1&mode=m&x=1'},
    {'QUERY_STRING': 'range=01&mode=m'}])
def test_everything_else_is_left_to_cherrypy(change):
    from pacifica.uniqueid.fastpath import FastGetID  # pylint: disable=import-outside-toplevel
    environ = {'PATH_INFO': '/getid', 'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '',
               'QUERY_STRING': 'range=1&mode=m'}
    fast = FastGetID(None, None, max_range=1000000)
    assert fast._params(dict(environ)) == (1, 'm')  # pylint: disable=protected-access
    environ.update(change)
    assert fast._params(environ) is None  # pylint: disable=protected-access


@pytest.mark.parametrize('entry', ['wsgi', 'cli'])
@pytest.mark.parametrize('cpconfig, installed', [
    (None, 'FastGetID'), ('config/uniqueid-server.conf', 'FastGetID'),
    ("[/getid]\ntools.response_headers.on: True\n", 'CPWSGIApp'),
    ("[/]\ntools.auth_basic.on: True\n", 'CPWSGIApp'),
    ("[global]\nresponse.headers.server: 'x'\n", 'CPWSGIApp')])
def test_which_configurations_get_the_fast_path(tmp_path, cpconfig, installed, entry):
    """The fast path is in front of the app under the documented configurations, and not
    when a cpconfig asks CherryPy for something the fast path does not reproduce; the same
    under uWSGI (``wsgi``) and ``pacifica-uniqueid`` (``cli``, where CherryPy's global
    ``tools.log_headers.on`` once kept every request off it)."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    from support import ROOT, free_port  # pylint: disable=import-outside-toplevel
    extra = {}
    if cpconfig and cpconfig.startswith('config/'):
        extra['UNIQUEID_CPCONFIG'] = '{}/{}'.format(ROOT, cpconfig)
    elif cpconfig:
        (tmp_path / 'cp.conf').write_text(cpconfig)
        extra['UNIQUEID_CPCONFIG'] = tmp_path / 'cp.conf'
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqlite:///' + str(tmp_path / 'u.db'),
                      **extra)
    if entry == 'wsgi':
        build = 'import pacifica.uniqueid.wsgi'
    else:   # the server pacifica-uniqueid runs, built as its CLI builds it (not started)
        assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
        build = ('from pacifica.common import cli; from pacifica.uniqueid.service import '
                 "SERVICE; cli.prepare_server(SERVICE, ['-p', '{}'])".format(free_port()))
    code = ('import cherrypy; {}; '
            "print(type(cherrypy.tree.apps[''].wsgiapp).__name__)".format(build))
    done = subprocess.run([sys.executable, '-c', code], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == installed, done.stdout


@property_settings(400)
@given(st.one_of(st.text(), st.text(alphabet=st.characters(max_codepoint=127))))
def test_access_log_escaping_is_cherrypys(value):
    """The fast path's escaping of an access-log field (with its shortcut for plain
    fields) is CherryPy's, for any text."""
    from pacifica.uniqueid.fastpath import _escape  # pylint: disable=import-outside-toplevel
    cherrypys = repr(value.replace('"', '\\"').encode('utf8'))[2:-1].replace('\\\\', '\\')
    assert _escape(value) == cherrypys


def test_access_log_time_is_cherrypys():
    """The access log's time field, formatted once a second, is CherryPy's own."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    from pacifica.uniqueid.fastpath import _log_time  # pylint: disable=import-outside-toplevel
    for _ in range(3):
        second = int(time.time())
        theirs = cherrypy.log.time()
        if int(time.time()) == second:
            assert _log_time(second) == theirs
            return
    pytest.fail('the clock kept turning over a second')


def test_access_log_is_formatted_only_when_a_handler_writes():
    """CherryPy gives every access log a NullHandler (so ``hasHandlers()`` is always true);
    the fast path formats its line only when some other handler on the way up would get it."""
    import logging  # pylint: disable=import-outside-toplevel
    from cherrypy import _cplogging  # pylint: disable=import-outside-toplevel
    from pacifica.uniqueid.fastpath import _listening  # pylint: disable=import-outside-toplevel
    parent = logging.getLogger('test-fastpath-access')
    child = logging.getLogger('test-fastpath-access.app')
    child.addHandler(_cplogging.NullHandler())
    parent.addHandler(logging.NullHandler())
    root_handlers = logging.getLogger().handlers[:]
    logging.getLogger().handlers[:] = []
    stream = logging.StreamHandler()
    try:
        assert child.hasHandlers() and not _listening(child)
        parent.addHandler(stream)
        parent.setLevel(logging.INFO)
        assert _listening(child)
        child.propagate = False
        assert not _listening(child)
        child.propagate = True
        parent.setLevel(logging.WARNING)     # INFO would be dropped before any handler
        assert not _listening(child)
        child.setLevel(logging.INFO)
        child.addHandler(stream)
        assert _listening(child)
    finally:
        logging.getLogger().handlers[:] = root_handlers
        for logger in (parent, child):
            logger.handlers[:] = []
            logger.setLevel(logging.NOTSET)
            logger.propagate = True


def test_ids_are_counted_past_the_cached_modes(monkeypatch):
    """The ids-allocated series are looked up once per mode, for at most _MAX_SERIES modes;
    beyond them every allocation is still counted (looked up each time)."""
    pytest.importorskip('prometheus_client')
    from pacifica.common import metrics  # pylint: disable=import-outside-toplevel
    from pacifica.uniqueid import allocate  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(allocate, '_SERIES', {})
    monkeypatch.setattr(allocate, '_MAX_SERIES', 2)

    def value(mode):
        series = metrics._child('pacifica_uniqueid_ids_allocated_total',  # pylint: disable=protected-access
                                {'mode': mode})
        return series._value.get()  # pylint: disable=protected-access
    modes = ['cached-a', 'cached-b', 'uncached-c']
    before = [value(mode) for mode in modes]
    for _ in range(3):
        for mode in modes:
            allocate._count_ids(mode, 5)  # pylint: disable=protected-access
    assert sorted(allocate._SERIES) == ['cached-a', 'cached-b']  # pylint: disable=protected-access
    assert [value(mode) - old for mode, old in zip(modes, before)] == [15, 15, 15]
