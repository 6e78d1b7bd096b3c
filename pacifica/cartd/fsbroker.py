"""kombu's filesystem transport, with messages written atomically.

The stock transport opens the message file under its final name and then writes it, while
a consumer in another process moves and reads any file with that name without taking the
lock: it can read an empty message (observed as a JSON decode error in the worker, and a
lost task). Here a message is written under a temporary name the consumer ignores and
renamed into place. (No fsync: a message lost to a power cut is recovered by the workers'
re-drive of stale carts.)
"""
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

DRAIN_TIMEOUT = 0.25


class Channel(filesystem.Channel):
    """Filesystem channel whose ``_put`` is atomic."""

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
