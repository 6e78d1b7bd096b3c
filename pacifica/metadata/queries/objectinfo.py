"""``/objectinfo`` (spec 2): what the 45 objects look like, how many rows match, and
hashes of chosen columns for comparing two catalogs.

Filters go through the generic filter parser, so a bad value (``updated=bad``) is the same
400 the object endpoints give. Section 18.11 fix: a hash list with no columns hashes the
object's primary-key columns as the JSON form names them (``_id``, not ``id``).
"""
import datetime
import hashlib

from pacifica.common.database import family_of, peewee

from ..objects import OBJECTS
from ..orm import DB
from . import filters, read
from .reasons import fail

EPOCH_TEXT = '1970-01-01 00:00:00'


def _find(name):
    for obj in OBJECTS:
        if name and obj.name == name.lower():
            return obj
    return None


def _pk_names(obj):
    return [field.name for field in obj.pk_fields]


def _field_list(obj):
    model = obj.model
    own = [f.name for f in model._meta.sorted_fields  # pylint: disable=protected-access
           if f.name not in ('created', 'updated', 'deleted')]
    pks = _pk_names(obj)
    first = pks if len(pks) == 1 else []
    return first + ['created', 'updated', 'deleted'] + [n for n in own if n not in first]


def _field_types(obj):
    fields = obj.model._meta.fields  # pylint: disable=protected-access
    return {name: fields[name].field_type for name in _field_list(obj)}


def _table(model):
    return model._meta.table_name  # pylint: disable=protected-access


def overview(obj, params):
    """The overview of one object (spec 2, case 4)."""
    model = obj.model
    meta = model._meta  # pylint: disable=protected-access
    query = filters.parse(obj, params, 'get', family_of(DB.obj))
    count = model.select()
    if query.where is not None:
        count = count.where(query.where)
    last = model.select(peewee.fn.MAX(model.updated)).scalar()
    if isinstance(last, str):
        last = datetime.datetime.fromisoformat(last)
    fks = [f for f in meta.sorted_fields if isinstance(f, peewee.ForeignKeyField)]
    return {
        'callable_name': obj.name,
        'last_changed_date': last.strftime('%Y-%m-%d %H:%M:%S') if last else EPOCH_TEXT,
        'primary_keys': _pk_names(obj),
        'field_list': _field_list(obj),
        'field_types': _field_types(obj),
        'foreign_keys': [f.name for f in fks],
        'related_models': {f.name: {'db_column': f.column_name, 'db_table': _table(f.rel_model),
                                    'primary_key': f.rel_field.name} for f in fks},
        'related_names': sorted({ref.backref for ref in meta.backrefs}),
        'record_count': count.count(),
    }


def hashlist(obj, params):
    """``hash_list``/``hash_lookup`` over the named columns of the live matching rows."""
    columns = sorted(params) or ['_id' if name == 'id' else name for name in _pk_names(obj)]
    filters_only = {name: value for name, value in params.items() if value not in ('', None)}
    filters_only.pop('deleted', None)   # deleted rows are always excluded
    query = filters.parse(obj, filters_only, 'get', family_of(DB.obj))
    query.recursion_depth = 0
    hash_list, lookup = [], {}
    for row in read.read(obj, query):
        picked = {col: row[col] for col in columns if col in row}
        digest = hashlib.md5(''.join(str(picked[col]) for col in sorted(picked)).encode(
            'utf-8')).hexdigest()
        hash_list.append(digest)
        lookup[digest] = {'key_list': picked, 'index_hash': digest}
    return {'hash_list': hash_list, 'hash_lookup': lookup}


def objectinfo(object_class_name=None, operation=None, params=None):
    """``/objectinfo[/<name>[/<operation>]]``."""
    params = dict(params or {})
    params.pop('object_class_name', None)
    params.pop('operation', None)
    if not object_class_name:
        return [obj.name for obj in OBJECTS]
    if object_class_name == 'list':
        return {'available_objects': {obj.name: obj.model.__name__ for obj in OBJECTS}}
    obj = _find(object_class_name)
    if obj is None:
        fail(404, 'Not Found', "'{}' is not a valid class object name".format(
            object_class_name))
    if operation == 'hashlist':
        return hashlist(obj, params)
    return overview(obj, params)
