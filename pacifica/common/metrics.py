"""The services' Prometheus metrics, declared once as data (:data:`FAMILIES`).

Service code records with one call (``metrics.inc(name, amount, **labels)`` or
``metrics.observe(name, seconds, **labels)``); ``GET /api/metrics`` renders them
(:func:`exposition`). Without ``prometheus_client`` installed every call is a no-op and the
endpoint answers 503 naming the extra to install.

Several processes (``uwsgi -p N``, cartd's Celery workers): set ``PROMETHEUS_MULTIPROC_DIR``
to a directory of the service's own, the same for all of its processes (cartd's workers
included, so their staging figures reach cartd's endpoint), emptied before the service
starts. Each process then writes its values there and whichever process answers a scrape
adds them all up (prometheus_client's multiprocess mode). Without it, a scrape sees only the
process that answered it.

Label values that come from clients (a uniqueid mode, a route) are bounded: after
:data:`MAX_LABEL_VALUES` distinct values of one label in a process, new ones are counted as
``other``, so a hostile client cannot grow the series without limit.
"""
import os
import threading
from dataclasses import dataclass
from typing import Tuple

MULTIPROC_ENV = 'PROMETHEUS_MULTIPROC_DIR'
MAX_LABEL_VALUES = 64
METHODS = frozenset(('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'))
# Downloads (carts, the proxy) can take minutes; the default buckets end at 10 s.
LATENCY_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, float('inf'))


@dataclass(frozen=True)
class Family:
    """One metric: its type, help text, label names and (histograms) buckets."""

    kind: str                      # 'counter' or 'histogram'
    help: str
    labels: Tuple[str, ...] = ()
    buckets: Tuple[float, ...] = LATENCY_BUCKETS


FAMILIES = {
    # every service
    'pacifica_http_requests_total': Family(
        'counter', 'HTTP requests answered, by route (the resource, ids folded into *), method '
                   'and status', ('route', 'method', 'status')),
    'pacifica_http_request_duration_seconds': Family(
        'histogram', 'Seconds from dispatch to the end of the response body, by route and method',
        ('route', 'method')),
    'pacifica_database_errors_total': Family(
        'counter', 'Requests that failed because the database was unavailable, by error class',
        ('error',)),
    # uniqueid
    'pacifica_uniqueid_ids_allocated_total': Family(
        'counter', 'Ids handed out, by mode', ('mode',)),
    # metadata
    'pacifica_metadata_objects_written_total': Family(
        'counter', 'Rows created, updated or deleted, by object and action',
        ('object', 'action')),
    'pacifica_metadata_events_total': Family(
        'counter', 'Notification events, by result (sent or failed)', ('result',)),
    # cartd (the staging figures come from the Celery workers)
    'pacifica_cartd_staged_bytes_total': Family(
        'counter', 'Bytes copied from the archive into the cart volume'),
    'pacifica_cartd_staging_seconds': Family(
        'histogram', 'Seconds to stage one file, from its first request to the archive until it '
                     'is verified on the volume', ('result',)),
    # proxy
    'pacifica_proxy_sent_bytes_total': Family(
        'counter', 'File bytes streamed to clients'),
    'pacifica_proxy_hash_failures_total': Family(
        'counter', 'Files the archive delivered with a hash or length other than metadata says'),
}

# Gauges a service reads at each scrape (see operations.Probes.gauges).
GAUGES = {
    'pacifica_cartd_carts': ('Carts that are not deleted, by state', ('state',)),
}


class _Registry:
    """The metric objects of this process, created on first use."""

    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}
        self.seen = {}


_REGISTRY = _Registry()


def available():
    """Whether prometheus_client is installed."""
    try:
        import prometheus_client  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        return False
    return True


def _metric(name):
    """The prometheus_client object of family ``name`` (None without prometheus_client)."""
    found = _REGISTRY.objects.get(name)
    if found is not None:
        return found
    with _REGISTRY.lock:
        if name in _REGISTRY.objects:
            return _REGISTRY.objects[name]
        try:
            import prometheus_client  # pylint: disable=import-outside-toplevel
        except ImportError:
            return None
        family = FAMILIES[name]
        if family.kind == 'counter':
            made = prometheus_client.Counter(name, family.help, family.labels)
        else:
            made = prometheus_client.Histogram(name, family.help, family.labels,
                                               buckets=family.buckets)
        _REGISTRY.objects[name] = made
        return made


def _bounded(name, label, value):
    """``value``, or ``other`` once this label has seen MAX_LABEL_VALUES distinct values."""
    value = str(value)
    key = (name, label)
    with _REGISTRY.lock:
        seen = _REGISTRY.seen.setdefault(key, set())
        if value in seen:
            return value
        if len(seen) >= MAX_LABEL_VALUES:
            return 'other'
        seen.add(value)
        return value


def _child(name, labels):
    metric = _metric(name)
    if metric is None:
        return None
    family = FAMILIES[name]
    if set(labels) != set(family.labels):
        raise ValueError('{} takes the labels {}, got {}'.format(name, family.labels,
                                                                 sorted(labels)))
    if not family.labels:
        return metric
    return metric.labels(**{label: _bounded(name, label, labels[label])
                            for label in family.labels})


def series(name, **labels):
    """The series of ``name`` for ``labels`` (``None`` when metrics are off), for a hot path
    that looks it up once and then counts on it directly (label checks and bounding, as in
    :func:`inc`, are done here)."""
    return _child(name, labels)


def inc(name, amount=1, **labels):
    """Add ``amount`` to counter ``name``."""
    child = _child(name, labels)
    if child is not None and amount:
        child.inc(amount)


def observe(name, value, **labels):
    """Record ``value`` in histogram ``name``."""
    child = _child(name, labels)
    if child is not None:
        child.observe(value)


def record_request(route, method, status, seconds):
    """Count one answered request (called once per request by the operations hook)."""
    method = method if method in METHODS else 'other'
    inc('pacifica_http_requests_total', route=route, method=method, status=str(status))
    observe('pacifica_http_request_duration_seconds', seconds, route=route, method=method)


def prepare(service):
    """Create the label-less families of ``service`` (and the shared ones) up front, so a
    scrape shows them at zero before anything happened."""
    prefix = 'pacifica_{}_'.format(service)
    for name, family in FAMILIES.items():
        if not family.labels and name.startswith(prefix):
            _metric(name)


def exposition(gauges=None):
    """``(body, content type)`` of the Prometheus text format for this service.

    ``gauges``: a callable returning ``(name, labels, value)`` tuples read now.
    """
    import prometheus_client  # pylint: disable=import-outside-toplevel
    import prometheus_client.exposition  # pylint: disable=import-outside-toplevel
    from prometheus_client.core import GaugeMetricFamily  # pylint: disable=import-outside-toplevel

    body = []
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess  # pylint: disable=import-outside-toplevel
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body.append(prometheus_client.generate_latest(registry))
    else:
        body.append(prometheus_client.generate_latest(prometheus_client.REGISTRY))
    if gauges is not None:
        families = {}
        for name, labels, value in gauges():
            text, label_names = GAUGES[name]
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(name, text, labels=label_names)
            family.add_metric([str(labels[label]) for label in label_names], value)

        class _Now:  # pylint: disable=too-few-public-methods
            def collect(self):  # pylint: disable=missing-function-docstring
                return list(families.values())

        extra = prometheus_client.CollectorRegistry(auto_describe=False)
        extra.register(_Now())
        body.append(prometheus_client.generate_latest(extra))
    # The classic text format every Prometheus version reads (the body is the same for our
    # plain metric names); prometheus_client's newest default is 1.0.0.
    content_type = getattr(prometheus_client.exposition, 'CONTENT_TYPE_PLAIN_0_0_4',
                           'text/plain; version=0.0.4; charset=utf-8')
    return b''.join(body), content_type
