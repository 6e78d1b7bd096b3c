"""The filesystem broker keeps a message until it is acked: a consumer that dies with
messages in hand gives them back, as RabbitMQ does; acked and no-ack messages leave
nothing behind."""
import os
import subprocess
import sys
import uuid

from kombu import Connection

from support import ROOT

TRANSPORT = 'pacifica.cartd.fsbroker:Transport'


def _options(base):
    queue, control = base / 'queue', base / 'control'
    for folder in (queue, control):
        folder.mkdir(exist_ok=True)
    return {'data_folder_in': str(queue), 'data_folder_out': str(queue),
            'control_folder': str(control), 'polling_interval': 0.01}


def _name():
    # kombu keeps bindings in one state per process: a fresh name per test.
    return 'jobs-' + uuid.uuid4().hex[:8]


def _connection(base):
    return Connection(transport=TRANSPORT, transport_options=_options(base))


def _files(base):
    return sorted(os.path.relpath(os.path.join(parent, name), base)
                  for parent, _dirs, names in os.walk(base) for name in names
                  if name.endswith('.msg'))


DIE_HOLDING = '''
import os, sys
from kombu import Connection
options = dict(data_folder_in=sys.argv[1], data_folder_out=sys.argv[1],
               control_folder=sys.argv[2], polling_interval=0.01)
conn = Connection(transport={transport!r}, transport_options=options)
queue = conn.SimpleQueue(sys.argv[3])
message = queue.get(timeout=10)
print(message.payload, flush=True)
os._exit(0)   # dies holding it: no ack, no clean close
'''


def test_a_dead_consumers_messages_come_back(tmp_path):
    name = _name()
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue(name)
        queue.put({'n': 1})
        queue.put({'n': 2})
        done = subprocess.run(
            [sys.executable, '-c', DIE_HOLDING.format(transport=TRANSPORT),
             str(tmp_path / 'queue'), str(tmp_path / 'control'), name],
            capture_output=True, text=True, timeout=60, check=False,
            env=dict(os.environ, PYTHONPATH=ROOT))
        # (Messages put in the same millisecond come in either order.)
        assert done.stdout.strip() in ("{'n': 1}", "{'n': 2}"), done.stderr
        assert [path.split(os.sep)[0] for path in _files(tmp_path)] == ['queue', 'unacked']
        got = []
        for _ in range(2):
            message = queue.get(timeout=10)
            got.append(message.payload)
            message.ack()
        assert sorted(m['n'] for m in got) == [1, 2]
        queue.close()
    assert _files(tmp_path) == []
    assert os.listdir(tmp_path / 'unacked') == []   # closed cleanly: its directory is gone


def test_a_live_consumers_messages_stay_with_it(tmp_path):
    with _connection(tmp_path) as first, _connection(tmp_path) as second:
        name = _name()
        one, two = first.SimpleQueue(name), second.SimpleQueue(name)
        one.put({'n': 1})
        held = one.get(timeout=10)
        two.channel.restore_abandoned()   # the holder lives: nothing to take back
        assert two.qsize() == 0
        held.reject(requeue=True)           # a requeued message is put back once
        again = two.get(timeout=10)
        assert again.payload == {'n': 1}
        again.ack()
        one.close()
        two.close()
    assert _files(tmp_path) == []


def test_messages_consumed_without_acks_leave_nothing(tmp_path):
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue(_name(), no_ack=True)
        queue.put({'event': 'x'})
        assert queue.get(timeout=10).payload == {'event': 'x'}
        assert _files(tmp_path) == []
        queue.close()
