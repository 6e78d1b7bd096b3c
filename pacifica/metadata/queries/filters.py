"""Query strings to WHERE clauses (spec 4.2, with the D1-D4 fixes).

A parameter is one of: a reserved setting (paging, recursion, ``force``/``recursive``), the
``deleted`` visibility switch, a date filter (``<f>``, ``<f>_operator``, ``<f>_0``, ``<f>_1``),
``_id``, or an attribute filter (``<f>`` or its alias ``<f>_id``, and ``<f>_operator``).
Operators come from a whitelist; a client-chosen name never reaches peewee. GET ignores
unknown parameters (clients send cache-busters); writes refuse them (D1).
"""
import functools
import logging
from dataclasses import dataclass
from typing import Any, List, Optional

from pacifica.common.database import peewee

from . import InputError
from .coerce import check_text, coerce, is_temporal, is_text, parse_bool, parse_datetime

LOGGER = logging.getLogger(__name__)

MAX_IN_VALUES = 10000    # well below SQLite's limit on bind parameters
MAX_OFFSET = 2 ** 63 - 1   # LIMIT/OFFSET are bigints in the database
GET_SETTINGS = ('recursion_depth', 'recursion_limit', 'page_number', 'items_per_page')
DELETE_SETTINGS = ('force', 'recursive')

_COMPARE = {
    'eq': lambda f, v: f == v,
    'ne': lambda f, v: f != v,
    'lt': lambda f, v: f < v,
    'lte': lambda f, v: f <= v,
    'gt': lambda f, v: f > v,
    'gte': lambda f, v: f >= v,
}
# LIKE is spelled out: peewee turns its LIKE into GLOB on SQLite, which ignores '%'.
_TEXT = {
    'like': lambda f, v: peewee.NodeList((f, peewee.SQL('LIKE'), peewee.Value(v))),
    'ilike': lambda f, v: f ** v,
    'regexp': lambda f, v: f.regexp(v),
    'iregexp': lambda f, v: f.iregexp(v),
}
_POSTGRES_ONLY = ('regexp', 'iregexp')
_MULTI = {'in': lambda f, vs: f.in_(vs), 'not_in': lambda f, vs: f.not_in(vs)}
OPERATORS = tuple(_COMPARE) + tuple(_TEXT) + tuple(_MULTI) + ('between',)


@dataclass
class Query:
    """A parsed query string."""

    where: Any                        # a peewee expression (True when nothing filters)
    filtered: bool                    # whether any filter other than visibility was given
    recursion_depth: int = 1
    recursion_limit: int = 1000
    page: Optional[tuple] = None      # (limit, offset)
    force: bool = False
    recursive: bool = False


def _single(name, value):
    if isinstance(value, list):
        raise InputError('{!r} was given {} times; give it once (only the in and not_in '
                         'operators take a repeated value)'.format(name, len(value)))
    return value


def _int_setting(params, name, default, minimum, maximum=None):
    if name not in params:
        return default
    value = coerce(name, peewee.BigIntegerField(), _single(name, params[name]), 'query')
    if value < minimum or (maximum is not None and value > maximum):
        raise InputError('{!r} must be {}, got {}'.format(
            name, 'at least {}'.format(minimum) if maximum is None else
            'between {} and {}'.format(minimum, maximum), value))
    return value


def _operator(params, name, allowed):
    key = name + '_operator'
    if key not in params:
        return 'eq'
    op = str(_single(key, params[key])).strip().lower()
    if op not in OPERATORS:
        raise InputError('{!r}: unknown operator {!r} (use one of {})'.format(
            key, op, ', '.join(OPERATORS)))
    if op not in allowed:
        raise InputError('{!r}: operator {!r} does not apply to {!r}'.format(key, op, name))
    return op


class _Parser:
    """Consumes parameters, remembering which ones it understood.

    On writes (``strict``) an empty value is not a filter (it would match every row still
    holding a column default): it is a 400 naming the parameter.
    """

    def __init__(self, obj, params, family, strict=False):
        self.obj = obj
        self.params = params
        self.family = family
        self.strict = strict
        self.used = set()
        self.conditions = []

    def take(self, *names):
        """Mark parameters as understood."""
        self.used.update(n for n in names if n in self.params)

    def value(self, key):
        """The value of ``key`` (a list when repeated); refused when empty on a write."""
        raw = self.params[key]
        if self.strict and (raw == '' or (isinstance(raw, list) and '' in raw)):
            raise InputError('{!r} is empty: an empty value is not a filter on a write '
                             '(leave the parameter out, or give the value it must '
                             'match)'.format(key))
        return raw

    def visibility(self):
        """``deleted`` absent: live rows only; empty: all rows; a datetime (and optionally
        ``deleted_operator``): the rows deleted then."""
        model = self.obj.model
        if 'deleted' not in self.params:
            return model.deleted.is_null()
        self.take('deleted', 'deleted_operator')
        value = _single('deleted', self.params['deleted'])
        if value == '':
            if 'deleted_operator' in self.params:
                raise InputError("'deleted_operator' needs a date in 'deleted' (an empty "
                                 "'deleted' means rows deleted or not)")
            return None
        op = _operator(self.params, 'deleted', tuple(_COMPARE))
        return _COMPARE[op](model.deleted, parse_datetime('deleted', value))

    def temporal(self, name, field):
        """A date or datetime filter: any comparison, or ``between`` ``<f>_0`` and ``<f>_1``."""
        if name not in self.params:
            return
        self.take(name, name + '_operator', name + '_0', name + '_1')
        op = _operator(self.params, name, tuple(_COMPARE) + ('between',))
        if op == 'between':
            bounds = []
            for key in (name + '_0', name + '_1'):
                if key not in self.params:
                    raise InputError('{!r}: the between operator needs {!r}'.format(name, key))
                bounds.append(coerce(key, field, _single(key, self.value(key)), 'query'))
            self.conditions.append(field.between(*bounds))
            return
        value = coerce(name, field, _single(name, self.value(name)), 'query')
        self.conditions.append(_COMPARE[op](field, value))

    def identity(self):
        """``_id``: the ``id`` key, with ``_id_operator`` like any other field; refused where
        there is no such key (D4)."""
        if '_id' not in self.params:
            return
        self.take('_id', '_id_operator')
        if not self.obj.has_id:
            raise InputError("'_id' is not a key of {} (use {})".format(
                self.obj.name, ', '.join(f.name for f in self.obj.pk_fields)))
        self._compare('_id', '_id', self.obj.fields['id'], tuple(_COMPARE) + tuple(_MULTI))

    def attribute(self, name, field):
        """A field filter, by name or its ``<name>_id`` alias; both with different values
        is a 400 (which one was meant cannot be known)."""
        alias = name + '_id'
        present = [key for key in (name, alias) if key in self.params]
        if not present:
            return
        self.take(name, alias, name + '_operator')
        if len(present) == 2 and self.params[name] != self.params[alias]:
            raise InputError('{!r} and {!r} name the same field with different values; '
                             'give one of them'.format(name, alias))
        allowed = tuple(_COMPARE) + tuple(_MULTI)
        if is_text(field):
            allowed += tuple(_TEXT)
        self._compare(name, present[0], field, allowed)

    def _compare(self, name, key, field, allowed):
        """The condition ``field <name_operator> params[key]``."""
        op = _operator(self.params, name, allowed)
        if op in _POSTGRES_ONLY and self.family != 'postgresql':
            raise InputError('{!r}: operator {!r} needs PostgreSQL'.format(name, op))
        raw = self.value(key)
        if op in _MULTI:
            if not isinstance(raw, list):
                raise InputError('{!r}: operator {!r} needs the parameter repeated '
                                 '({}=a&{}=b)'.format(name, op, key, key))
            if len(raw) > MAX_IN_VALUES:
                raise InputError('{!r}: at most {} values for {!r}'.format(
                    name, MAX_IN_VALUES, op))
            values = [self._value(key, field, item, op) for item in raw]
            self.conditions.append(_MULTI[op](field, values))
            return
        value = self._value(key, field, _single(key, raw), op)
        builder = _TEXT.get(op) or _COMPARE[op]
        self.conditions.append(builder(field, value))

    def _value(self, key, field, raw, op):
        if op in _TEXT:
            value = check_text(key, raw) or raw  # a pattern, not a column value
        elif isinstance(field, peewee.BooleanField):
            value = parse_bool(key, raw)
        else:
            value = coerce(key, field, raw, 'query')
        if field.name in self.obj.lower and isinstance(value, str):
            value = value.lower()
        return value


_MODIFIERS = ('_operator', '_0', '_1')


def _refuse_unknown(obj, unknown, params):
    """A write names only what it understood: an operator or bound without its filter
    (``_id_operator=ne`` alone) would widen the match, so it is refused like a typo."""
    for key in unknown:
        for suffix in _MODIFIERS:
            base = key[:-len(suffix)]
            if not key.endswith(suffix) or not base:
                continue
            if base not in params and (base in obj.fields or base in (
                    '_id', 'created', 'updated', 'deleted')):
                raise InputError('{!r} was given without {!r}: it has nothing to '
                                 'apply to'.format(key, base))
            if base.endswith('_id') and base[:-3] in obj.fields:
                raise InputError('{!r}: the operator of {!r} (or its alias {!r}) is '
                                 'spelled {!r}'.format(key, base[:-3], base,
                                                       base[:-3] + suffix))
    raise InputError('unknown parameter{} for {}: {}'.format(
        's' if len(unknown) > 1 else '', obj.name, ', '.join(map(repr, unknown))))


def parse(obj, params, mode='get', family='sqlite'):
    """Parse ``params`` (CherryPy's dict of str or list of str) for ``obj``.

    ``mode`` is ``get``, ``update`` or ``delete``; the last two refuse unknown parameters and
    a query with no filter at all (D1).
    """
    parser = _Parser(obj, params, family, strict=mode != 'get')
    visible = parser.visibility()
    model = obj.model
    for name in ('created', 'updated'):
        parser.temporal(name, getattr(model, name))
    parser.identity()
    for name, field in obj.filter_fields.items():
        if is_temporal(field):
            parser.temporal(name, field)
        else:
            parser.attribute(name, field)
    # deleted=<datetime> selects rows too; deleted= alone only widens visibility
    query = Query(where=None, filtered=bool(parser.conditions) or (
        visible is not None and 'deleted' in params))
    parser.take(*GET_SETTINGS)
    paging = [name for name in ('page_number', 'items_per_page') if name in params]
    if mode != 'get' and paging:
        # a write acts on every selected row: paging would not narrow it, only mislead
        raise InputError('{} cannot limit a write: it acts on every row the filters '
                         'select'.format(' and '.join(map(repr, paging))))
    if mode == 'get':
        query.recursion_depth = _int_setting(params, 'recursion_depth', 1, 0, 1)
        query.recursion_limit = _int_setting(params, 'recursion_limit', 1000, 0)
        if 'page_number' in params and 'items_per_page' in params:
            number = _int_setting(params, 'page_number', 1, 0)
            size = _int_setting(params, 'items_per_page', 0, 0)
            offset = (max(number, 1) - 1) * size
            if offset > MAX_OFFSET:
                raise InputError("'page_number' times 'items_per_page' is beyond the last row")
            query.page = (size, offset)
    if mode == 'delete':
        parser.take(*DELETE_SETTINGS)
        for name in DELETE_SETTINGS:
            if name in params:
                raw = _single(name, params[name])
                setattr(query, name, raw != '' and parse_bool(name, raw))
    unknown = sorted(set(params) - parser.used)
    if unknown and mode == 'get':
        LOGGER.debug('ignoring unknown parameters on %s: %s', obj.name, unknown)
    elif unknown:
        _refuse_unknown(obj, unknown, params)
    if mode != 'get' and not query.filtered:
        raise InputError('refusing to {} every row of {}: give at least one filter'.format(
            mode, obj.name))
    conditions: List[Any] = parser.conditions + ([visible] if visible is not None else [])
    query.where = functools.reduce(lambda a, b: a & b, conditions) if conditions else None
    return query
