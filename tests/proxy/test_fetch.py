"""The verified stream without HTTP: hashing on its own thread, the held-back last block,
and no thread left behind however the stream ends."""
import hashlib
import os
import threading

import pytest

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


def hash_threads():
    return [t for t in threading.enumerate() if t.name == 'proxy-hash']


BLOCKS = [os.urandom(100000) for _ in range(30)]   # more blocks than the hasher's queue holds
DATA = b''.join(BLOCKS)


def test_good_bytes_pass_whole_and_in_order():
    resp = FakeResponse(BLOCKS)
    out = list(fetch.verified_stream(resp, len(DATA), 'sha1', hashlib.sha1(DATA).hexdigest()))
    assert b''.join(out) == DATA
    assert resp.closed and not hash_threads()


@pytest.mark.parametrize('algorithm', ['md5', 'sha256', 'sha512', 'blake2b'])
def test_any_hash_type(algorithm):
    digest = hashlib.new(algorithm, DATA).hexdigest().upper()   # case does not matter
    assert b''.join(fetch.verified_stream(FakeResponse(BLOCKS), len(DATA), algorithm,
                                          digest)) == DATA


def test_wrong_bytes_stop_before_the_last_block():
    corrupt = list(BLOCKS)
    corrupt[3] = b'x' * len(corrupt[3])
    stream = fetch.verified_stream(FakeResponse(corrupt), len(DATA), 'sha1',
                                   hashlib.sha1(DATA).hexdigest())
    received = []
    with pytest.raises(fetch.TransferAborted, match='sha1 of the archive bytes'):
        for block in stream:
            received.append(block)
    assert len(received) == len(BLOCKS) - 1   # the client never has a complete file
    assert not hash_threads()


@pytest.mark.parametrize('blocks,words', [
    (BLOCKS[:-1], 'of {} bytes'.format(len(DATA))),
    (BLOCKS + [b'extra'], 'more than'),
])
def test_short_or_long_bodies_are_cut(blocks, words):
    with pytest.raises(fetch.TransferAborted, match=words):
        list(fetch.verified_stream(FakeResponse(blocks), len(DATA), 'sha1',
                                   hashlib.sha1(DATA).hexdigest()))
    assert not hash_threads()


def test_a_client_that_goes_away_leaves_no_thread():
    resp = FakeResponse(BLOCKS)
    stream = fetch.verified_stream(resp, len(DATA), 'sha1', hashlib.sha1(DATA).hexdigest())
    for _ in range(12):   # the hasher's queue is full by now
        next(stream)
    stream.close()
    assert resp.closed and not hash_threads()


def test_without_a_hash_no_thread_is_started():
    stream = fetch.verified_stream(FakeResponse(BLOCKS), len(DATA))
    next(stream)
    assert not hash_threads()
    assert b''.join(stream) == DATA[len(BLOCKS[0]):]
