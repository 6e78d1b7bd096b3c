"""Metadata's own admin subcommands (spec 6.3): create_table, render, delete_obj."""
import argparse
import json

from pacifica.common.cli import AdminCommand, service_schema
from pacifica.common.database import family_of

from .events import Notifier
from .objects import BY_CLASS
from .orm import DB, Relationships, seed_relationships
from .queries import InputError, NotFound, filters, read, write


def objstr_to_ormobj(name):
    """``--object-name``: an upstream class name (``Keys``, ``TransactionKeyValue``, ...).

    The function name is what argparse prints in its error, as upstream.
    """
    try:
        return BY_CLASS[name]
    except KeyError:
        raise argparse.ArgumentTypeError(
            "invalid objstr_to_ormobj value: {!r}".format(name)) from None


def json_object(text):
    """``--where-clause``: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError('not a JSON document: {!r}'.format(text)) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object: {!r}'.format(text))
    return value


def _where_params(where):
    """JSON-typed where-clause values as the query-string values the GET filters read."""
    params = {}
    for key, value in where.items():
        if isinstance(value, list):
            params[key] = [_text(v) for v in value]
        else:
            params[key] = _text(value)
    return params


def _text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return '' if value is None else str(value)


def _object_args(parser, where=True):
    parser.add_argument('--object-name', dest='object', required=True, type=objstr_to_ormobj,
                        help='the upstream class name, e.g. Keys or TransactionKeyValue')
    if where:
        parser.add_argument('--where-clause', dest='where', required=True, type=json_object,
                            help='GET filters as a JSON object, e.g. {"_id": 5}')


def _create_table(context, args):
    """Create one table if it is missing (Relationships also gets its seeded rows)."""
    with context.database.atomic():
        args.object.model.create_table(safe=True)
        if args.object.model is Relationships:
            seed_relationships()
    print('table {} exists'.format(args.object.table))
    return 0


def _render_args(parser):
    _object_args(parser)
    parser.add_argument('--recursion', type=int, default=1,
                        help='1 adds the reverse-relation lists (default), 0 does not')


def _render(context, args):
    """Print the first matching row as indented JSON."""
    service_schema(context).check_safe()
    params = _where_params(args.where)
    params['recursion_depth'] = '1' if args.recursion else '0'
    params['items_per_page'], params['page_number'] = '1', '1'
    try:
        rows = read.read(args.object, filters.parse(args.object, params, 'get',
                                                    family_of(DB.obj)))
    except InputError as exc:
        print('render: {}'.format(exc))
        return 2
    if not rows:
        print('render: no {} row matches {}'.format(args.object.class_name,
                                                   json.dumps(args.where)))
        return 1
    print(json.dumps(rows[0], indent=4))
    return 0


def _delete_args(parser):
    _object_args(parser)
    parser.add_argument('--force', action='store_true', help='remove rows instead of '
                                                             'setting deleted')
    parser.add_argument('--recursive', action='store_true',
                        help='with --force, also remove every row referencing them')


def _delete_obj(context, args):
    """The DELETE logic of the REST API; the event is sent after the commit."""
    service_schema(context).check_safe()
    params = _where_params(args.where)
    try:
        query = filters.parse(args.object, params, 'delete', family_of(DB.obj))
        query.force, query.recursive = args.force, args.recursive
        event = write.delete(args.object, query)
    except (InputError, NotFound) as exc:
        print('delete_obj: {}'.format(exc))
        return 1
    Notifier(context.config).send(event)
    print('deleted {} {} row(s)'.format(len(event.keys) if event else 0, args.object.class_name))
    return 0


ADMIN_COMMANDS = (
    AdminCommand('create_table', 'create one table if it does not exist', _create_table,
                 lambda parser: _object_args(parser, where=False)),
    AdminCommand('render', 'print the first row matching a where-clause as JSON', _render,
                 _render_args),
    AdminCommand('delete_obj', 'delete rows matching a where-clause (soft unless --force)',
                 _delete_obj, _delete_args),
)
