"""``/objectinfo``, ``/fileinfo``, ``/tkvinfo``, ``/tkvupload``, ``/doiupload``,
``/migrate`` (spec 2, 8-12)."""
import cherrypy

from ..queries import doi, keyvalues, migrate
from ..queries.objectinfo import objectinfo as objectinfo_query
from ..queries.reasons import fail
from .base import Container, Get, Leaf, Post, args, body, endpoint

XML_TYPES = ('application/xml', 'text/xml')


class ObjectInfo(Leaf):
    """``GET /objectinfo[/<object_class_name>[/<operation>]]?<filters>``."""

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The object list, an overview or a hash list."""
        found = args(vpath, params, 'object_class_name', 'operation')
        return objectinfo_query(found['object_class_name'], found['operation'], params)


class NewEntry(Leaf):
    """``POST /doiupload/new_entry``."""

    def __init__(self, notifier):
        self.notifier = notifier

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Register DOIs; the event goes out after the commit."""
        args(vpath, params)
        result, event = doi.new_entry(body())
        self.notifier.publish(event)
        return result


class Update(Leaf):
    """``POST /doiupload/update`` with an OSTI XML document."""

    # the body is XML: the JSON tool stays off and the raw bytes are read here
    _cp_config = {'tools.metadata_json_in.on': False}

    def __init__(self, notifier):
        self.notifier = notifier

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Apply the first record of the document."""
        args(vpath, params)
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
    tree.file_details = Post(keyvalues.file_details)
    tree.earliest_latest = Post(keyvalues.earliest_latest, 'item_type', 'time_basis')
    tree.files_for_keyvalue = Get(keyvalues.files_for_keyvalue, 'key', 'value')
    return tree


def tkvinfo():
    """The ``/tkvinfo`` tree."""
    tree = Container()
    tree.values_for_key = Get(keyvalues.values_for_key, 'key', 'start_time', 'end_time')
    tree.kv_for_transaction = Get(keyvalues.kv_for_transaction, 'transaction_id')
    return tree


def tkvupload():
    """The ``/tkvupload`` tree."""
    tree = Container()
    tree.upload_entries = Post(keyvalues.upload_entries)
    return tree


def doiupload(notifier):
    """The ``/doiupload`` tree."""
    tree = Container()
    tree.new_entry = NewEntry(notifier)
    tree.update = Update(notifier)
    tree.update_modified_time = Post(doi.update_modified_time)
    return tree


def migration():
    """The ``/migrate`` tree."""
    tree = Container()
    tree.instruments = Get(migrate.instruments)
    tree.projects = Get(migrate.projects)
    tree.users = Get(migrate.users)
    return tree
