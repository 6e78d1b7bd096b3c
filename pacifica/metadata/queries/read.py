"""Selecting rows and rendering them in the JSON shape of spec 2.6.

Reverse-relation lists (spec 2.7) are built with one query per relation for the whole page
of parent rows (their keys bound in one IN list, or for a very large page the parent query
reused as a sub-select); for a small page of an object with at least ``UNION_FROM`` of them
all the lists come from one ``UNION ALL``. A request thus costs a fixed number of statements
however many rows it returns: 1 + (number of reverse relations), or 2 with the union (on
PostgreSQL prepared once per connection: planning them cost more than running them). On
PostgreSQL the page of a GET (:func:`first_rows`) brings its lists itself: 1 statement.
Items are listed in table order on PostgreSQL (:func:`_in_table_order`). Following D13,
soft-deleted children are left out, uuids are dashed, and lists upstream always left empty
are filled (see objects.REVERSE_ITEM_OVERRIDES).
"""
import datetime
import hashlib
import uuid
from collections import defaultdict

from pacifica.common import prepared
from pacifica.common.database import family_of, peewee

from ..orm import DB

COMMON_FIELDS = ('created', 'updated', 'deleted')


def _fmt(value):
    """JSON form of one column value."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _hash_text(value):
    return str(value)  # ints in decimal, uuids dashed lower-case, strings as they are


_COLUMNS = {}


def _columns(obj):
    """The SELECT list of ``obj`` as one SQL literal, and the value converters, built once:
    rendering 15 peewee column nodes per request cost more than running the query."""
    if obj.name not in _COLUMNS:
        model = obj.model
        fields = [getattr(model, n) for n in COMMON_FIELDS] + list(obj.fields.values())
        _COLUMNS[obj.name] = (
            peewee.SQL(', '.join('"{}"'.format(f.column_name) for f in fields)),
            [f.python_value for f in fields])
    return _COLUMNS[obj.name]


def select(obj, query):
    """The peewee SELECT for ``query`` (a filters.Query), ordered by primary key."""
    sel = obj.model.select(_columns(obj)[0])
    if query.where is not None:
        sel = sel.where(query.where)
    sel = sel.order_by(*obj.pk_fields)
    if query.page is not None:
        sel = sel.limit(query.page[0]).offset(query.page[1])
    return sel


def _rows(obj, sel):
    return _converted(obj, prepared.execute_query(DB.obj, sel))


def _converted(obj, cursor):
    converters = _columns(obj)[1]
    return [tuple(conv(value) for conv, value in zip(converters, row)) for row in cursor]


def fetch(obj, query):
    """The matching rows as tuples of Python values (common columns first)."""
    return _rows(obj, select(obj, query))


BATCH_ROWS = 1000   # rows per statement of a batched read (no more than LITERAL_KEYS)


def _key_index(obj):
    names = list(obj.fields)
    return [3 + names.index(f.name) for f in obj.pk_fields]


def _after(obj, key):
    """Rows whose primary key sorts after ``key`` (the keyset of the next batch)."""
    if len(obj.pk_fields) == 1:
        return obj.pk_fields[0] > key[0]
    return peewee.Tuple(*obj.pk_fields) > peewee.Tuple(
        *[f.db_value(v) for f, v in zip(obj.pk_fields, key)])


_PAGES = {}


def _page_sql(obj, query, limit, offset):
    """SQL and parameters of ``select(obj, query).limit(limit).offset(offset or None)``,
    the same text peewee writes: the SELECT list, FROM and ORDER BY come from a template
    made once per object and database family, and only the WHERE is rendered per request
    (building and rendering the whole peewee query cost as much as running it)."""
    db = DB.obj
    key = (obj.name, family_of(db))
    if key not in _PAGES:
        sel = obj.model.select(_columns(obj)[0]).order_by(*obj.pk_fields)
        head, order = db.get_sql_context().sql(sel).query()[0].split(' ORDER BY ')
        _PAGES[key] = (head, ' ORDER BY {} LIMIT {}'.format(order, db.param),
                       ' OFFSET ' + db.param)
    head, tail, skip = _PAGES[key]
    params = []
    if query.where is not None:
        where, params = db.get_sql_context().sql(query.where).query()
        head = '{} WHERE {}'.format(head, where)
    params.append(limit)
    if offset:
        params.append(offset)
        return head + tail + skip, params
    return head + tail, params


class Page(list):
    """The rows of :func:`first_rows`; ``reverse_lists``: their reverse lists when the same
    statement read them (else None, and :func:`render` reads them)."""

    reverse_lists = None


def first_rows(obj, query, size=BATCH_ROWS):
    """Up to ``size + 1`` of the matching rows: whether the answer fits in one batch (and
    then all of it), without reading more of a large one. On PostgreSQL their reverse
    lists come with them when the query asks for them (:func:`_with_reverse`)."""
    limit, offset = query.page if query.page is not None else (size + 1, 0)
    sql, params = _page_sql(obj, query, min(limit, size + 1), offset)
    if (query.recursion_depth and obj.reverse
            and family_of(DB.obj) in ONE_STATEMENT):
        return _with_reverse(obj, sql, params, size)
    return Page(_converted(obj, prepared.execute(DB.obj, sql, params)))


def batches(obj, query, size=BATCH_ROWS):
    """The rows of :func:`fetch` as lists of at most ``size``, one statement each.

    Batches after the first continue after the last key seen (not with OFFSET, whose cost
    grows with the rows skipped); run them in one transaction for one snapshot.
    """
    limit, offset = query.page if query.page is not None else (None, 0)
    key_index = _key_index(obj)
    after = None
    while limit is None or limit > 0:
        take = size if limit is None else min(size, limit)
        sel = select(obj, query) if after is None else select(obj, query).where(after)
        rows = _rows(obj, sel.limit(take).offset(offset or None))
        if rows:
            yield rows
        if len(rows) < take:
            return
        if limit is not None:
            limit -= take
        offset = 0
        after = _after(obj, [rows[-1][i] for i in key_index])


def _pk_subquery(obj, query):
    sel = obj.model.select(obj.pk_fields[0])
    if query.where is not None:
        sel = sel.where(query.where)
    if query.page is not None:
        sel = sel.order_by(*obj.pk_fields).limit(query.page[0]).offset(query.page[1])
    return sel


LITERAL_KEYS = 1000   # up to this many parent rows, reverse queries list the keys
# From this many reverse relations on, a small page reads them in one UNION ALL. On SQLite
# (no round trip) with two the union's wider rows cost more than the statement they save; on
# PostgreSQL, whose statements are prepared (no planning left to save), the round trip is what
# a statement costs, and the union of two is faster.
UNION_FROM = {'postgresql': 2, 'sqlite': 3}


def _reverse_items(rel):
    """The columns a reverse list is made of: a key and a value, or one item."""
    child = rel.child
    return [child.key, child.value] if rel.item is None else [getattr(child, rel.item)]


# The order of a reverse list's items (spec 2.7: unspecified). On PostgreSQL, the order the
# rows lie in the table ("ctid"): what a scan of the table, a bitmap scan or an index scan on
# the foreign key alone return, so what a plan gave almost always; written out, because an
# index whose first column is the foreign key (user_group's primary key, project_user's
# unique index) returned its own order when the planner chose it, and the page read with its
# lists in one statement (_with_reverse) is planned otherwise than these statements.
# SQLite's planner decides the same way each time; its order is left as it is.
def _in_table_order():
    return family_of(DB.obj) == 'postgresql'


def _reverse_sql(rel, count):
    """``SELECT fk, item(s) FROM child WHERE fk IN (...) AND deleted IS NULL`` written out:
    these run once per relation and request, and peewee's SQL builder costs more than the
    query itself for a small page."""
    child = rel.child
    cols = [rel.fk] + _reverse_items(rel)
    param = DB.obj.param
    sql = 'SELECT {} FROM "{}" WHERE "{}" IN ({}) AND "deleted" IS NULL'.format(
        ', '.join('"{}"'.format(c.column_name) for c in cols),
        child._meta.table_name, rel.fk.column_name,  # pylint: disable=protected-access
        ', '.join([param] * count))
    if _in_table_order():
        sql += ' ORDER BY "ctid"'
    return sql, [c.python_value for c in cols]


def _reverse_rows(obj, rel, query, parent_keys):
    if len(parent_keys) <= LITERAL_KEYS:
        sql, converters = _reverse_sql(rel, len(parent_keys))
        db_value = obj.pk_fields[0].db_value
        cursor = prepared.execute(DB.obj, sql, [db_value(k) for k in parent_keys])
        return [tuple(conv(v) for conv, v in zip(converters, row)) for row in cursor]
    # a large page: let the database find the parents again rather than bind every key
    child = rel.child
    sel = (child.select(rel.fk, *_reverse_items(rel))
           .where(rel.fk.in_(_pk_subquery(obj, query)) & child.deleted.is_null()))
    if _in_table_order():
        sel = sel.order_by(peewee.SQL('"ctid"'))
    return list(sel.tuples())


def _ddl_type(field):
    """The SQL type of ``field``'s values (an auto id's, not its SERIAL column type)."""
    if isinstance(field, peewee.BigAutoField):
        return 'BIGINT'
    if isinstance(field, peewee.AutoField):
        return 'INTEGER'
    ctx = DB.obj.get_sql_context()
    return ctx.sql(field.ddl_datatype(ctx)).query()[0]


_UNIONS = {}


def _union_plan(obj):
    """Every reverse relation of ``obj`` as one branch of a ``UNION ALL``, built once per
    object and database family: (SQL of each branch with ``{}`` for its key list, and per
    branch the converters and result positions of its foreign key and items).

    A branch's item columns go into the result columns of their own SQL type (the others of
    that branch are typed NULLs), so the union is well typed on PostgreSQL and every value
    comes back as the driver returns it from a query of that relation alone."""
    plan_key = (obj.name, family_of(DB.obj))
    if plan_key not in _UNIONS:
        branches = [[rel.fk] + _reverse_items(rel) for rel in obj.reverse]
        slots = []
        for cols in branches:
            types = [_ddl_type(c) for c in cols[1:]]
            for kind in set(types):
                while types.count(kind) > sum(1 for k, _ in slots if k == kind):
                    slots.append((kind, sum(1 for k, _ in slots if k == kind)))
        parts, layout = [], []
        for index, (rel, cols) in enumerate(zip(obj.reverse, branches)):
            placed, seen = {}, defaultdict(int)
            for col in cols[1:]:
                kind = _ddl_type(col)
                placed[kind, seen[kind]] = col
                seen[kind] += 1
            exprs = ['"{}"'.format(placed[s].column_name) if s in placed
                     else 'CAST(NULL AS {})'.format(s[0]) for s in slots]
            if _in_table_order():
                exprs.append('"ctid"')
            parts.append('SELECT {}, "{}", {} FROM "{}" WHERE "{}" IN ({{}}) AND "deleted" IS '
                         'NULL'.format(index, rel.fk.column_name, ', '.join(exprs),
                                       rel.child._meta.table_name,  # pylint: disable=protected-access
                                       rel.fk.column_name))
            layout.append((rel, [c.python_value for c in cols],
                           [1] + [2 + slots.index(s) for s in placed]))
        # by relation, then in table order (the last column)
        order = ' ORDER BY 1, {}'.format(len(slots) + 3) if _in_table_order() else ''
        _UNIONS[plan_key] = (parts, layout, order)
    return _UNIONS[plan_key]


def _reverse_union(obj, parent_keys):
    """{relation name: {parent key: [rows]}} of every reverse relation in one statement."""
    parts, layout, order = _union_plan(obj)
    marks = ', '.join([DB.obj.param] * len(parent_keys))
    keys = [obj.pk_fields[0].db_value(k) for k in parent_keys]
    cursor = prepared.execute(DB.obj, ' UNION ALL '.join(p.format(marks) for p in parts)
                              + order, keys * len(parts))
    found = {rel.name: [] for rel in obj.reverse}
    for row in cursor:
        rel, converters, positions = layout[row[0]]
        found[rel.name].append(tuple(conv(row[i]) for conv, i in zip(converters, positions)))
    return found


def _reverse_lists(obj, query, parent_keys):
    """{relation name: {parent key: [items]}}: all reverse relations in one statement for a
    small page of an object with :data:`UNION_FROM` or more (a round trip per relation was
    most of a one-row GET), else one statement per relation."""
    found = {}
    union = None
    if (len(obj.reverse) >= UNION_FROM.get(family_of(DB.obj), 3)
            and len(parent_keys) * len(obj.reverse) <= LITERAL_KEYS):
        union = _reverse_union(obj, parent_keys)
    for rel in obj.reverse:
        groups = defaultdict(list)
        for row in (union[rel.name] if union is not None
                    else _reverse_rows(obj, rel, query, parent_keys)):
            if rel.item is None:
                groups[row[0]].append({'key_id': row[1], 'value_id': row[2]})
            else:
                groups[row[0]].append(_fmt(row[1]))
        found[rel.name] = groups
    return found


# Where a page and its reverse lists are read in one statement: on PostgreSQL each
# statement is a round trip, and after preparing (common.prepared) the round trips were what
# a one-row GET cost. Not on SQLite: no round trip to save, and its statements stay as fast.
ONE_STATEMENT = ('postgresql',)

_AGGREGATES = {}


def _aggregate_sql(obj, size):
    """The SQL (PostgreSQL's) around a page SELECT (:func:`_page_sql`) that adds one column
    per reverse relation: the JSON array of its items for each page row, by a sub-select of
    the rows :func:`_reverse_sql` finds for that key, in the same order (table order, see
    :func:`_in_table_order`). A page of more than ``size`` rows gets NULLs instead (it is
    streamed, its lists read batch by batch): the count is a window over the page, so the
    sub-selects of a large page are never run."""
    cache_key = (obj.name, size)
    if cache_key not in _AGGREGATES:
        pk = obj.pk_fields[0].column_name
        order = ', '.join('"p"."{}"'.format(f.column_name) for f in obj.pk_fields)
        columns = []
        for rel in obj.reverse:
            items = ['"c"."{}"'.format(col.column_name) for col in _reverse_items(rel)]
            item = items[0] if len(items) == 1 else 'json_build_array({})'.format(
                ', '.join(items))
            columns.append(
                'CASE WHEN count(*) OVER () <= {} THEN (SELECT json_agg({} ORDER BY "c"."ctid") '
                'FROM "{}" AS "c" WHERE "c"."{}" = "p"."{}" AND "c"."deleted" IS NULL) '
                'END'.format(
                    int(size), item, rel.child._meta.table_name,  # pylint: disable=protected-access
                    rel.fk.column_name, pk))
        _AGGREGATES[cache_key] = ('SELECT "p".*, {} FROM ('.format(', '.join(columns)),
                                  ') AS "p" ORDER BY {}'.format(order))   # the page's order
    return _AGGREGATES[cache_key]


def _with_reverse(obj, sql, params, size):
    """:func:`first_rows` of ``sql`` (a page SELECT) with the reverse lists of its rows, in
    one statement (the items converted as :func:`_reverse_lists` converts them)."""
    head, tail = _aggregate_sql(obj, size)
    cursor = prepared.execute(DB.obj, head + sql + tail, params)
    converters = _columns(obj)[1]
    width = len(converters)
    pk_index = 3 + list(obj.fields).index(obj.pk_fields[0].name)
    rows, lists = Page(), []
    for found in cursor:
        rows.append(tuple(conv(value) for conv, value in zip(converters, found)))
        lists.append(found[width:])
    if len(rows) > size:
        return rows
    reverse = {}
    for index, rel in enumerate(obj.reverse):
        convert = [col.python_value for col in _reverse_items(rel)]
        groups = {}
        for row, found in zip(rows, lists):
            items = found[index] or ()
            if rel.item is None:
                groups[row[pk_index]] = [{'key_id': convert[0](key), 'value_id': convert[1](value)}
                                         for key, value in items]
            else:
                groups[row[pk_index]] = [_fmt(convert[0](item)) for item in items]
        reverse[rel.name] = groups
    rows.reverse_lists = reverse
    return rows


def serialize_rows(obj, rows, reverse=None, limit=1000):
    """Render SELECT tuples (see :func:`select`) as the spec's JSON objects."""
    names = [n for n in obj.fields]
    out = []
    pk_index = 3 + names.index(obj.pk_fields[0].name) if reverse is not None else None
    hash_index = [3 + names.index(n) for n in obj.hash_keys]
    for row in rows:
        created, updated, deleted = (_fmt(v) for v in row[:3])
        item = {'created': created, 'updated': updated, 'deleted': deleted}
        values = row[3:]
        if obj.id_rule == 'I':
            item['_id'] = values[0]
        elif obj.id_rule == 'T':
            item['_id'] = hashlib.md5('{}{}{}'.format(
                created, updated, 'None' if deleted is None else deleted).encode('utf-8')
                                      ).hexdigest()
        else:
            item['_id'] = hashlib.md5(''.join(
                _hash_text(row[i]) for i in hash_index).encode('utf-8')).hexdigest()
        if reverse is not None:
            key = row[pk_index]
            for rel_name, groups in reverse.items():
                items = groups.get(key, [])
                item[rel_name] = None if len(items) > limit else items
        for name, value in zip(names, values):
            if name != 'id':
                item[name] = _fmt(value)
        out.append(item)
    return out


def read(obj, query):
    """GET: the matching rows as JSON-ready dicts (reverse lists when recursion_depth is 1)."""
    return render(obj, query, fetch(obj, query))


def render(obj, query, rows):
    """:func:`serialize_rows` of selected rows, with their reverse lists when the query
    asks for them (read with the rows by :func:`first_rows`, else by
    :func:`_reverse_lists`)."""
    reverse = getattr(rows, 'reverse_lists', None)
    if reverse is None and query.recursion_depth and obj.reverse and rows:
        pk_index = 3 + list(obj.fields).index(obj.pk_fields[0].name)
        reverse = _reverse_lists(obj, query, [row[pk_index] for row in rows])
    return serialize_rows(obj, rows, reverse, query.recursion_limit)
