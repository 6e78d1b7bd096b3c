"""``pacifica-cartd-cmd`` subcommands beyond dbsync/dbchk: fixit, purge, dump."""
import argparse
import json
import os
import re
import uuid
from datetime import timedelta

from pacifica.common.cli import AdminCommand, StartupError

from . import carts, claims, lifecycle, volume
from .orm import Cart
from .staging import Stager, stage_synchronously
from .states import CartStatus

TIME_UNITS = ('weeks', 'days', 'hours', 'minutes', 'seconds', 'milliseconds', 'microseconds')
_NUMBER = re.compile(r'[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z')


def time_ago(text):
    """Parse ``"<number> <unit> ago"`` (``after`` is accepted as upstream did) to a
    timedelta; anything else is an argparse error (exit 2)."""
    parts = text.split()
    if len(parts) != 3 or not _NUMBER.match(parts[0]) or parts[1] not in TIME_UNITS \
            or parts[2] not in ('ago', 'after'):
        raise argparse.ArgumentTypeError(
            '{!r} is not "<number> <unit> ago" with unit one of {}'.format(
                text, ', '.join(TIME_UNITS)))
    try:
        return timedelta(**{parts[1]: float(parts[0])})
    except OverflowError:
        raise argparse.ArgumentTypeError('{!r} is too far away'.format(text)) from None


def _purge_args(parser):
    parser.add_argument('--time-ago', type=time_ago, default=timedelta(days=180),
                        metavar='"N UNIT ago"',
                        help='purge carts last updated before this (default "180 days ago")')


def _purge(context, args):
    volume = context.config.get('cartd', 'volume_path')
    count = carts.purge_older_than(carts.now() - args.time_ago, volume)
    print('purged {} cart(s)'.format(count))
    return 0


def _fixit_args(parser):
    parser.add_argument('--cartid', nargs='+', default=[], metavar='UID',
                        help='uids of the carts to stage again')


def _fixit(context, args):
    """Stage the newest cart of each uid again, in this process, and bundle it.

    The files are claimed like a worker claims them (and the claims kept alive while this
    runs), so no worker stages them at the same time.
    """
    try:
        volume.prepare_root(context.config.get('cartd', 'volume_path'))
    except volume.UnsafeVolume as exc:
        raise StartupError(str(exc)) from None
    holdings = claims.Holdings(
        claims.worker_name('fixit@' + os.uname().nodename, uuid.uuid4().hex[:12]),
        context.config.get('cartd', 'claim_timeout'))
    with claims.Keeper(holdings):
        return _fix_carts(Stager(context.config, holdings=holdings), args.cartid,
                          context.config.get('cartd', 'task_retries'))


def _fix_carts(stager, uids, retries):
    code = 0
    for uid in uids:
        cart = carts.newest_cart(uid)
        if cart is None:
            print('fixit: no cart with uid {}'.format(uid))
            code = 1
            continue
        if cart.status == CartStatus.READY:
            print('fixit: cart {} is ready; nothing to fix'.format(uid))
            continue
        # Failed files get another chance; the cart goes back to staging.
        lifecycle.reset_for_fixit(cart.id)
        pending = stager.pending_files(cart.id) or []
        for number, file_id in enumerate(pending, 1):
            print('fixit: cart {}: file {}/{}'.format(uid, number, len(pending)))
            stage_synchronously(stager, file_id, retries)
        stager.finish(cart.id)
        final = Cart.get_by_id(cart.id)
        print('fixit: cart {} is {}{}'.format(uid, final.status,
                                              ': ' + final.error if final.error else ''))
        if final.status != CartStatus.READY:
            code = 1
    return code


def _dump_args(parser):
    parser.add_argument('--json', action='store_true', help='one line of JSON instead of YAML')


def _dump(_context, args):
    data = carts.dump_carts()
    if args.json:
        print(json.dumps(data))
    else:
        for cart in data:
            print('-')
            for key, value in cart.items():
                if key == 'files':
                    print('  files:')
                    for row in value:
                        print('  - ' + '\n    '.join('{}: {}'.format(k, json.dumps(v))
                                                     for k, v in row.items()))
                else:
                    print('  {}: {}'.format(key, json.dumps(value)))
    return 0

COMMANDS = (
    AdminCommand('fixit', 'stage the given carts again, synchronously, and bundle them',
                 _fixit, _fixit_args),
    AdminCommand('purge', 'delete carts not updated since --time-ago', _purge, _purge_args),
    AdminCommand('dump', 'print every active cart (YAML, or JSON with --json)', _dump,
                 _dump_args),
)
