"""``/objectinfo``, ``/fileinfo``, ``/tkvinfo``, ``/tkvupload``, ``/doiupload``,
``/migrate`` (spec 2, 8-12)."""
import cherrypy

from ..queries import doi, keyvalues, migrate
from ..queries.objectinfo import objectinfo as objectinfo_query
from ..queries.reasons import fail
from . import declare as d
from .base import Container, Get, Leaf, Post, body, endpoint

XML_TYPES = ('application/xml', 'text/xml')


class ObjectInfo(Leaf):
    """``GET /objectinfo[/<object_class_name>[/<operation>]]?<filters>``."""

    args = (d.Arg('object_class_name', d.STRING, 'an object name ("users"), or "list"'),
            d.Arg('operation', d.STRING, '"hashlist", else the overview'))
    answers = {'GET': d.OBJECT_INFO}
    filters = True

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The object list, an overview or a hash list."""
        found = self.read(vpath, params)
        return objectinfo_query(found['object_class_name'], found['operation'], params)


class NewEntry(Leaf):
    """``POST /doiupload/new_entry``."""

    bodies = {'POST': d.DOI_ENTRIES}
    answers = {'POST': d.NEW_ENTRY}

    def __init__(self, notifier):
        self.notifier = notifier

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Register DOIs; the event goes out after the commit."""
        self.read(vpath, params, 'POST')
        result, event = doi.new_entry(body())
        self.notifier.publish(event)
        return result


class Update(Leaf):
    """``POST /doiupload/update`` with an OSTI XML document."""

    # the body is XML: the JSON tool stays off and the raw bytes are read here
    _cp_config = {'tools.metadata_json_in.on': False}
    bodies = {'POST': {'type': 'string', 'description': 'an OSTI records document'}}
    answers = {'POST': {'type': 'string', 'description': 'the DOI of the first record'}}

    def __init__(self, notifier):
        self.notifier = notifier

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Apply the first record of the document."""
        self.read(vpath, params, 'POST')
        # the media type without its parameters ("application/xml; charset=utf-8")
        content_type = cherrypy.request.headers.get('Content-Type', '')
        if content_type.split(';', 1)[0].strip().lower() not in XML_TYPES:
            fail(415, 'Unsupported Media Type',
                 'Expected an entity of content type {}'.format(', '.join(XML_TYPES)))
        raw = cherrypy.request.body.read()
        result, event = doi.update(raw)
        self.notifier.publish(event)
        return result


def objectinfo():
    """The ``/objectinfo`` resource."""
    return ObjectInfo()


def fileinfo():
    """The ``/fileinfo`` tree."""
    tree = Container()
    tree.file_details = Post(keyvalues.file_details, body=d.IDS, answer=d.FILE_DETAILS)
    tree.earliest_latest = Post(
        keyvalues.earliest_latest,
        d.Arg('item_type', {'enum': list(keyvalues.ITEM_COLUMNS)}, required=True),
        d.Arg('time_basis', {'type': 'string', 'enum': list(
            keyvalues.SUBMITTED + keyvalues.MODIFIED + keyvalues.CREATED)},
              'any letter case', required=True),
        body=d.PROJECT_IDS, answer=d.EARLIEST_LATEST)
    tree.files_for_keyvalue = Get(
        keyvalues.files_for_keyvalue,
        d.Arg('key', d.TEXT, 'matched in any letter case', required=True),
        d.Arg('value', d.STRING, required=True), answer=d.array(d.FILE))
    return tree


def tkvinfo():
    """The ``/tkvinfo`` tree."""
    tree = Container()
    tree.values_for_key = Get(
        keyvalues.values_for_key, d.Arg('key', d.TEXT, required=True),
        d.Arg('start_time', d.WHEN, 'default 1970-01-01'),
        d.Arg('end_time', d.WHEN, 'default now; after start_time'),
        answer=d.keyed(d.array(d.INTEGER), 'value -> transaction ids'))
    tree.kv_for_transaction = Get(keyvalues.kv_for_transaction,
                                  d.Arg('transaction_id', d.ID, required=True),
                                  answer=d.keyed(d.STRING, 'key -> value'))
    return tree


def tkvupload():
    """The ``/tkvupload`` tree."""
    tree = Container()
    tree.upload_entries = Post(keyvalues.upload_entries, body=d.TKV_UPLOAD, answer=d.SUCCESS)
    return tree


def doiupload(notifier):
    """The ``/doiupload`` tree."""
    tree = Container()
    tree.new_entry = NewEntry(notifier)
    tree.update = Update(notifier)
    tree.update_modified_time = Post(doi.update_modified_time, body=d.DOIS,
                                     answer=d.record({'num_records_updated': d.INTEGER}))
    return tree


def migration():
    """The ``/migrate`` tree."""
    tree = Container()
    tree.instruments = Get(migrate.instruments, answer=d.MIGRATE_INSTRUMENTS)
    tree.projects = Get(migrate.projects, answer=d.MIGRATE_PROJECTS)
    tree.users = Get(migrate.users, answer=d.MIGRATE_USERS)
    return tree
