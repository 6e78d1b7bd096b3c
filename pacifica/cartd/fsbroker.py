"""kombu's filesystem transport, with messages written atomically and kept until acked.

Written atomically: the stock transport opens the message file under its final name and
then writes it, while a consumer in another process moves and reads any file with that name
without taking the lock: it can read an empty message (observed as a JSON decode error in
the worker, and a lost task). Here a message is written under a temporary name the consumer
ignores and renamed into place. (No fsync: a message lost to a power cut is recovered by the
workers' re-drive of stale carts.)

Kept until acked: the stock consumer deletes a message the moment it takes it, so a worker
killed with messages in hand (running with late acks, prefetched, waiting for a countdown)
lost them for good. Here a consumer moves what it takes into a directory of its own,
``unacked/<host>-<pid>-<id>/`` beside the queue, and deletes a message only once it is
acked (or rejected; a requeued one is put back first). The directory holds a file locked
with ``lockf`` for the consumer's life; a POSIX lock is the process's own (its forked pool
does not inherit it) and goes with it when it dies, so any consumer that can take the lock
of another's directory knows that consumer is dead and moves its messages back to the
queue: at once when a worker starts, and every few seconds while it runs.
"""
import fcntl
import os
import socket
import uuid
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

DRAIN_TIMEOUT = 0.25


RESTORE_EVERY = 2.0   # seconds between two looks for dead consumers' messages
LOCK_NAME = 'owner.lock'


class QoS(virtual.QoS):
    """Delivered messages are deleted from disk only when they are settled."""

    def ack(self, delivery_tag):
        super().ack(delivery_tag)
        self.channel.settled(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        super().reject(delivery_tag, requeue=requeue)   # a requeued one is put back first
        self.channel.settled(delivery_tag)

    def restore_unacked(self):
        """On close: the unsettled messages go back to the queue (as kombu does), then
        their held copies are dropped."""
        tags = list(self._delivered)
        result = super().restore_unacked()
        for tag in tags:
            self.channel.settled(tag)
        return result


def _try_lock(path):
    """An open descriptor of ``path`` locked exclusively, or None if someone holds it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class Channel(filesystem.Channel):
    """Filesystem channel whose ``_put`` is atomic and whose messages survive a consumer
    that dies before acking them."""

    QoS = QoS
    _held_dir = None
    _held_lock = None
    _last_restore = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._held = {}   # delivery tag -> the message's file in _held_dir
        self._no_ack = set()   # queues consumed without acks (Celery's control, events)

    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        if no_ack:
            self._no_ack.add(queue)
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_get(self, queue, no_ack=False, **kwargs):
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self.settled(message.delivery_tag)   # never acked: nothing to keep
        return message

    def _unacked_root(self):
        return os.path.join(os.path.dirname(os.path.abspath(self.data_folder_in)), 'unacked')

    def _holding(self):
        """This consumer's directory, made on first use under a temporary name (so no one
        sees it before its lock is held) and then renamed into place."""
        if self._held_dir is None:
            root = self._unacked_root()
            os.makedirs(root, exist_ok=True)
            temp = os.path.join(root, '.new-{}'.format(uuid.uuid4().hex))
            os.mkdir(temp, 0o700)
            lock = os.open(os.path.join(temp, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            final = os.path.join(root, '{}-{}-{}'.format(
                socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8]))
            os.rename(temp, final)
            self._held_dir, self._held_lock = final, lock
        return self._held_dir

    def restore_abandoned(self):
        """Move the messages of dead consumers back to the queue; returns how many."""
        self._last_restore = monotonic()
        root = self._unacked_root()
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return 0
        restored = 0
        # A process's POSIX locks never block itself: skip this process's own directories.
        mine = '{}-{}-'.format(socket.gethostname(), os.getpid())
        for name in names:
            folder = os.path.join(root, name)
            if name.startswith('.') or name.startswith(mine):
                continue
            lock = _try_lock(os.path.join(folder, LOCK_NAME))
            if lock is None:
                continue   # its consumer is alive (or the directory is not one of ours)
            try:
                for message in sorted(os.listdir(folder)):
                    if message.endswith('.msg'):
                        try:
                            os.rename(os.path.join(folder, message),
                                      os.path.join(self.data_folder_in, message))
                            restored += 1
                        except OSError:
                            pass
                os.unlink(os.path.join(folder, LOCK_NAME))
                os.rmdir(folder)
            except OSError:
                pass
            finally:
                os.close(lock)
        return restored

    def _get(self, queue):
        """Take the next message of ``queue`` into this consumer's directory."""
        if self._last_restore is None or monotonic() - self._last_restore >= RESTORE_EVERY:
            self.restore_abandoned()
        wanted = '{}.msg'.format(queue)
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition('.')[2] != wanted:
                continue
            if queue in self._no_ack:   # never acked: taken under a name no one reads
                held = os.path.join(self.data_folder_in, 'taken-' + uuid.uuid4().hex)
            else:
                held = os.path.join(self._holding(), filename)
            try:
                os.rename(os.path.join(self.data_folder_in, filename), held)
            except OSError:
                continue   # another consumer took it first
            try:
                with open(held, 'rb') as handle:
                    payload = loads(bytes_to_str(handle.read()))
            except (OSError, ValueError) as exc:
                raise ChannelError('Cannot read file {!r} from queue.'.format(held)) from exc
            if queue in self._no_ack:
                os.unlink(held)   # never acked: nothing to keep
            else:
                self._held[payload['properties']['delivery_tag']] = held
            return payload
        raise Empty()

    def settled(self, delivery_tag):
        """A message was acked or rejected: drop its file."""
        path = self._held.pop(delivery_tag, None)
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass

    def close(self):
        """Close as kombu does (which puts unacked messages back when it restores at
        shutdown), then hand back whatever is still held and remove the directory."""
        super().close()
        if self._held_dir is None:
            return
        for tag, path in list(self._held.items()):
            try:
                os.rename(path, os.path.join(self.data_folder_in, os.path.basename(path)))
            except OSError:
                pass
            self._held.pop(tag, None)
        try:
            os.unlink(os.path.join(self._held_dir, LOCK_NAME))
            os.rmdir(self._held_dir)
        except OSError:
            pass
        os.close(self._held_lock)
        self._held_dir = self._held_lock = None

    def _put(self, queue, payload, **kwargs):
        name = '{}_{}.{}.msg'.format(int(round(monotonic() * 1000)), uuid.uuid4(), queue)
        final = os.path.join(self.data_folder_out, name)
        # No '.' before the queue name: the consumer's filter never matches a temp file.
        temp = os.path.join(self.data_folder_out, 'partial-{}'.format(uuid.uuid4().hex))
        try:
            with open(temp, 'wb') as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.rename(temp, final)
        except OSError as exc:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise ChannelError('Cannot add message to {!r}: {}'.format(
                self.data_folder_out, exc)) from exc


class Transport(filesystem.Transport):
    """The filesystem transport with :class:`Channel`."""

    Channel = Channel
    global_state = filesystem.Transport.global_state

    def drain_events(self, connection, timeout=None):
        """Wait for messages at most DRAIN_TIMEOUT seconds at a time: a worker on a transport
        without an event loop asks with a 2 s timeout and looks at its shutdown flag only in
        between, which made every stop wait up to 2 s for nothing."""
        if timeout is not None:
            timeout = min(timeout, DRAIN_TIMEOUT)
        return super().drain_events(connection, timeout=timeout)
