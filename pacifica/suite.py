"""``pacifica-suite``: every installed service at once, on embedded defaults.

State lives under one directory (``--home``, ``$PACIFICA_HOME``, default ``./.pacifica``): one
SQLite file per service, the archive, the cart volume and the Celery queue. Each service runs
as its own process on its documented port; ``dbsync`` runs first.

It behaves like a foreground program:

* Ctrl-C, SIGTERM or SIGHUP (the terminal closed) stop every process it started, within
  about 2 s; the Celery worker does a cold shutdown, which hands the tasks it was running back
  to the broker instead of finishing them;
* however the suite itself dies (even SIGKILL), its services die with it: each child asks the
  kernel for a SIGTERM when its parent goes (``prctl(PR_SET_PDEATHSIG)``, Linux);
* one suite per state directory: an ``flock`` on ``<state>/suite.lock`` (which holds the
  pid); the kernel drops it when the suite dies, so a stale file never blocks;
* each service reads a per-service INI under the state directory (``<state>/<service>.ini``,
  rewritten at every start), and the admin commands use the same file when
  ``$PACIFICA_HOME`` names the state directory, so ``pacifica-cartd-cmd dump`` sees the
  suite's carts.
"""
import argparse
import ctypes
import ctypes.util
import errno
import fcntl
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional
from urllib.request import urlopen

DEFAULT_ADDRESS = '127.0.0.1'
LOCK_NAME = 'suite.lock'
# Seconds the suite waits for its processes to exit before it kills what is left.
STOP_GRACE = 1.2
PR_SET_PDEATHSIG = 1


def _no_ini(_state, _urls):
    return {}


@dataclass
class Entry:
    """One process the suite starts."""

    name: str
    module: str                      # package that must be importable for the entry to run
    service: str                     # whose INI (<state>/<service>.ini) it reads
    port: Optional[int]              # None: no HTTP port (the Celery worker)
    argv: Callable[[str, int], List[str]]          # (address, port) -> command line
    ini: Callable[[str, Dict[str, str]], Dict[str, Dict[str, str]]] = _no_ini
    # (state dir, {entry name: base URL}) -> {section: {key: value}} of the service INI
    extra_env: Dict[str, str] = field(default_factory=dict)
    dbsync: Optional[List[str]] = None              # admin command run before start
    example: str = ''                               # '{url}' is the entry's base URL
    needs: tuple = ()                               # entries this one cannot run without
    database: bool = False                          # has a [database] peewee_url

    def shifted(self, offset):
        """This entry with its port moved by ``offset``."""
        if self.port is None:
            return self
        return replace(self, port=self.port + offset)

    def installed(self):
        """Whether this entry's package is importable here."""
        return importlib.util.find_spec(self.module) is not None


def _python(*args):
    return [sys.executable, '-m'] + list(args)


def _admin(package, *args):
    """Run ``<package>.__main__.cmd`` (the ``pacifica-<service>-cmd`` program)."""
    code = 'import sys, {}.__main__ as m; sys.exit(m.cmd(sys.argv[1:]))'.format(package)
    return [sys.executable, '-c', code] + list(args)


def _serve(package):
    """The argv factory for ``python -m <package> -a ADDRESS -p PORT``."""
    return lambda address, port: _python(package, '-a', address, '-p', str(port))


def _cartd_ini(state, urls):
    """cartd and its worker: one database, volume and (filesystem) broker in the state dir."""
    return {'cartd': {'volume_path': os.path.join(state, 'carts') + os.sep},
            'archiveinterface': {'url': urls['archiveinterface'] + '/'},
            'celery': {'filesystem_dir': os.path.join(state, 'celery')}}


# In start order: peers first, the proxy last (it waits for metadata).
ENTRIES = [
    Entry('archiveinterface', 'pacifica.archiveinterface', 'archiveinterface', 8080,
          _serve('pacifica.archiveinterface'),
          ini=lambda state, urls: {'posix': {'prefix': os.path.join(state, 'archive')}},
          example="curl -X PUT --data-binary @README.md "
                  "-H 'Content-Type: application/octet-stream' {url}/1"),
    Entry('uniqueid', 'pacifica.uniqueid', 'uniqueid', 8051, _serve('pacifica.uniqueid'),
          database=True, dbsync=_admin('pacifica.uniqueid', 'dbsync'),
          example="curl '{url}/getid?range=10&mode=file'"),
    Entry('metadata', 'pacifica.metadata', 'metadata', 8121, _serve('pacifica.metadata'),
          database=True, ini=lambda state, urls: {'notifications': {'disabled': 'true'}},
          dbsync=_admin('pacifica.metadata', 'dbsync'),
          example="curl '{url}/users'"),
    Entry('cartd', 'pacifica.cartd', 'cartd', 8081, _serve('pacifica.cartd'), database=True,
          needs=('archiveinterface',), ini=_cartd_ini,
          dbsync=_admin('pacifica.cartd', 'dbsync'),
          example="curl -X POST -H 'Content-Type: application/json' -d '{{\"fileids\": "
                  "[{{\"id\": 1, \"path\": \"README.md\", \"hashtype\": \"sha1\", "
                  "\"hashsum\": \"'$(sha1sum < README.md | cut -d' ' -f1)'\"}}]}}' "
                  "{url}/mycart"),
    # The worker reads cartd's INI and has no port. REMAP_SIGTERM makes SIGTERM a cold
    # shutdown: the tasks it was running go back to the broker (they are acknowledged late)
    # instead of holding up the stop until they finish.
    # Its node name is the suite's own: two suites on one broker (a shared RabbitMQ vhost)
    # would otherwise both be celery@<host>, and the second one's remote-control queue
    # (celery@<host>.celery.pidbox) is refused as RESOURCE_LOCKED, which stops that worker.
    Entry('cartd-worker', 'pacifica.cartd', 'cartd', None,
          lambda address, port: _python('celery', '-A', 'pacifica.cartd.tasks', 'worker',
                                        '--loglevel=INFO', '--concurrency=2',
                                        '-n', 'cartd-suite{}@%h'.format(os.getpid())),
          needs=('cartd',), ini=_cartd_ini, database=True,
          extra_env={'REMAP_SIGTERM': 'SIGQUIT'}),
    Entry('proxy', 'pacifica.proxy', 'proxy', 8180, _serve('pacifica.proxy'),
          needs=('metadata', 'archiveinterface'),
          # Metadata started just before: poll it often rather than sleeping 5 s at a time.
          ini=lambda state, urls: {
              'metadata': {'url': urls['metadata'], 'status_url': urls['metadata'] + '/keys',
                           'status_wait': '0.2', 'status_attempts': '150'},
              'archiveinterface': {'url': urls['archiveinterface']}}),
]


def available(entries):
    """The entries whose package is installed and whose peers are available too."""
    found = [e for e in entries if e.installed()]
    names = {e.name for e in found}
    return [e for e in found if all(need in names for need in e.needs)]


def url_host(address):
    """The host to reach a server bound to ``address`` (a wildcard means this machine)."""
    host = {'0.0.0.0': '127.0.0.1', '': '127.0.0.1', '::': '::1'}.get(address, address)
    return '[{}]'.format(host) if ':' in host else host


def write_ini(path, sections):
    """Write ``{section: {key: value}}`` as an INI file, atomically and readable only by us
    (it can hold a database password)."""
    lines = ['# Written by pacifica-suite at every start; edits are overwritten.',
             '# The admin commands read it when PACIFICA_HOME is this directory.']
    for section, values in sections.items():
        lines.append('')
        lines.append('[{}]'.format(section))
        for key, value in values.items():
            # configparser interpolates %: a URL-encoded password must survive it.
            lines.append('{} = {}'.format(key, str(value).replace('%', '%%')))
    temp = '{}.{}.tmp'.format(path, os.getpid())
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(lines) + '\n')
    os.replace(temp, path)


def _libc_prctl():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent_pid, prctl=None):
    """A ``preexec_fn`` that makes the child get SIGTERM when the suite dies, however it dies.

    If the suite is already gone by the time the child runs this (it died between fork and
    exec), the child stops at once instead of living on as an orphan.
    """
    prctl = prctl or _libc_prctl()

    def preexec():
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)  # pylint: disable=protected-access
    return preexec


class SuiteLock:
    """``<state>/suite.lock``: an exclusive ``flock`` held for the suite's life, with its pid."""

    def __init__(self, state):
        self.path = os.path.join(state, LOCK_NAME)
        self.fd = None

    def acquire(self):
        """Take the lock or raise SystemExit naming the suite that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode('ascii', 'replace').strip() or 'unknown'
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise SystemExit('pacifica-suite: another pacifica-suite (pid {}) is already '
                             'running on {}; stop it first, or give this one its own --home'
                             .format(holder, os.path.dirname(self.path))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, '{}\n'.format(os.getpid()).encode('ascii'), 0)
        self.fd = fd   # O_CLOEXEC (Python's default): the services do not inherit it

    def release(self):
        """Give the lock up (the kernel does it anyway when the suite dies)."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


@dataclass
class Suite:
    """The running processes and how to stop them."""

    state: str
    entries: List[Entry]
    database: Optional[str] = None   # one database URL for every service (tables never clash)
    broker: Optional[str] = None     # Celery broker URL (default: the filesystem transport)
    address: str = DEFAULT_ADDRESS
    procs: List[subprocess.Popen] = field(default_factory=list)

    def url(self, entry):
        """The base URL of an entry's server (no trailing slash)."""
        return 'http://{}:{}'.format(url_host(self.address), entry.port)

    def urls(self):
        """``{entry name: base URL}`` of the servers."""
        return {e.name: self.url(e) for e in self.entries if e.port}

    def ini_path(self, entry):
        """``<state>/<service>.ini``."""
        return os.path.join(self.state, entry.service + '.ini')

    def ini(self, entry):
        """The service INI of an entry: the suite's settings for it."""
        sections = {}
        if entry.database:
            sections['database'] = {'peewee_url': self.database or 'sqliteext:///' + os.path.join(
                self.state, entry.service + '.sqlite3')}
        if entry.service == 'cartd' and self.broker:
            sections.setdefault('celery', {})['broker_url'] = self.broker
        for section, values in entry.ini(self.state, self.urls()).items():
            sections.setdefault(section, {}).update(values)
        return sections

    def write_configs(self):
        """Write every service's INI, and empty every service's metrics directory."""
        for entry in self.entries:
            write_ini(self.ini_path(entry), self.ini(entry))
        metrics = os.path.join(self.state, 'metrics')
        shutil.rmtree(metrics, ignore_errors=True)
        for entry in self.entries:
            os.makedirs(os.path.join(metrics, entry.service), exist_ok=True)

    def env(self, entry):
        """The environment of one entry's processes."""
        env = dict(os.environ)
        env['PACIFICA_HOME'] = self.state
        # The suite's INI, never the user's ~/.pacifica-* files.
        prefix = entry.service.upper()
        env['{}_CONFIG'.format(prefix)] = self.ini_path(entry)
        env['{}_CPCONFIG'.format(prefix)] = os.path.join(self.state, 'none.conf')
        # cartd and its worker share a directory: the staging figures reach cartd's metrics.
        env['PROMETHEUS_MULTIPROC_DIR'] = os.path.join(self.state, 'metrics', entry.service)
        env.update(entry.extra_env)
        return env

    def check_ports(self):
        """Refuse to start when a port is taken (before anything starts)."""
        for entry in self.entries:
            if entry.port is None:
                continue
            try:
                infos = socket.getaddrinfo(self.address, entry.port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise SystemExit('pacifica-suite: cannot use address {!r}: {}'.format(
                    self.address, exc)) from None
            family, _, _, _, sockaddr = infos[0]
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(sockaddr)
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise SystemExit('pacifica-suite: cannot listen on {} port {}: {}'
                                         .format(self.address, entry.port, exc.strerror)
                                         ) from None
                    raise SystemExit('pacifica-suite: port {} ({}) is already in use; stop '
                                     'whatever holds it, or try --port-offset 1000'.format(
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
        """Start every process, each in a process group of its own (a Ctrl-C reaches the
        suite only, which stops them in order) and set to die with the suite."""
        preexec = die_with_parent(os.getpid())
        for entry in self.entries:
            log = open(os.path.join(self.state, entry.name + '.log'), 'ab')  # pylint: disable=consider-using-with
            self.procs.append(subprocess.Popen(  # pylint: disable=consider-using-with,subprocess-popen-preexec-fn
                entry.argv(self.address, entry.port), env=self.env(entry), cwd=self.state,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=preexec))
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
                    with urlopen(self.url(entry) + '/', timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit('pacifica-suite: {} did not answer within {:.0f} s'
                                         .format(entry.name, timeout)) from None
                    time.sleep(0.05)

    def stop(self, grace=STOP_GRACE):
        """SIGTERM every process (and SIGCONT, so a stopped one acts on it), then SIGKILL the
        process groups of what is left after ``grace`` seconds, and of anything they started."""
        for proc in self.procs:
            if proc.poll() is None:
                # The main process only: a Celery worker shuts its own pool down, and
                # children signalled behind its back make it wait for them.
                proc.send_signal(signal.SIGTERM)
                _signal_group(proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()

    def banner(self):
        """What is running and a first thing to try."""
        lines = ['Pacifica suite running; state in {}'.format(self.state)]
        if self.address in ('0.0.0.0', '::', ''):
            lines.append('  listening on every address of this machine ({})'.format(
                self.address or '0.0.0.0'))
        for entry in self.entries:
            if entry.port is not None:
                lines.append('  {:<18} {}/'.format(entry.name, self.url(entry)))
        examples = [e.example.format(url=self.url(e)) for e in self.entries if e.example]
        if examples:
            lines.append('Try:')
            lines.extend('  ' + example for example in examples)
        lines.append('Admin commands: PACIFICA_HOME={} pacifica-<service>-cmd ...'.format(
            self.state))
        lines.append('Ctrl-C stops every service.')
        return '\n'.join(lines)


def _signal_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _say(text, stream=None):
    """Print, unless the terminal is gone (SIGHUP): stopping matters more than saying so."""
    try:
        print(text, file=stream or sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


def parser():
    """The argument parser of ``pacifica-suite``."""
    ours = argparse.ArgumentParser(
        prog='pacifica-suite',
        description='Run every installed Pacifica service on embedded defaults (SQLite, a '
                    'filesystem Celery broker, local directories) on its documented port. '
                    'Ctrl-C, SIGTERM or SIGHUP stop them all; one suite per state directory.')
    ours.add_argument('--home', default=None,
                      help='state directory (default $PACIFICA_HOME or ./.pacifica)')
    ours.add_argument('--database', default=None,
                      help='one database URL for every service (e.g. postgresql://...); '
                           'default: a SQLite file per service in the state directory')
    ours.add_argument('--broker', default=None,
                      help="Celery broker URL for cartd (e.g. pyamqp://); default: kombu's "
                           'filesystem transport in the state directory')
    ours.add_argument('--port-offset', type=int, default=0,
                      help='add this to every documented port (to run a second suite, with '
                           'its own --home, beside one on the documented ports); default 0')
    ours.add_argument('-a', '--address', default=DEFAULT_ADDRESS,
                      help='address every service listens on (0.0.0.0: all of them); '
                           'default {}'.format(DEFAULT_ADDRESS))
    return ours


def main(argv=None):
    """Run the suite until Ctrl-C, SIGTERM or SIGHUP."""
    args = parser().parse_args(argv)
    state = os.path.abspath(args.home or os.environ.get('PACIFICA_HOME') or '.pacifica')
    os.makedirs(state, exist_ok=True)
    entries = available(ENTRIES)
    if args.port_offset:
        entries = [e.shifted(args.port_offset) for e in entries]
    suite = Suite(state, entries, args.database, args.broker, args.address)
    lock = SuiteLock(state)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    lock.acquire()
    try:
        suite.check_ports()
        suite.write_configs()
        suite.dbsync()
        suite.start()
        suite.wait_ready()
        _say(suite.banner())
        while all(proc.poll() is None for proc in suite.procs):
            time.sleep(0.2)
        dead = [e.name for e, p in zip(suite.entries, suite.procs) if p.poll() is not None]
        _say('pacifica-suite: {} stopped unexpectedly; stopping the rest'.format(
            ', '.join(dead)), sys.stderr)
        return 1
    except KeyboardInterrupt:
        _say('\npacifica-suite: stopping')
        return 0
    finally:
        # A second Ctrl-C (or a SIGTERM, SIGHUP) must not leave half of the services running.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        suite.stop()
        lock.release()


if __name__ == '__main__':
    sys.exit(main())
