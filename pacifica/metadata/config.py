"""Metadata's configuration keys (spec 7.2), declared once."""
from pacifica.common.config import DATABASE_KEYS, Key, server_keys

KEYS = (
    Key('database', 'peewee_url',
        'postgresql://pacifica:metadata@localhost:5432/pacifica_metadata', 'PEEWEE_URL',
        help='peewee database URL (postgresql://, sqlite:///, sqliteext:///)'),
) + tuple(key for key in DATABASE_KEYS if key.name != 'peewee_url') + (
    Key('database', 'prepared_statements', 'True', 'DATABASE_PREPARED_STATEMENTS', 'bool',
        help='PostgreSQL: run repeated reads as server-side prepared statements (False '
             'behind pgbouncer in transaction pooling mode)'),
    Key('notifications', 'disabled', 'False', 'NOTIFICATIONS_DISABLED', 'bool',
        help='do not send events (ORM, ingest, DOI)'),
    Key('notifications', 'url', 'http://127.0.0.1:8070/receive', 'NOTIFICATIONS_URL',
        help='where events are POSTed'),
    Key('notifications', 'timeout', '5', 'NOTIFICATIONS_TIMEOUT', 'float',
        help='seconds one delivery may take (not in upstream, which had no limit)'),
    Key('notifications', 'orm_eventtype', 'org.pacifica.metadata.orm',
        'NOTIFICATIONS_ORM_EVENT_TYPE', help='eventType of ORM events'),
    Key('notifications', 'orm_source', 'http://metadata.pacifica.org/{object_name}',
        'NOTIFICATIONS_ORM_SOURCE', help='source of ORM events ({object_name})'),
    Key('notifications', 'orm_eventid', 'metadata.orm.{object_name}.{uuid}',
        'NOTIFICATIONS_ORM_EVENTID', help='eventID of ORM events ({object_name}, {uuid})'),
    Key('notifications', 'ingest_eventtype', 'org.pacifica.metadata.ingest',
        'NOTIFICATIONS_INGEST_EVENT_TYPE', help='eventType of /ingest events'),
    Key('notifications', 'ingest_source', 'http://metadata.pacifica.org/transactions?_id={_id}',
        'NOTIFICATIONS_INGEST_SOURCE', help='source of /ingest events ({_id})'),
    Key('notifications', 'ingest_eventid', 'metadata.ingest.{_id}',
        'NOTIFICATIONS_INGEST_EVENTID', help='eventID of /ingest events ({_id})'),
    Key('notifications', 'doientry_eventtype', 'org.pacifica.metadata.doientry',
        'NOTIFICATIONS_DOIENTRY_EVENT_TYPE', help='eventType of DOI entry events'),
    Key('notifications', 'doientry_source', 'http://metadata.pacifica.org/doientry',
        'NOTIFICATIONS_DOIENTRY_SOURCE', help='source of DOI entry events'),
    Key('notifications', 'doientry_eventid', 'metadata.doi.{uuid}',
        'NOTIFICATIONS_DOIENTRY_EVENTID', help='eventID of DOI entry events ({uuid})'),
    Key('notifications', 'doiupdate_eventtype', 'org.pacifica.metadata.doiupdate',
        'NOTIFICATIONS_DOIUPDATE_EVENT_TYPE', help='eventType of DOI update events'),
    Key('notifications', 'doiupdate_source', 'http://metadata.pacifica.org/doientry?doi={doi}',
        'NOTIFICATIONS_DOIUPDATE_SOURCE', help='source of DOI update events ({doi})'),
    Key('notifications', 'doiupdate_eventid', 'metadata.doi.{doi}.{uuid}',
        'NOTIFICATIONS_DOIUPDATE_EVENTID', help='eventID of DOI update events ({doi}, {uuid})'),
    Key('reporting', 'timezone', 'America/Los_Angeles', 'METADATA_REPORTING_TIMEZONE',
        help='IANA zone of the report dates of /summaryinfo and /transactioninfo/summary '
             '(upstream hard-coded America/Los_Angeles)'),
    Key('elasticsearch', 'url', 'http://127.0.0.1:9200', 'ELASTICSEARCH_URL',
        help='documented upstream; nothing reads it'),
    # An /ingest document of 100 000 files is about 30 MB (some 300 bytes per file record);
    # every other body (object PUTs, uploads of key/values, DOIs) stays far below 4 MB.
    Key('server', 'max_ingest_body', '64 Mb', 'METADATA_MAX_INGEST_BODY', 'size',
        help='largest /ingest document (the other endpoints: max_request_body)'),
) + server_keys('METADATA', '4 Mb')
