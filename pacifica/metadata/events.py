"""ORM notifications: CloudEvents 0.1 POSTed to ``notifications.url`` (spec 8, D11 fixes).

Write functions return an :class:`Event`; the caller publishes it only after the transaction
committed, so a rolled-back write announces nothing. Delivery happens on one background
thread with a bounded timeout: a slow or dead receiver never holds up a request or an open
transaction, and a failure is only logged. Empty events are not sent.
"""
import datetime
import logging
import queue
import threading
import uuid
from dataclasses import dataclass, field
from typing import List

import requests

from pacifica.common import metrics

LOGGER = logging.getLogger(__name__)
QUEUE_SIZE = 1000


@dataclass
class Event:
    """What a write did: ``method`` insert/update/delete on ``obj_type`` rows ``keys``."""

    obj_type: str
    method: str
    keys: List[dict] = field(default_factory=list)


@dataclass
class DocumentEvent:
    """A whole-document event (``ingest``, ``doientry``, ``doiupdate``): its type, source
    and id come from the ``<kind>_*`` keys, formatted with ``fields``; ``data`` is sent as is."""

    kind: str
    data: object
    fields: dict = field(default_factory=dict)


def _empty(event):
    if event is None:
        return True
    return isinstance(event, Event) and not event.keys


def _count_written(event):
    """Rows an ORM event reports written; a document (ingest, DOI) counts once."""
    if isinstance(event, Event):
        metrics.inc('pacifica_metadata_objects_written_total', len(event.keys),
                    object=event.obj_type, action=event.method)
    elif event is not None:
        metrics.inc('pacifica_metadata_objects_written_total', object=event.kind,
                    action='document')


class Notifier:
    """Builds and delivers ORM events as the ``[notifications]`` section says."""

    def __init__(self, config):
        section = config.section('notifications')
        self.disabled = section['disabled']
        self.url = section['url']
        self.event_type = section['orm_eventtype']
        self.source = section['orm_source']
        self.event_id = section['orm_eventid']
        self.timeout = section['timeout']
        self.templates = {kind: (section[kind + '_eventtype'], section[kind + '_source'],
                                 section[kind + '_eventid'])
                          for kind in ('ingest', 'doientry', 'doiupdate')}
        self._queue = None
        self._lock = threading.Lock()

    def body(self, event):
        """The CloudEvents document (upstream key order and payload keys)."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
        if isinstance(event, DocumentEvent):
            event_type, source, event_id = self.templates[event.kind]
            names = dict(event.fields, uuid=uuid.uuid4())
            return {
                'cloudEventsVersion': '0.1',
                'eventType': event_type,
                'source': source.format(**names),
                'eventID': event_id.format(**names),
                'eventTime': now.isoformat(),
                'extensions': {},
                'contentType': 'application/json',
                'data': event.data,
            }
        return {
            'cloudEventsVersion': '0.1',
            'eventType': self.event_type,
            'source': self.source.format(object_name=event.obj_type),
            'eventID': self.event_id.format(object_name=event.obj_type, uuid=uuid.uuid4()),
            'eventTime': now.isoformat(),
            'extensions': {},
            'contentType': 'application/json',
            'data': {'obj_type': event.obj_type, 'obj_primary_keys': event.keys,
                     'method': event.method},
        }

    def send(self, event):
        """Deliver one event now (the admin CLI, and the delivery thread); True on 2xx."""
        if self.disabled or _empty(event):
            return False
        try:
            resp = requests.post(self.url, json=self.body(event), timeout=self.timeout)
            resp.raise_for_status()
            metrics.inc('pacifica_metadata_events_total', result='sent')
            return True
        except (requests.RequestException, ValueError) as exc:
            metrics.inc('pacifica_metadata_events_total', result='failed')
            LOGGER.warning('Unable to send notification: %s', exc)
            return False

    def publish(self, event):
        """Queue an event for delivery; call only after the write committed."""
        _count_written(event)
        if self.disabled or _empty(event):
            return
        with self._lock:
            if self._queue is None:
                # Started on first use: uWSGI forks workers after import, threads do not
                # survive a fork.
                self._queue = queue.Queue(QUEUE_SIZE)
                threading.Thread(target=self._deliver, name='metadata-events',
                                 daemon=True).start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            metrics.inc('pacifica_metadata_events_total', result='failed')
            LOGGER.warning('Unable to send notification: %d events already waiting',
                           QUEUE_SIZE)

    def _deliver(self):
        while True:
            event = self._queue.get()
            try:
                self.send(event)
            finally:
                self._queue.task_done()
