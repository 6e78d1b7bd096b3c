"""The program shapes every service shares.

* the server: ``pacifica-<service> [-c CONFIG] [--cpconfig CPCONFIG] [-p PORT] [-a ADDRESS]``
* the admin command: ``pacifica-<service>-cmd [-c CONFIG] {dbsync,dbchk [--equal],...}``
* the WSGI application behind ``pacifica.<service>.wsgi:application``

A service describes itself once with a :class:`Service`; these functions do the rest.

``-c`` takes either kind of file: the upstream docs call it the CherryPy config for uniqueid
and proxy but the service INI for metadata and cartd, and deployments use both. A file whose
sections are CherryPy's (``[global]``, ``[/...]``) is used as the CherryPy config; any other as
the service INI.
"""
import argparse
import errno
import logging
import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Tuple

from . import config as cfg
from . import database
from . import prepared

LOGGER = logging.getLogger(__name__)

CONFIG_HELP = ('service INI file, or a CherryPy config file (recognised by its [global] or '
               '[/...] sections); default ${env} or ~/.pacifica-{name}/config.ini')


@dataclass
class AdminCommand:
    """A service-specific admin subcommand: ``add_arguments(parser)``, ``run(context, args)``
    returning the exit code."""

    name: str
    help: str
    run: Callable[['Context', argparse.Namespace], int]
    add_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None
    needs_database: bool = True


@dataclass
class Service:
    """What the shared programs need to know about one service."""

    name: str                         # 'uniqueid': env prefix, ~/.pacifica-<name>/, messages
    title: str                        # 'UniqueID': the status message
    port: int
    make_root: Callable[['Context'], Any]
    keys: Tuple[cfg.Key, ...] = ()
    address: str = 'localhost'
    db_proxy: Any = None              # peewee.DatabaseProxy the models are bound to
    schema: Any = None                # SchemaManager subclass
    admin_commands: Sequence[AdminCommand] = ()
    on_start: Optional[Callable[['Context'], None]] = None   # after the schema check
    wait_for_dependencies: Optional[Callable[['Context'], None]] = None  # server CLI only
    extra_server_args: Optional[Callable[[argparse.ArgumentParser], None]] = None
    extra_admin_args: Optional[Callable[[argparse.ArgumentParser], None]] = None
    operations: Any = None            # operations.Probes: readiness checks, scrape gauges
    # (path prefix, [server] key): a body limit other than max_request_body for those paths
    body_limits: Sequence[Tuple[str, str]] = ()
    # fast_path(app, context): may put a WSGI fast path in front of the built app
    fast_path: Optional[Callable[[Any, 'Context'], Any]] = None

    @property
    def env_prefix(self):
        """``UNIQUEID`` for ``UNIQUEID_CONFIG`` / ``UNIQUEID_CPCONFIG``."""
        return self.name.upper()

    def default_config(self):
        """The INI path when no ``-c`` is given."""
        return cfg.default_config_path(self.name, self.env_prefix + '_CONFIG')

    def admin_default_config(self):
        """The admin command's INI when no ``-c`` is given: ``$<SERVICE>_CONFIG``, else the
        suite's ``$PACIFICA_HOME/<name>.ini`` when there is one (so the admin commands find
        a running suite's databases), else ``~/.pacifica-<name>/config.ini``."""
        home = os.environ.get('PACIFICA_HOME')
        if home and not os.environ.get(self.env_prefix + '_CONFIG'):
            suite_ini = os.path.join(home, self.name + '.ini')
            if os.path.isfile(suite_ini):
                return suite_ini
        return self.default_config()

    def default_cpconfig(self):
        """The CherryPy config path when no ``--cpconfig`` is given."""
        return os.environ.get(self.env_prefix + '_CPCONFIG') or os.path.join(
            os.path.expanduser('~'), '.pacifica-{}'.format(self.name), 'cpconfig.ini')


@dataclass
class Context:
    """What a running service was started with: its config and its database."""

    service: Service
    config: cfg.Config
    database: Any = None
    args: Any = None
    extra: dict = field(default_factory=dict)

    debug: bool = False               # PACIFICA_DEBUG: tracebacks in error bodies


class StartupError(RuntimeError):
    """Start-up cannot go on; the message is printed as one line and the exit code is 1."""


def _split_config_flag(path):
    """Classify a ``-c`` file: returns ``(ini, cpconfig)`` with one of them None."""
    if not os.path.isfile(path):
        raise StartupError('config file {} does not exist'.format(path))
    if cfg.is_cherrypy_config(path):
        return None, path
    return path, None


def debug_enabled(environ=None):
    """``PACIFICA_DEBUG``: put tracebacks in error bodies (for development only)."""
    raw = (os.environ if environ is None else environ).get('PACIFICA_DEBUG', 'false')
    try:
        return cfg.parse_bool(raw)
    except ValueError as exc:
        raise cfg.ConfigError('PACIFICA_DEBUG = {!r}: {}'.format(raw, exc)) from None


def make_context(service, ini_path, args=None, environ=None):
    """Load the config and bind (not connect) the database."""
    config = cfg.load(service.keys, ini_path, environ)
    context = Context(service, config, args=args, debug=debug_enabled(environ))
    if service.db_proxy is not None:
        db = database.open_database(config.get('database', 'peewee_url'))
        service.db_proxy.initialize(db)
        context.database = db
        if config.get('database', 'debug_logging'):
            database.enable_debug_logging()
        if any(key.section == 'database' and key.name == 'prepared_statements'
               for key in service.keys):
            prepared.enable(config.get('database', 'prepared_statements'))
    return context


def connect(context):
    """Wait for the database as ``connect_attempts`` / ``connect_wait`` say."""
    conf = context.config
    database.connect_with_retry(context.database, conf.get('database', 'connect_attempts'),
                                conf.get('database', 'connect_wait'))


def _fail(program, exc):
    """Print a start-up failure as one line (never a traceback) and return exit code 1."""
    text = str(exc).strip()
    print('{}: {}'.format(program, text.splitlines()[0] if text else repr(exc)),
          file=sys.stderr)
    return 1

_HANDLED = (StartupError, cfg.ConfigError, database.DatabaseURLError, database.ConnectError)


def _schema_errors():
    from .schema import SchemaError  # pylint: disable=import-outside-toplevel
    return _HANDLED + (SchemaError, database.peewee.DatabaseError)


# -- the server ------------------------------------------------------------------------------
def server_parser(service):
    """The server's argument parser."""
    parser = argparse.ArgumentParser(
        prog='pacifica-{}'.format(service.name),
        description='Run the Pacifica {} service with CherryPy.'.format(service.title),
        epilog='Explicit -p/-a win over the CherryPy file, which wins over the defaults.')
    parser.add_argument('-c', '--config', dest='config', default=None,
                        help=CONFIG_HELP.format(env=service.env_prefix + '_CONFIG',
                                                name=service.name))
    parser.add_argument('--cpconfig', dest='cpconfig', default=None,
                        help='CherryPy config file; default ${}_CPCONFIG or '
                             '~/.pacifica-{}/cpconfig.ini (a missing file is fine)'.format(
                                 service.env_prefix, service.name))
    parser.add_argument('-p', '--port', type=int, default=None,
                        help='port to listen on (default {})'.format(service.port))
    parser.add_argument('-a', '--address', default=None,
                        help='address to listen on (default {})'.format(service.address))
    parser.add_argument('--stop-after-a-moment', action='store_true', help=argparse.SUPPRESS)
    if service.extra_server_args:
        service.extra_server_args(parser)
    return parser


def _check_port_free(address, port):
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise StartupError('cannot resolve address {}: {}'.format(address, exc)) from None
    family, _, _, _, sockaddr = infos[0]
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(sockaddr)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError('port {} on {} is already in use'.format(port, address)) from None
        raise StartupError('cannot listen on {}:{}: {}'.format(address, port, exc)) from None
    finally:
        probe.close()


def prepare_server(service, argv=None):
    """Parse arguments, load config, wait for the database, check its schema and mount the
    app. Returns the Context; raises StartupError (and friends) with a one-line reason."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    from . import httpserver, operations, rest, sendfile  # pylint: disable=import-outside-toplevel

    args = server_parser(service).parse_args(argv)
    ini, cpconfig = service.default_config(), args.cpconfig
    if args.config:
        given_ini, given_cp = _split_config_flag(args.config)
        ini = given_ini or ini
        cpconfig = cpconfig or given_cp
    cpconfig = cpconfig or service.default_cpconfig()
    if cpconfig and not os.path.isfile(cpconfig):
        if args.cpconfig:
            raise StartupError('CherryPy config file {} does not exist'.format(cpconfig))
        cpconfig = None
    context = make_context(service, ini, args)
    if context.database is not None:
        connect(context)
        try:
            service.schema(context.database).check_safe()
        finally:
            context.database.close()
    if service.wait_for_dependencies:
        service.wait_for_dependencies(context)
    if service.on_start:
        service.on_start(context)

    cherrypy.config.update({'server.socket_host': service.address,
                            'server.socket_port': service.port,
                            'engine.autoreload.on': False,
                            'log.screen': True})
    cherrypy.config.update(httpserver.cherrypy_settings(context.config))
    if cpconfig:
        cherrypy.config.update(cpconfig)
    if args.address is not None:
        cherrypy.config.update({'server.socket_host': args.address})
    if args.port is not None:
        cherrypy.config.update({'server.socket_port': args.port})
    tool = None
    if context.database is not None:
        tool = service.name + '_db'
        database.request_tool(context.database, tool)
    app = operations.mount(rest.build_app(service.make_root(context), cpconfig, context.debug,
                                          tool), context)   # /api/ready, /api/metrics
    if service.fast_path:
        service.fast_path(app, context)
    _check_port_free(cherrypy.config['server.socket_host'], cherrypy.config['server.socket_port'])
    # Framing, body limits, slow clients; file bodies go out with os.sendfile.
    sendfile.install(httpserver.factory(context.config, service.body_limits))
    return context


def server_main(service, argv=None):
    """Entry point of ``pacifica-<service>``; returns the exit code."""
    import cherrypy  # pylint: disable=import-outside-toplevel

    try:
        context = prepare_server(service, argv)
    except _schema_errors() as exc:
        return _fail('pacifica-' + service.name, exc)
    if context.args.stop_after_a_moment:
        threading.Timer(10, cherrypy.engine.exit).start()
    if hasattr(cherrypy.engine, 'signal_handler'):
        cherrypy.engine.signal_handler.subscribe()
    cherrypy.engine.start()
    cherrypy.engine.block()
    return 0


# -- the admin command -------------------------------------------------------------------------
def admin_parser(service):
    """The admin command's argument parser."""
    parser = argparse.ArgumentParser(
        prog='pacifica-{}-cmd'.format(service.name),
        description='Administer the Pacifica {} service.'.format(service.title))
    parser.add_argument('-c', '--config', default=None,
                        help='service INI file; default ${}, else $PACIFICA_HOME/{}.ini (a '
                             'suite\'s state directory) if it exists, else '
                             '~/.pacifica-{}/config.ini'.format(
                                 service.env_prefix + '_CONFIG', service.name, service.name))
    if service.extra_admin_args:
        service.extra_admin_args(parser)
    builtin = ['dbsync', 'dbchk'] if service.schema is not None else []
    subs = parser.add_subparsers(dest='command', metavar='{' + ','.join(
        builtin + [c.name for c in service.admin_commands]) + '}')
    if service.schema is not None:
        subs.add_parser('dbsync', help='create or update the database schema')
        chk = subs.add_parser('dbchk', help='exit 0 when the service can run on the schema '
                                            '(its major version is the code\'s, and it is '
                                            'not older than the code needs), 255 when not')
        chk.add_argument('--equal', action='store_true',
                         help='compare major and minor versions')
    for command in service.admin_commands:
        sub = subs.add_parser(command.name, help=command.help)
        if command.add_arguments:
            command.add_arguments(sub)
    return parser


def _dbsync(context, _args):
    result = service_schema(context).dbsync()
    print(result)
    return 0


def _dbchk(context, args):
    schema = service_schema(context)
    ok = schema.is_equal() if args.equal else schema.is_safe()
    found = schema.version_or_zero()
    print('database schema {}.{}, code {}.{}: {}'.format(
        found[0], found[1], schema.current[0], schema.current[1], 'ok' if ok else 'mismatch'))
    return 0 if ok else 255


def service_schema(context):
    """The service's SchemaManager bound to the context's database."""
    return context.service.schema(context.database)


def admin_main(service, argv=None):
    """Entry point of ``pacifica-<service>-cmd``; returns the exit code."""
    parser = admin_parser(service)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_usage(sys.stderr)
        print('{}: error: a subcommand is required'.format(parser.prog), file=sys.stderr)
        return 2
    builtin = {'dbsync': _dbsync, 'dbchk': _dbchk}
    commands = {c.name: c for c in service.admin_commands}
    try:
        if args.config and not os.path.isfile(args.config):
            raise StartupError('config file {} does not exist'.format(args.config))
        context = make_context(service, args.config or service.admin_default_config(), args)
        needs_db = args.command in builtin or commands[args.command].needs_database
        if needs_db and context.database is not None:
            connect(context)
        try:
            if args.command in builtin:
                return builtin[args.command](context, args)
            return commands[args.command].run(context, args)
        finally:
            if context.database is not None and not context.database.is_closed():
                context.database.close()
    except _schema_errors() as exc:
        return _fail(parser.prog, exc)


# -- WSGI --------------------------------------------------------------------------------------
def wsgi_application(service):
    """The WSGI callable for ``pacifica.<service>.wsgi:application``.

    Config and cpconfig come from ``<SERVICE>_CONFIG`` / ``<SERVICE>_CPCONFIG``. Nothing
    connects here: uWSGI forks workers after importing this, and each worker opens its own
    pooled connections on first use. As upstream, the schema is not checked here; run
    ``pacifica-<service>-cmd dbchk`` before starting the workers.
    """
    import cherrypy  # pylint: disable=import-outside-toplevel
    from . import httpserver, operations, rest  # pylint: disable=import-outside-toplevel

    context = make_context(service, service.default_config())
    cpconfig = service.default_cpconfig()
    cpconfig = cpconfig if os.path.isfile(cpconfig) else None
    # The WSGI server (uWSGI) logs requests itself; a cpconfig may turn CherryPy's logs on.
    cherrypy.config.update({'engine.autoreload.on': False, 'log.screen': False,
                            'checker.on': False, 'environment': 'embedded'})
    if cpconfig:
        cherrypy.config.update(cpconfig)
    if service.on_start:
        service.on_start(context)
    tool = None
    if context.database is not None:
        tool = service.name + '_db'
        database.request_tool(context.database, tool)
    app = rest.build_app(service.make_root(context), cpconfig, context.debug, tool)
    httpserver.guard_wsgi(app, context.config, service.body_limits)   # [server] body limits
    operations.mount(app, context)   # /api/ready, /api/metrics
    if service.fast_path:
        service.fast_path(app, context)
    return cherrypy.tree
