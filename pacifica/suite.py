"""``pacifica-suite``: every installed service at once, on embedded defaults.

State lives under one directory (``$PACIFICA_HOME``, default ``./.pacifica``): one SQLite file
per service, the archive, the cart volume and the Celery queue. Each service runs as its own
process on its documented port; ``dbsync`` runs first; Ctrl-C or SIGTERM stops them all.
"""
import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional
from urllib.request import urlopen

HOST = '127.0.0.1'


def _no_env(_state, _urls):
    return {}


@dataclass
class Entry:
    """One process the suite starts."""

    name: str
    module: str                      # package that must be importable for the entry to run
    port: Optional[int]              # None: no HTTP port (the Celery worker)
    argv: Callable[[str, int], List[str]]          # (state dir, port) -> command line
    env: Callable[[str, Dict[str, str]], Dict[str, str]] = _no_env
    # (state dir, {entry name: base URL}) -> environment
    dbsync: Optional[List[str]] = None              # admin command run before start
    example: str = ''
    needs: tuple = ()                               # entries this one cannot run without
    database: bool = False                          # uses PEEWEE_URL (default: SQLite file)

    def shifted(self, offset):
        """This entry with its port (and the ports in its example) moved by ``offset``."""
        if self.port is None:
            return self
        moved = self.port + offset
        return replace(self, port=moved, example=self.example.replace(
            ':{}/'.format(self.port), ':{}/'.format(moved)))

    def installed(self):
        """Whether this entry's package is importable here."""
        return importlib.util.find_spec(self.module) is not None


def _sqlite(state, name):
    return {'PEEWEE_URL': 'sqliteext:///' + os.path.join(state, name + '.sqlite3')}


def _python(*args):
    return [sys.executable, '-m'] + list(args)


def _admin(package, *args):
    """Run ``<package>.__main__.cmd`` (the ``pacifica-<service>-cmd`` program)."""
    code = 'import sys, {}.__main__ as m; sys.exit(m.cmd(sys.argv[1:]))'.format(package)
    return [sys.executable, '-c', code] + list(args)


def _cartd_env(state, urls):
    """cartd and its worker: one database, volume and (filesystem) broker in the state dir."""
    return dict(_sqlite(state, 'cartd'),
                VOLUME_PATH=os.path.join(state, 'carts') + os.sep,
                ARCHIVE_INTERFACE_URL=urls['archiveinterface'] + '/',
                CELERY_FILESYSTEM_DIR=os.path.join(state, 'celery'))


def _serve(package, *extra):
    """The argv factory for ``python -m <package> -a HOST -p PORT EXTRA``."""
    return lambda state, port: _python(package, '-a', HOST, '-p', str(port), *[
        arg.format(state=state) for arg in extra])


# In start order: peers first, the proxy last (it waits for metadata).
ENTRIES = [
    Entry('archiveinterface', 'pacifica.archiveinterface', 8080,
          _serve('pacifica.archiveinterface', '--prefix', '{state}/archive'),
          example="curl -X PUT --data-binary @README.md "
                  "-H 'Content-Type: application/octet-stream' http://127.0.0.1:8080/1"),
    Entry('uniqueid', 'pacifica.uniqueid', 8051, _serve('pacifica.uniqueid'), database=True,
          env=lambda state, urls: _sqlite(state, 'uniqueid'),
          dbsync=_admin('pacifica.uniqueid', 'dbsync'),
          example="curl 'http://127.0.0.1:8051/getid?range=10&mode=file'"),
    Entry('metadata', 'pacifica.metadata', 8121, _serve('pacifica.metadata'), database=True,
          env=lambda state, urls: dict(_sqlite(state, 'metadata'),
                                       NOTIFICATIONS_DISABLED='true'),
          dbsync=_admin('pacifica.metadata', 'dbsync'),
          example="curl 'http://127.0.0.1:8121/users'"),
    Entry('cartd', 'pacifica.cartd', 8081, _serve('pacifica.cartd'), database=True,
          needs=('archiveinterface',), env=_cartd_env,
          dbsync=_admin('pacifica.cartd', 'dbsync'),
          example="curl -X POST -H 'Content-Type: application/json' -d '{\"fileids\": "
                  "[{\"id\": 1, \"path\": \"README.md\", \"hashtype\": \"sha1\", "
                  "\"hashsum\": \"'$(sha1sum < README.md | cut -d' ' -f1)'\"}]}' "
                  "http://127.0.0.1:8081/mycart"),
    # The worker shares cartd's environment (database, volume, broker) and has no port.
    Entry('cartd-worker', 'pacifica.cartd', None,
          lambda state, port: _python('celery', '-A', 'pacifica.cartd.tasks', 'worker',
                                      '--loglevel=INFO', '--concurrency=2'),
          needs=('cartd',), env=_cartd_env, database=True),
    Entry('proxy', 'pacifica.proxy', 8180, _serve('pacifica.proxy'),
          needs=('metadata', 'archiveinterface'),
          env=lambda state, urls: {
              'METADATA_URL': urls['metadata'],
              'METADATA_STATUS_URL': urls['metadata'] + '/keys',
              'ARCHIVEINTERFACE_URL': urls['archiveinterface']}),
]


def available(entries):
    """The entries whose package is installed and whose peers are available too."""
    found = [e for e in entries if e.installed()]
    names = {e.name for e in found}
    return [e for e in found if all(need in names for need in e.needs)]


@dataclass
class Suite:
    """The running processes and how to stop them."""

    state: str
    entries: List[Entry]
    database: Optional[str] = None   # one database URL for every service (tables never clash)
    broker: Optional[str] = None     # Celery broker URL (default: the filesystem transport)
    procs: List[subprocess.Popen] = field(default_factory=list)

    def env(self, entry):
        """The environment of one entry's processes."""
        env = dict(os.environ)
        env.setdefault('PACIFICA_HOME', self.state)
        # The suite's own defaults must not be overridden by a user's ~/.pacifica-* files.
        service = entry.module.rsplit('.', 1)[-1].upper()
        env['{}_CONFIG'.format(service)] = os.path.join(self.state, 'none.ini')
        env['{}_CPCONFIG'.format(service)] = os.path.join(self.state, 'none.conf')
        urls = {e.name: 'http://{}:{}'.format(HOST, e.port) for e in self.entries if e.port}
        env.update(entry.env(self.state, urls))
        if self.database and entry.database:
            env['PEEWEE_URL'] = self.database
        if self.broker:
            env['BROKER_URL'] = self.broker
        return env

    def check_ports(self):
        """Refuse to start when a documented port is taken (before anything starts)."""
        for entry in self.entries:
            if entry.port is None:
                continue
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((HOST, entry.port))
                except OSError:
                    raise SystemExit('pacifica-suite: port {} ({}) is already in use; stop '
                                     'whatever holds it and try again'.format(
                                         entry.port, entry.name)) from None

    def dbsync(self):
        """Create or update every schema before any server starts."""
        for entry in self.entries:
            if entry.dbsync:
                done = subprocess.run(entry.dbsync, env=self.env(entry), cwd=self.state,
                                      capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise SystemExit('pacifica-suite: {} dbsync failed: {}'.format(
                        entry.name, (done.stderr or done.stdout).strip()))

    def start(self):
        """Start every process (each in its own process group, so stop() reaches children)."""
        for entry in self.entries:
            log = open(os.path.join(self.state, entry.name + '.log'), 'ab')  # pylint: disable=consider-using-with
            self.procs.append(subprocess.Popen(  # pylint: disable=consider-using-with
                entry.argv(self.state, entry.port), env=self.env(entry), cwd=self.state,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            log.close()

    def wait_ready(self, timeout=30.0):
        """Wait until every HTTP service answers ``GET /``."""
        deadline = time.monotonic() + timeout
        for entry, proc in zip(self.entries, self.procs):
            if entry.port is None:
                continue
            while True:
                if proc.poll() is not None:
                    raise SystemExit('pacifica-suite: {} exited with {}; see {}'.format(
                        entry.name, proc.returncode,
                        os.path.join(self.state, entry.name + '.log')))
                try:
                    with urlopen('http://{}:{}/'.format(HOST, entry.port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit('pacifica-suite: {} did not answer within {:.0f} s'
                                         .format(entry.name, timeout)) from None
                    time.sleep(0.1)

    def stop(self, grace=10.0):
        """SIGTERM every process, then SIGKILL the process groups of what is left after
        ``grace`` seconds (and of anything they started)."""
        for proc in self.procs:
            if proc.poll() is None:
                # The main process only: a Celery worker shuts its own pool down, and
                # children signalled behind its back make it wait for them.
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()

    def banner(self):
        """What is running and a first thing to try."""
        lines = ['Pacifica suite running; state in {}'.format(self.state)]
        for entry in self.entries:
            if entry.port is not None:
                lines.append('  {:<18} http://{}:{}/'.format(entry.name, HOST, entry.port))
        examples = [e.example for e in self.entries if e.example]
        if examples:
            lines.append('Try:')
            lines.extend('  ' + example for example in examples)
        lines.append('Ctrl-C stops every service.')
        return '\n'.join(lines)


def main(argv=None):
    """Run the suite until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog='pacifica-suite',
        description='Run every installed Pacifica service on embedded defaults (SQLite, a '
                    'filesystem Celery broker, local directories) on its documented port.')
    parser.add_argument('--home', default=None,
                        help='state directory (default $PACIFICA_HOME or ./.pacifica)')
    parser.add_argument('--database', default=None,
                        help='one database URL for every service (e.g. postgresql://...); '
                             'default: a SQLite file per service in the state directory')
    parser.add_argument('--broker', default=None,
                        help="Celery broker URL for cartd (e.g. pyamqp://); default: kombu's "
                             'filesystem transport in the state directory')
    parser.add_argument('--port-offset', type=int, default=0,
                        help='add this to every documented port (to run a second suite '
                             'beside one on the documented ports); default 0')
    args = parser.parse_args(argv)
    state = os.path.abspath(args.home or os.environ.get('PACIFICA_HOME') or '.pacifica')
    os.makedirs(state, exist_ok=True)
    entries = available(ENTRIES)
    if args.port_offset:
        entries = [e.shifted(args.port_offset) for e in entries]
    suite = Suite(state, entries, args.database, args.broker)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(signum)

    signal.signal(signal.SIGTERM, on_signal)
    suite.check_ports()
    try:
        suite.dbsync()
        suite.start()
        suite.wait_ready()
        print(suite.banner(), flush=True)
        while all(proc.poll() is None for proc in suite.procs):
            time.sleep(0.5)
        dead = [e.name for e, p in zip(suite.entries, suite.procs) if p.poll() is not None]
        print('pacifica-suite: {} stopped unexpectedly; stopping the rest'.format(
            ', '.join(dead)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\npacifica-suite: stopping', flush=True)
        return 0
    finally:
        suite.stop()


if __name__ == '__main__':
    sys.exit(main())
