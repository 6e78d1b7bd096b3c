"""Create, update and delete (spec 4.3-4.5 with the D1-D9, D24 fixes).

Every function validates first, then does its database work in ONE transaction, and returns
an :class:`events.Event` (or None) for the caller to publish *after* the commit. Nothing is
half-written: a bad element, a missing FK target or a constraint violation rolls back all.
"""
import operator
import uuid
from collections import defaultdict
from itertools import chain

from pacifica.common.database import family_of, peewee
from pacifica.common.errors import TooLarge

from ..events import Event
from ..orm import DB, Relationships, utc_now
from . import InputError, NotFound
from .coerce import column_coercer, coercer, iso_column, target_field

DUPLICATE_MESSAGE = ('Could not insert records [ID: {}] due to duplicated ID values. '
                     'Remove or change the duplicated id values')
NOTHING_SELECTED = "Get args didn't select any objects."
MAX_PUT_ELEMENTS = 100000   # objects per PUT (the JSON reader's bound is the same)
SQL_VARIABLES = 30000   # below SQLite's 32766 and PostgreSQL's 65535 bind parameters
LOOKUP_CHUNK = 5000


def transaction():
    """A write transaction. SQLite takes its write lock up front (IMMEDIATE), so two writers
    wait for each other instead of one failing with "database is locked" mid-way."""
    db = DB.obj
    if family_of(db) == 'sqlite':
        return db.atomic('IMMEDIATE')
    return db.atomic()


def _conflict(exc):
    text = str(exc).strip().splitlines()
    return InputError('the request conflicts with the data: {}'.format(
        text[0] if text else type(exc).__name__))


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- body values ------------------------------------------------------------------------
def _body_keys(obj):
    """JSON body key -> field name for what PUT/POST read (``_id`` stands for ``id``)."""
    keys = {name: name for name in obj.fields if name != 'id'}
    if obj.has_id:
        keys['_id'] = 'id'
    for name in ('created', 'updated', 'deleted'):
        keys[name] = name
    return keys


def _field(obj, name):
    return obj.fields.get(name) or getattr(obj.model, name)


class _Plan:
    """What PUT and POST do with the fields of one object type, worked out once: the body
    keys read (key, field name, its coercer, lower-cased?) and, for PUT, how each column of a new
    row is filled when the body does not give it."""

    AUTO, CALL, VALUE, REQUIRED = range(4)

    def __init__(self, obj):
        self.reads = tuple((key, name, coercer(_field(obj, name)), name in obj.lower)
                           for key, name in _body_keys(obj).items())
        # the same, a column at a time (and which are times, bound as text on SQLite)
        self.columns = tuple((key, name, column_coercer(_field(obj, name)), lower,
                              isinstance(_field(obj, name), peewee.DateTimeField))
                             for key, name, _, lower in self.reads)
        self.by_row = 'relationship' in obj.fields   # rule R: names are looked up per row
        self.null_id_is_auto = isinstance(obj.fields.get('id'), peewee.AutoField)
        fills = []
        for name, field in obj.fields.items():
            if isinstance(field, peewee.AutoField):
                fills.append((name, self.AUTO, None))   # the sequence supplies it
            elif field.default is not None:
                fills.append((name, self.CALL if callable(field.default) else self.VALUE,
                              field.default))
            elif field.null:
                fills.append((name, self.VALUE, None))
            else:
                fills.append((name, self.REQUIRED, '_id' if name == 'id' else name))
        self.fills = tuple(fills)


_PLANS = {}


def _plan(obj):
    entry = _PLANS.get(id(obj))
    if entry is None or entry[0] is not obj:
        entry = _PLANS[id(obj)] = (obj, _Plan(obj))
    return entry[1]


def _values(obj, item):
    """The recognised keys of one body object, coerced; unknown keys are ignored (spec)."""
    values = {}
    for key, name, convert, lower in _plan(obj).reads:
        if key in item:
            value = convert(key, item[key])
            if lower and isinstance(value, str):
                value = value.lower()
            values[name] = value
    return values


def _relationship(obj, item, values, names):
    """Rule R: ``relationship`` (a uuid) wins over ``relationship_name`` (looked up later)."""
    if 'relationship' in obj.fields and 'relationship' not in values \
            and item.get('relationship_name') is not None:
        name = item['relationship_name']
        if not isinstance(name, str):
            raise InputError("'relationship_name' must be a string")
        names.add(name)
        values['relationship'] = ('name', name)


def _resolve_names(values_list, names):
    """Replace relationship names by their uuids (soft-deleted rows count, as upstream)."""
    if not names:
        return
    found = dict(Relationships.select(Relationships.name, Relationships.uuid)
                 .where(Relationships.name.in_(sorted(names))).tuples())
    missing = sorted(names - set(found))
    if missing:
        raise InputError("'relationship_name': no relationship named {}".format(
            ', '.join(map(repr, missing))))
    for values in values_list:
        ref = values.get('relationship')
        if isinstance(ref, tuple):
            values['relationship'] = found[ref[1]]


def _check_references(obj, columns):
    """D9: every FK value must name an existing row (soft-deleted targets are accepted, as
    upstream). One query per FK field and request, not per row (D23). ``columns``: dicts of
    field name -> values (the columns of a batch of rows)."""
    for name, field in obj.fields.items():
        if not isinstance(field, peewee.ForeignKeyField):
            continue
        wanted = set()
        for values in columns:
            wanted.update(values.get(name, ()))
        wanted.discard(None)
        if not wanted:
            continue
        found = present(field.rel_model, field.rel_field, wanted)
        missing = sorted(wanted - found, key=str)
        if missing:
            shown = ', '.join(str(v) for v in missing[:10]) + (' ...' if len(missing) > 10 else '')
            raise InputError('{!r}: no {} row with key {}'.format(
                name, field.rel_model._meta.table_name, shown))  # pylint: disable=protected-access


# -- PUT --------------------------------------------------------------------------------
def _new_row(obj, item, now, names):
    plan = _plan(obj)
    if plan.null_id_is_auto and item.get('_id', 0) is None:
        item = {k: v for k, v in item.items() if k != '_id'}   # null _id: let the sequence pick
    values = _values(obj, item)
    _relationship(obj, item, values, names)
    row = {'created': values.pop('created', now), 'updated': values.pop('updated', now),
           'deleted': values.pop('deleted', None)}
    if row['created'] is None or row['updated'] is None:
        raise InputError('{!r} may not be null'.format(
            'created' if row['created'] is None else 'updated'))
    for name, how, default in plan.fills:
        if name in values:
            row[name] = values[name]
        elif how == _Plan.VALUE:
            row[name] = default
        elif how == _Plan.CALL:
            row[name] = default()
        elif how == _Plan.REQUIRED:
            raise InputError('{!r} is required'.format(default))
    return row


def present(model, field, wanted):
    """The values among ``wanted`` that column ``field`` of ``model`` holds (live or
    soft-deleted rows). The SELECT is written out: peewee's builder costs more than the
    database for a 1,000-value IN list."""
    sql = 'SELECT "{0}" FROM "{1}" WHERE "{0}" IN ({{}})'.format(
        field.column_name, model._meta.table_name)  # pylint: disable=protected-access
    present = set()
    for chunk in _chunks(sorted(wanted, key=str), LOOKUP_CHUNK):
        cursor = DB.obj.execute_sql(sql.format(', '.join([DB.obj.param] * len(chunk))),
                                    [field.db_value(v) for v in chunk])
        present.update(field.python_value(v) for (v,) in cursor.fetchall())
    return present


def _check_new_ids(obj, ids):
    """D7: an explicit id (``ids``, in row order) already used (live or soft-deleted) or
    repeated in the batch."""
    if not ids:
        return ids
    seen, repeated = set(ids), []
    if len(seen) < len(ids):
        seen = set()
        for value in ids:
            if value in seen and value not in repeated:
                repeated.append(value)
            seen.add(value)
    taken = present(obj.model, obj.fields['id'], seen)
    clash = [v for v in ids if v in taken or v in repeated]
    if clash:
        unique = list(dict.fromkeys(clash))
        raise InputError(DUPLICATE_MESSAGE.format(','.join(str(v) for v in unique)))
    return ids


def _advance_sequence(obj):
    """D6: after explicit ids on PostgreSQL, move the id sequence past the largest id."""
    table = obj.table
    DB.execute_sql(
        'SELECT setval(pg_get_serial_sequence(%s, %s), '
        'GREATEST((SELECT COALESCE(MAX("id"), 0) FROM "{0}"), 1), '
        '(SELECT COUNT(*) FROM "{0}" WHERE "id" >= 1) > 0)'.format(table),
        ('"{}"'.format(table), 'id'))


def _insert_sql(obj, columns, count, returning):
    """``INSERT INTO t (cols) VALUES (...), (...) [RETURNING pk]`` written out: peewee's
    builder costs more than the database for a 1,000-row batch."""
    meta = obj.model._meta  # pylint: disable=protected-access
    row = '({})'.format(', '.join([DB.obj.param] * len(columns)))
    sql = 'INSERT INTO "{}" ({}) VALUES {}'.format(
        meta.table_name, ', '.join('"{}"'.format(meta.fields[n].column_name) for n in columns),
        ', '.join([row] * count))
    if returning:
        sql += ' RETURNING {}'.format(', '.join('"{}"'.format(f.column_name)
                                                for f in obj.pk_fields))
    return sql


# peewee's own casts of the types coerce() already returns (str, int, float, bool,
# datetime): a field whose db_value is one of these passes a coerced value through unchanged
_CASTS = frozenset((peewee.CharField.adapt, peewee.IntegerField.adapt, peewee.FloatField.adapt,
                    peewee.BooleanField.adapt, peewee.DateTimeField.adapt))


_AS_TEXT = 'as text'


def _to_db(field, sqlite):
    """The conversion a column's values need before binding: None when they go as they are
    (the row holds coerced values and defaults of the column's type); ``_AS_TEXT`` for a
    datetime on SQLite, which stores ``str(value)``, the text its driver's own adapter
    (``isoformat(' ')``) would make, without a Python call per value. A foreign key binds
    its values as its target key does (they are never model instances here)."""
    field = target_field(field)
    if type(field).db_value is peewee.Field.db_value and type(field).adapt in _CASTS:
        return _AS_TEXT if sqlite and isinstance(field, peewee.DateTimeField) else None
    return field.db_value


def _as_text(column):
    """``str()`` of each datetime (None stays NULL); a run of one object, as the request's
    own time in ``created`` and ``updated``, is formatted once."""
    texts, last, text = [], None, None
    for value in column:
        if value is not last:
            last, text = value, None if value is None else str(value)
        texts.append(text)
    return texts


class Batch:
    """New rows of one object that give the same columns, column by column: ``columns``
    maps each field name to its values, one a row. The columns named in ``bound`` already
    hold what the driver binds (SQLite's text of a time); the others hold coerced values."""

    def __init__(self, columns, bound=frozenset()):
        self.columns = columns
        self.bound = bound
        self.count = len(next(iter(columns.values())))


def _batches(rows):
    """``rows`` (dicts of coerced values by field name) as batches, one per set of columns."""
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row)].append(row)
    return [Batch({name: [row[name] for row in group] for name in names})
            for names, group in groups.items()]


_MISSING = object()


def _column(items, key):
    """``item[key]`` of every item; _MISSING where an item has no ``key``."""
    try:
        return list(map(operator.itemgetter(key), items))
    except KeyError:
        return [item.get(key, _MISSING) for item in items]


def _as_batch(obj, items, now, sqlite):
    """The new rows of a PUT built a column at a time, as one batch, when every item gives
    the same keys and no rule needs the rows one by one; else None, and :func:`_new_row`
    builds them row by row. So does any batch with a value that does not fit: the row path
    raises the error of the first bad item, whatever column it is in."""
    plan = _plan(obj)
    if plan.by_row:
        return None
    count = len(items)
    given, bound = {}, set()
    try:
        for key, name, convert, lower, is_time in plan.columns:
            values = _column(items, key)
            absent = values.count(_MISSING)
            if absent == count:
                continue
            if absent or key == '_id' and plan.null_id_is_auto and None in values:
                return None   # rows with different columns
            found = iso_column(values) if sqlite and is_time else None
            if found is not None:
                given[name] = found[1]
                bound.add(name)
                continue
            values = convert(key, values)
            if lower:
                values = [v.lower() if isinstance(v, str) else v for v in values]
            given[name] = values
    except InputError:
        return None
    columns = {name: given[name] if name in given else [default] * count
               for name, default in (('created', now), ('updated', now), ('deleted', None))}
    for name, how, default in plan.fills:
        if name in given:
            columns[name] = given[name]
        elif how == _Plan.VALUE:
            columns[name] = [default] * count
        elif how == _Plan.CALL:
            columns[name] = [default() for _ in range(count)]
        elif how == _Plan.REQUIRED:
            return None
    return Batch(columns, bound)


def insert_rows(obj, rows, keys=True):
    """Insert ``rows`` (dicts of coerced values by field name): :func:`insert_batches` of
    their batches."""
    return insert_batches(obj, _batches(rows), keys)


def insert_batches(obj, batches, keys=True):
    """One multi-row INSERT per batch and per SQL_VARIABLES chunk of it; returns the primary
    keys in row order, in their JSON form (``keys=False``: nothing). RETURNING only for
    rows whose key the sequence picks: the others' keys are the values written."""
    meta = obj.model._meta  # pylint: disable=protected-access
    family = family_of(DB.obj)
    sqlite = family == 'sqlite'
    pk_names = [f.name for f in obj.pk_fields]
    found = []
    for batch in batches:
        names = tuple(batch.columns)
        known = all(name in batch.columns for name in pk_names)
        # PostgreSQL always has RETURNING; SQLite since 3.35. Older SQLite numbers the rows
        # of one INSERT consecutively up to lastrowid (the write lock is held).
        returning = keys and not known and (
            family == 'postgresql' or bool(getattr(DB.obj, 'returning_clause', False)))
        params = [_bound(meta.fields[name], batch.columns[name], sqlite)
                  if name not in batch.bound else batch.columns[name] for name in names]
        size = max(1, SQL_VARIABLES // len(names))
        for start in range(0, batch.count, size):
            chunk = [values[start:start + size] for values in params]
            count = len(chunk[0])
            cursor = DB.obj.execute_sql(_insert_sql(obj, names, count, returning),
                                        list(chain.from_iterable(zip(*chunk))))
            if returning:
                found.extend(_key_json({f.name: f.python_value(v)
                                        for f, v in zip(obj.pk_fields, key)})
                             for key in cursor.fetchall())
            elif keys and not known:   # the one key an AUTO id
                last = cursor.lastrowid
                found.extend({'id': number} for number in range(last - count + 1, last + 1))
        if keys and known:
            found.extend(_known_keys(obj, batch.columns))
    return found if keys else None


def _bound(field, values, sqlite):
    """``values`` of ``field`` as the driver binds them."""
    conv = _to_db(field, sqlite)
    if conv is None or values.count(None) == len(values):
        return values
    if conv is _AS_TEXT:
        return _as_text(values)
    return [conv(v) for v in values]


def _known_keys(obj, columns):
    """The JSON keys of rows whose primary key values are all in ``columns``."""
    names = [f.name for f in obj.pk_fields]
    if len(names) == 1 and not isinstance(target_field(obj.pk_fields[0]), peewee.UUIDField):
        return [{names[0]: value} for value in columns[names[0]]]
    return [_key_json(dict(zip(names, key))) for key in zip(*(columns[n] for n in names))]


def create(obj, body):
    """PUT: insert one object or a list of objects; the ``insert`` event (None when empty)."""
    items = body if isinstance(body, list) else [body]
    if isinstance(body, dict) and not body:
        return None
    if not isinstance(body, (list, dict)):
        raise InputError('a PUT body must be a JSON object or an array of objects')
    if not items:
        return None
    if len(items) > MAX_PUT_ELEMENTS:
        raise TooLarge('a PUT takes at most {} objects, got {}; send them in smaller '
                       'parts'.format(MAX_PUT_ELEMENTS, len(items)))
    for index, item in enumerate(items):
        if not isinstance(item, dict):   # before any row is built
            raise InputError('every element of a PUT body must be a JSON object, got {} '
                             'at [{}]'.format(type(item).__name__ if item is not None
                                              else 'null', index))
    now = utc_now()
    batch = _as_batch(obj, items, now, family_of(DB.obj) == 'sqlite')
    names = set()
    rows = items
    if batch is None:
        for index, item in enumerate(items):
            # in place: each body object is released as its row replaces it, so a large PUT
            # holds one copy of its data, not two
            rows[index] = _new_row(obj, item, now, names)
    else:
        rows.clear()   # the batch holds the values: release the body objects
    try:
        with transaction():
            if batch is None:
                _resolve_names(rows, names)
                given = _batches([row for row in rows if 'id' in row])
                generated = _batches([row for row in rows if 'id' not in row])
                ids = [row['id'] for row in rows if 'id' in row]
                rows.clear()   # the batches hold the values now
            else:
                given, generated = ([batch], []) if 'id' in batch.columns else ([], [batch])
                ids = batch.columns.get('id', [])
            _check_references(obj, [b.columns for b in given + generated])
            explicit = _check_new_ids(obj, ids)
            # explicit ids first, then the sequence moves past them (D6), then the rest:
            # so a generated id can never collide with an explicit one of the same batch
            try:
                inserted = insert_batches(obj, given)
                if explicit and family_of(DB.obj) == 'postgresql' and isinstance(
                        obj.fields['id'], peewee.AutoField):
                    _advance_sequence(obj)
                inserted += insert_batches(obj, generated)
                given = generated = batch = None   # the event needs only the keys
            except peewee.IntegrityError as exc:
                text = str(exc)
                if explicit and ('"{}_pkey"'.format(obj.table) in text or
                                 'UNIQUE constraint failed: {}.id'.format(obj.table) in text):
                    # D7: a concurrent request took the id between our check and the INSERT
                    raise InputError(DUPLICATE_MESSAGE.format(
                        ','.join(str(v) for v in explicit))) from None
                raise
    except (peewee.IntegrityError, peewee.DataError) as exc:
        raise _conflict(exc) from None
    return Event(obj.name, 'insert', inserted)


def _key_json(key, rename_id=False):
    out = {}
    for name, value in key.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        out['_id' if rename_id and name == 'id' else name] = value
    return out


# -- POST and DELETE --------------------------------------------------------------------
def _selected_keys(obj, where):
    sel = obj.model.select(*obj.pk_fields).where(where).order_by(*obj.pk_fields)
    if family_of(DB.obj) == 'postgresql':
        sel = sel.for_update()   # D24: no other writer changes these rows until we commit
    names = [f.name for f in obj.pk_fields]
    return [dict(zip(names, row)) for row in sel.tuples()]


def update(obj, query, body):
    """POST: apply ``body`` to every row ``query`` selects; the ``update`` event."""
    if not isinstance(body, dict):
        raise InputError('a POST body must be a JSON object')
    names = set()
    values = _values(obj, body)
    _relationship(obj, body, values, names)
    values.setdefault('updated', utc_now())
    if values.get('updated') is None or values.get('created', 0) is None:
        raise InputError("'created' and 'updated' may not be null")
    try:
        with transaction():
            _resolve_names([values], names)
            selected = _selected_keys(obj, query.where)
            if not selected:
                raise NotFound(NOTHING_SELECTED)
            _refuse_key_change(obj, values, selected)
            _check_references(obj, [{name: [value] for name, value in values.items()}])
            if values:
                fields = {getattr(obj.model, name): value for name, value in values.items()}
                obj.model.update(fields).where(query.where).execute()
    except (peewee.IntegrityError, peewee.DataError) as exc:
        raise _conflict(exc) from None
    return Event(obj.name, 'update', [_key_json(k, True) for k in selected])


def _refuse_key_change(obj, values, selected):
    """D5: a body may repeat a row's key but not change it (upstream wrote to another row)."""
    for field in obj.pk_fields:
        if field.name not in values:
            continue
        new = values.pop(field.name)
        if any(row[field.name] != new for row in selected):
            raise InputError('{!r} is part of the primary key of {} and cannot be changed'.format(
                '_id' if field.name == 'id' else field.name, obj.name))


def soft_delete(obj, query):
    """DELETE without force: set ``deleted`` (and ``updated``) on the selected live rows."""
    now = utc_now()
    with transaction():
        selected = _selected_keys(obj, query.where)
        if not selected:
            raise NotFound(NOTHING_SELECTED)
        obj.model.update({obj.model.deleted: now, obj.model.updated: now}).where(
            query.where).execute()
    return Event(obj.name, 'update', [_key_json(k, True) for k in selected])


def _cascade(model, parents):
    """Delete every row that references ``parents`` (a sub-select of ``model`` keys),
    children's children first."""
    for fk_field, child in model._meta.backrefs.items():  # pylint: disable=protected-access
        pk = child._meta.primary_key  # pylint: disable=protected-access
        if not isinstance(pk, peewee.CompositeKey) and child._meta.backrefs:  # pylint: disable=protected-access
            _cascade(child, child.select(pk).where(fk_field.in_(parents)))
        child.delete().where(fk_field.in_(parents)).execute()


def hard_delete(obj, query):
    """DELETE with force: remove the selected rows (and, with ``recursive``, everything that
    references them). Matching nothing is not an error, but sends no event (D8)."""
    try:
        with transaction():
            selected = _selected_keys(obj, query.where)
            if not selected:
                return None
            if query.recursive and obj.reverse:
                pk = obj.pk_fields[0]
                _cascade(obj.model, obj.model.select(pk).where(query.where))
            obj.model.delete().where(query.where).execute()
    except peewee.IntegrityError as exc:
        raise InputError('cannot delete: other rows still reference the selected {} rows '
                         '(add recursive=true to delete them too): {}'.format(
                             obj.name, str(exc).strip().splitlines()[0])) from None
    return Event(obj.name, 'delete', [_key_json(k, True) for k in selected])


def delete(obj, query):
    """DELETE: soft by default, hard with ``force``."""
    if query.force:
        return hard_delete(obj, query)
    return soft_delete(obj, query)
