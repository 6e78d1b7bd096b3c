"""The verified stream without HTTP: hashing on its own thread, the held-back last block,
and no thread left behind however the stream ends."""
import hashlib
import http.client
import io
import os
import socket
import threading
import time
import types

import pytest
import requests

from pacifica.common.sendfile import BufferChunk
from pacifica.proxy import fetch


class FakeResponse:
    """What verified_stream uses of a requests response: raw.stream() and close()."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.closed = False
        self.raw = self

    def stream(self, _chunk, decode_content=False):  # pylint: disable=unused-argument
        yield from self.blocks

    def close(self):
        self.closed = True


class _Wire:
    """The socket an http.client response reads: the whole answer, already arrived."""

    def __init__(self, data):
        self.data = data

    def makefile(self, _mode):
        return io.BytesIO(self.data)


class WireResponse:
    """A requests response with ``stream=True`` in front of a real http.client response
    (urllib3's ``_fp``), which verified_stream reads into its own buffers with ``reuse``."""

    def __init__(self, blocks):
        body = b''.join(blocks)
        answer = b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s' % (len(body), body)
        self.body = http.client.HTTPResponse(_Wire(answer))
        self.body.begin()
        self.raw = types.SimpleNamespace(_fp=self.body, stream=self._stream)
        self.closed = False

    def _stream(self, chunk, decode_content=False):  # pylint: disable=unused-argument
        while True:
            block = self.body.read(chunk)
            if not block:
                return
            yield block

    def close(self):
        self.closed = True


def received(stream):
    """The bytes of each block as the server sends it: a BufferChunk's buffer is copied
    before the stream is asked for the next block (it is reused after that)."""
    for block in stream:
        yield bytes(block.view) if isinstance(block, BufferChunk) else block


def hash_threads():
    return [t for t in threading.enumerate() if t.name == 'proxy-hash']


BLOCKS = [os.urandom(100000) for _ in range(30)]   # more blocks than the hasher's queue holds
DATA = b''.join(BLOCKS)


def test_good_bytes_pass_whole_and_in_order():
    resp = FakeResponse(BLOCKS)
    out = list(fetch.verified_stream(resp, len(DATA), 'sha1', hashlib.sha1(DATA).hexdigest()))
    assert b''.join(out) == DATA
    assert resp.closed and not hash_threads()


@pytest.mark.parametrize('hashtype', ['sha1', None])
def test_reused_buffers_carry_every_byte_in_order(hashtype):
    """Read into the ring of buffers (30 blocks, 8 buffers: each is reused), hashed or
    not (a Range request): the server gets BufferChunks whose bytes are the file's."""
    resp = WireResponse(BLOCKS)
    stream = fetch.verified_stream(resp, len(DATA), hashtype, hashlib.sha1(DATA).hexdigest(),
                                   chunk=len(BLOCKS[0]), reuse=True)
    out = list(received(stream))
    assert b''.join(out) == DATA and len(out) == len(BLOCKS)
    assert resp.closed and not hash_threads()


@pytest.mark.parametrize('size', [0, 1, 5])
def test_small_and_empty_files_through_the_buffers(size):
    data = DATA[:size]
    stream = fetch.verified_stream(WireResponse([data]), size, 'sha1',
                                   hashlib.sha1(data).hexdigest(), reuse=True)
    assert b''.join(received(stream)) == data
    with pytest.raises(fetch.TransferAborted, match='more than'):   # one byte too many
        list(received(fetch.verified_stream(WireResponse([data + b'!']), size, reuse=True)))


def test_without_reuse_a_wire_response_gives_new_bytes():
    stream = fetch.verified_stream(WireResponse(BLOCKS), len(DATA), 'sha1',
                                   hashlib.sha1(DATA).hexdigest(), chunk=len(BLOCKS[0]))
    out = list(stream)
    assert all(type(block) is bytes for block in out)   # pylint: disable=unidiomatic-typecheck
    assert b''.join(out) == DATA


def test_a_buffer_is_not_refilled_before_it_is_hashed(monkeypatch):
    """A hash slower than the archive: the reader waits for the hasher rather than refill
    a buffer whose block is not hashed yet (which would make the digest wrong)."""
    new = hashlib.new

    class SlowDigest:
        def __init__(self, name):
            self.real = new(name)

        def update(self, block):
            time.sleep(0.002)   # the race, not a timing assertion
            self.real.update(block)

        def hexdigest(self):
            return self.real.hexdigest()

    monkeypatch.setattr(fetch.hashlib, 'new', SlowDigest)
    stream = fetch.verified_stream(WireResponse(BLOCKS), len(DATA), 'sha1',
                                   hashlib.sha1(DATA).hexdigest(), chunk=len(BLOCKS[0]),
                                   reuse=True)
    assert b''.join(received(stream)) == DATA


@pytest.mark.parametrize('algorithm', ['md5', 'sha256', 'sha512', 'blake2b'])
def test_any_hash_type(algorithm):
    digest = hashlib.new(algorithm, DATA).hexdigest().upper()   # case does not matter
    assert b''.join(fetch.verified_stream(FakeResponse(BLOCKS), len(DATA), algorithm,
                                          digest)) == DATA


@pytest.mark.parametrize('response,reuse', [(FakeResponse, False), (WireResponse, True)])
def test_wrong_bytes_stop_before_the_last_block(response, reuse):
    corrupt = list(BLOCKS)
    corrupt[3] = b'x' * len(corrupt[3])
    stream = fetch.verified_stream(response(corrupt), len(DATA), 'sha1',
                                   hashlib.sha1(DATA).hexdigest(), chunk=len(BLOCKS[0]),
                                   reuse=reuse)
    sent = []
    with pytest.raises(fetch.TransferAborted, match='sha1 of the archive bytes'):
        for block in received(stream):
            sent.append(block)
    assert len(sent) == len(BLOCKS) - 1   # the client never has a complete file
    assert not hash_threads()


@pytest.mark.parametrize('blocks,words', [
    (BLOCKS[:-1], 'of {} bytes'.format(len(DATA))),
    (BLOCKS + [b'extra'], 'more than'),
])
@pytest.mark.parametrize('response,reuse', [(FakeResponse, False), (WireResponse, True)])
def test_short_or_long_bodies_are_cut(blocks, words, response, reuse):
    with pytest.raises(fetch.TransferAborted, match=words):
        list(received(fetch.verified_stream(response(blocks), len(DATA), 'sha1',
                                            hashlib.sha1(DATA).hexdigest(),
                                            chunk=len(BLOCKS[0]), reuse=reuse)))
    assert not hash_threads()


@pytest.mark.parametrize('response,reuse', [(FakeResponse, False), (WireResponse, True)])
def test_a_client_that_goes_away_leaves_no_thread(response, reuse):
    resp = response(BLOCKS)
    stream = fetch.verified_stream(resp, len(DATA), 'sha1', hashlib.sha1(DATA).hexdigest(),
                                   chunk=len(BLOCKS[0]), reuse=reuse)
    for _ in range(12):   # the hasher's queue is full by now
        next(stream)
    stream.close()
    assert resp.closed and not hash_threads()


def test_without_a_hash_no_thread_is_started():
    stream = fetch.verified_stream(FakeResponse(BLOCKS), len(DATA))
    next(stream)
    assert not hash_threads()
    assert b''.join(stream) == DATA[len(BLOCKS[0]):]


def test_an_archive_that_hangs_up_early_is_a_transfer_abort_on_the_urllib3_path():
    """requests' streamed body read through urllib3 (the path under uWSGI): an archive that
    closes its connection short of its Content-Length makes urllib3 raise its own
    ProtocolError, neither OSError nor a requests exception; it must still be a
    TransferAborted (502), never a 500."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)

    def archive():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + b'x' * 1000)
    thread = threading.Thread(target=archive, daemon=True)
    thread.start()
    try:
        resp = requests.get('http://127.0.0.1:{}/1'.format(listener.getsockname()[1]),
                            stream=True, timeout=10)
        with pytest.raises(fetch.TransferAborted):
            list(fetch.verified_stream(resp, 100000, 'sha1', '0' * 40))
    finally:
        thread.join(10)
        listener.close()
