"""The whole suite, started as ``make run`` starts it, used the way an ingest and a download
would use it: ids from uniqueid, bytes into the archive, one ``PUT /ingest`` into metadata,
then everything read back through metadata, the proxy and a cart.

Runs on embedded defaults (SQLite, kombu's filesystem broker) and, when CI provides them,
on PostgreSQL with RabbitMQ.
"""
import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from urllib.parse import quote

import pytest
import requests

from support import (BROKER_URL, POSTGRES_URL, ROOT, create_postgres_database,
                     drop_postgres_database, free_port_offset)

JSON = {'Content-Type': 'application/json'}
CONTENT = {
    'readme.txt': b'Pacifica end to end\n',
    'raw/run 1/données.bin': os.urandom(300 * 1024),
    'raw/run 1/empty.dat': b'',
    'analysis/result ☃.csv': b'x,y\n1,2\n3,4\n',
}


def start_suite(home, offset, *args):
    """``pacifica-suite`` with every service; returns (process, {name: base URL})."""
    env = dict(os.environ, PYTHONPATH=ROOT, HOME=str(home))
    if '--broker' in args and 'CELERY_TASK_QUEUE' not in env:
        # A queue of its own on the shared broker: a message an earlier suite left in
        # flight must not reach this suite's worker (its cart ids name other carts here).
        env['CELERY_TASK_QUEUE'] = 'suite_' + uuid.uuid4().hex[:12]
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', 'pacifica.suite', '--home', str(home / 'state'),
         '--port-offset', str(offset)] + list(args),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    urls, lines, started = {}, [], time.monotonic()
    while time.monotonic() - started < 90:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith('http://'):
            urls[parts[0]] = parts[1].rstrip('/')
        if 'Ctrl-C stops every service' in line:
            return proc, urls
    proc.kill()
    raise AssertionError('suite did not come up:\n' + '\n'.join(lines))


@pytest.fixture(params=['embedded', 'servers'])
def suite(request, tmp_path):
    """The running suite on one backend pair."""
    args, to_drop = [], None
    if request.param == 'servers':
        if not POSTGRES_URL or not BROKER_URL:
            pytest.skip('PACIFICA_TEST_POSTGRES and PACIFICA_TEST_BROKER are not both set')
        to_drop = create_postgres_database('pacifica_e2e')
        args = ['--database', to_drop, '--broker', BROKER_URL]
    proc, urls = start_suite(tmp_path, free_port_offset(), *args)
    try:
        assert set(urls) >= {'archiveinterface', 'uniqueid', 'metadata', 'cartd', 'proxy'}
        yield urls
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        if to_drop:
            drop_postgres_database(to_drop)


def getid(urls, mode, count):
    """Reserve ids as ingest does."""
    resp = requests.get(urls['uniqueid'] + '/getid', params={'range': count, 'mode': mode},
                        timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return list(range(body['startIndex'], body['endIndex'] + 1))


def put_metadata(urls, path, body):
    """A generic metadata PUT."""
    resp = requests.put('{}/{}'.format(urls['metadata'], path), json=body, timeout=30)
    assert resp.status_code == 200, resp.text


def wait_for_cart(urls, uid, timeout=120):
    """Poll HEAD as the downloader does until the cart leaves staging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = requests.head('{}/{}'.format(urls['cartd'], uid), timeout=10)
        status = resp.headers.get('X-Pacifica-Status')
        if resp.status_code == 500 or (resp.status_code == 204 and status == 'ready'):
            return resp
        time.sleep(0.2)
    raise AssertionError('cart {} not ready after {} s'.format(uid, timeout))


def test_ingest_then_read_everything_back(suite):
    urls = suite
    # what the ingest frontend/backend do before the metadata step
    transaction = getid(urls, 'upload', 1)[0] + 1000
    file_ids = [i + 5000 for i in getid(urls, 'file', len(CONTENT))]
    put_metadata(urls, 'users', [{'_id': 10, 'first_name': 'Ada', 'last_name': 'Lovelace',
                                  'network_id': 'ada', 'email_address': 'ada@example.org'}])
    put_metadata(urls, 'projects', [{'_id': 'p1', 'title': 'End to end'}])
    put_metadata(urls, 'instruments', [{'_id': 54, 'name': 'Spectrometer'}])
    files = {}
    for file_id, (path, data) in zip(file_ids, CONTENT.items()):
        put = requests.put('{}/{}'.format(urls['archiveinterface'], file_id), data=data,
                           headers={'Content-Type': 'application/octet-stream',
                                    'Last-Modified': 'Sun Nov  6 08:49:37 1994'},
                           timeout=30)
        assert put.status_code == 201 and put.json()['total_bytes'] == len(data), put.text
        files[file_id] = (path, data, hashlib.sha1(data).hexdigest())
    document = [
        {'destinationTable': 'Transactions.submitter', 'value': 10},
        {'destinationTable': 'Transactions.project', 'value': 'p1'},
        {'destinationTable': 'Transactions.instrument', 'value': 54},
        {'destinationTable': 'TransactionKeyValue', 'key': 'Tag', 'value': 'e2e'},
        {'destinationTable': 'NothingReally', 'value': 'ignored'},
    ]
    for file_id, (path, data, digest) in files.items():
        subdir, name = os.path.split(path)
        document.append({
            'destinationTable': 'Files', '_id': file_id, 'name': name, 'subdir': subdir,
            'ctime': 'Tue Nov 29 14:09:05 PST 2016', 'mtime': 'Tue Nov 29 14:09:05 PST 2016',
            'size': len(data), 'mimetype': 'application/octet-stream', 'hashtype': 'sha1',
            'hashsum': digest})
    document.append({'destinationTable': 'Transactions._id', 'value': transaction})
    resp = requests.put(urls['metadata'] + '/ingest', json=document, timeout=60)
    assert resp.status_code == 200 and resp.json() == {'status': 'success'}, resp.text

    # metadata has it all
    stored = requests.get(urls['metadata'] + '/files', timeout=10,
                          params={'transaction': transaction, 'recursion_depth': 0}).json()
    assert sorted(f['_id'] for f in stored) == sorted(files)
    for record in stored:
        path, data, digest = files[record['_id']]
        assert (record['subdir'], record['name']) == os.path.split(path)
        assert (record['size'], record['hashsum']) == (len(data), digest)
    tkv = requests.get(urls['metadata'] + '/trans_key_value', timeout=10,
                       params={'transaction': transaction}).json()
    assert len(tkv) == 1

    # the proxy serves every file by its sha1
    for file_id, (path, data, digest) in files.items():
        got = requests.get('{}/files/sha1/{}'.format(urls['proxy'], digest), timeout=30)
        assert got.status_code == 200, got.text
        assert got.content == data
        name = os.path.basename(path)
        disposition = got.headers['Content-Disposition']
        if name.isascii():
            assert disposition == 'attachment; filename="{}"'.format(name)
        else:
            assert disposition.endswith("; filename*=UTF-8''" + quote(name, safe=''))
        assert got.headers['ETag'] == '"{}"'.format(digest)

    # a cart of the transaction's files, downloaded and compared byte for byte
    for bundle in (False, True):
        uid = 'e2e-{}-{}'.format(transaction, int(bundle))
        body = {'bundle': bundle, 'fileids': [
            {'id': file_id, 'path': path, 'hashtype': 'sha1', 'hashsum': digest}
            for file_id, (path, _data, digest) in files.items()]}
        created = requests.post('{}/{}'.format(urls['cartd'], uid), json=body, timeout=30)
        assert created.status_code == 201, created.text
        head = wait_for_cart(urls, uid)
        assert head.status_code == 204, head.headers
        tar = requests.get('{}/{}'.format(urls['cartd'], uid), params={'filename': 'data'},
                           timeout=120)
        assert tar.status_code == 200
        # streamed carts name members <filename>/..., pre-built (bundle) tars <uid>/...
        prefix = uid if bundle else 'data'
        with tarfile.open(fileobj=io.BytesIO(tar.content)) as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            assert sorted(members) == sorted(prefix + '/' + p for p, _, _ in files.values())
            for path, data, _digest in files.values():
                assert archive.extractfile(members[prefix + '/' + path]).read() == data
        assert requests.delete('{}/{}'.format(urls['cartd'], uid), timeout=30).status_code \
            == 200
