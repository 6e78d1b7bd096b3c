"""``pacifica-suite`` (behind ``make run``) as a foreground program: it starts every installed
service, prints a working example, refuses a second suite on its state directory, and leaves
no process and no port behind however it ends (Ctrl-C, SIGTERM, SIGHUP, SIGKILL)."""
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from support import (BROKER_URL, POSTGRES_URL, ROOT, SUITE_PORTS, create_postgres_database,
                     drop_postgres_database, free_port_offset)

# Ctrl-C stops everything within this many seconds (issue 12, item 4).
STOP_WITHIN = 2.0


def processes_in(directory):
    """PIDs whose working directory is ``directory`` (the suite runs everything there)."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            if os.readlink('/proc/{}/cwd'.format(pid)) == str(directory):
                with open('/proc/{}/stat'.format(pid), encoding='ascii', errors='replace') as fh:
                    if fh.read().rsplit(')', 1)[1].split()[0] == 'Z':
                        continue   # exited, waiting to be reaped
                found.append(int(pid))
        except OSError:
            continue
    return found


def ports_taken(offset, address='127.0.0.1'):
    """The suite's ports (moved by ``offset``) that something still listens on."""
    taken = []
    for port in SUITE_PORTS:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port + offset))
            except OSError:
                taken.append(port + offset)
    return taken


def suite_env(home):
    """The environment of a suite under test (no user config, the checkout importable)."""
    return dict(os.environ, PYTHONPATH=ROOT, HOME=str(home.parent))


def start_suite(home, offset, *args):
    """Start the suite and read its banner; returns (process, banner lines)."""
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', 'pacifica.suite', '--home', str(home), '--port-offset',
         str(offset)] + list(args), env=suite_env(home), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    lines, started = [], time.monotonic()
    while time.monotonic() - started < 90:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if 'Ctrl-C stops every service' in line:
            return proc, lines
    proc.kill()
    raise AssertionError('suite did not come up:\n' + '\n'.join(lines))


def wait_until_gone(home, offset, timeout, address='127.0.0.1'):
    """Seconds until no process runs in ``home`` and every port is free (or fail)."""
    started = time.monotonic()
    while processes_in(home) or ports_taken(offset, address):
        if time.monotonic() - started > timeout:
            raise AssertionError('left behind after {} s: processes {}, ports {}'.format(
                timeout, processes_in(home), ports_taken(offset, address)))
        time.sleep(0.02)
    return time.monotonic() - started


def stop_suite(proc, home, offset, signum=signal.SIGINT, address='127.0.0.1'):
    """Stop a suite with ``signum``; it exits 0 and leaves nothing behind."""
    proc.send_signal(signum)
    assert proc.wait(30) == 0
    wait_until_gone(home, offset, timeout=10, address=address)


def admin(package, home, *args):
    """``pacifica-<service>-cmd ARGS`` with only PACIFICA_HOME pointing at the suite, run
    from an unrelated directory (where nothing may be created)."""
    cwd = home.parent / 'elsewhere'
    cwd.mkdir(exist_ok=True)
    code = 'import sys, {}.__main__ as m; sys.exit(m.cmd(sys.argv[1:]))'.format(package)
    done = subprocess.run([sys.executable, '-c', code] + list(args), cwd=str(cwd),
                          env=dict(suite_env(home), PACIFICA_HOME=str(home)),
                          capture_output=True, text=True, timeout=60, check=False)
    assert os.listdir(str(cwd)) == [], 'the admin command wrote into its working directory'
    return done


@pytest.mark.parametrize('stop_signal', [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_suite_runs_the_banner_example_and_stops_within_two_seconds(tmp_path, stop_signal):
    home = tmp_path / 'state'
    offset = free_port_offset()
    proc, banner = start_suite(home, offset)
    try:
        example = next(line.strip() for line in banner if '/getid?' in line)
        url = re.search(r"'(http[^']+)'", example).group(1)
        assert requests.get(url, timeout=5).json() == {'startIndex': 0, 'endIndex': 9}
        assert requests.get(url, timeout=5).json() == {'startIndex': 10, 'endIndex': 19}
        assert processes_in(home), 'the services run in the state directory'
        # Each service reads its INI from the state directory, readable by its owner only.
        assert oct(os.stat(str(home / 'uniqueid.ini')).st_mode & 0o777) == '0o600'
    finally:
        proc.send_signal(stop_signal)
        signalled = time.monotonic()
        assert proc.wait(30) == 0
    gone = wait_until_gone(home, offset, timeout=10) + (time.monotonic() - signalled)
    assert gone < STOP_WITHIN, 'stopping took {:.2f} s'.format(gone)
    assert 'stopping' in proc.stdout.read()
    assert (home / 'uniqueid.sqlite3').exists()


def test_closing_the_terminal_stops_everything(tmp_path):
    """The suite on a real pseudo-terminal as its controlling terminal; closing the terminal
    (the master side, as a terminal window or an SSH session does) sends it SIGHUP."""
    import fcntl  # pylint: disable=import-outside-toplevel
    import pty  # pylint: disable=import-outside-toplevel
    import termios  # pylint: disable=import-outside-toplevel
    home, offset = tmp_path / 'state', free_port_offset()
    master, slave = pty.openpty()

    def take_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(  # pylint: disable=consider-using-with,subprocess-popen-preexec-fn
        [sys.executable, '-m', 'pacifica.suite', '--home', str(home), '--port-offset',
         str(offset)], env=suite_env(home), stdin=slave, stdout=slave, stderr=slave,
        preexec_fn=take_terminal)
    os.close(slave)
    output, deadline = b'', time.monotonic() + 90
    try:
        while b'Ctrl-C stops every service' not in output:
            assert time.monotonic() < deadline, output.decode('utf-8', 'replace')
            output += os.read(master, 4096)
        assert processes_in(home)
    finally:
        os.close(master)
        closed = time.monotonic()
    assert proc.wait(30) == 0
    gone = wait_until_gone(home, offset, timeout=10) + (time.monotonic() - closed)
    assert gone < STOP_WITHIN, 'stopping took {:.2f} s'.format(gone)


def test_second_suite_on_the_same_state_refuses_in_one_line(tmp_path):
    home = tmp_path / 'state'
    offset = free_port_offset()
    first, _banner = start_suite(home, offset)
    try:
        other = free_port_offset()
        done = subprocess.run([sys.executable, '-m', 'pacifica.suite', '--home', str(home),
                               '--port-offset', str(other)], env=suite_env(home),
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            'pacifica-suite: another pacifica-suite (pid {}) is already running on {}; stop it '
            'first, or give this one its own --home'.format(first.pid, home)]
        assert ports_taken(other) == [], 'the refused suite started nothing'
        # The first one is undisturbed.
        resp = requests.get('http://127.0.0.1:{}/getid?range=1&mode=x'.format(8051 + offset),
                            timeout=5)
        assert resp.json() == {'startIndex': 0, 'endIndex': 0}
    finally:
        stop_suite(first, home, offset)


def test_sigkill_of_the_suite_takes_its_services_along(tmp_path):
    home = tmp_path / 'state'
    offset = free_port_offset()
    proc, _banner = start_suite(home, offset)
    children = processes_in(home)
    assert len(children) >= 6
    proc.kill()
    proc.wait(10)
    # The children get SIGTERM from the kernel (PR_SET_PDEATHSIG) and stop on their own.
    wait_until_gone(home, offset, timeout=15)
    # The lock died with the suite: a new one starts on the same state, with its data.
    again, banner = start_suite(home, offset)
    try:
        url = re.search(r"'(http[^']+/getid[^']+)'", '\n'.join(banner)).group(1)
        assert requests.get(url, timeout=5).json() == {'startIndex': 0, 'endIndex': 9}
    finally:
        stop_suite(again, home, offset, signal.SIGTERM)


def pid_of(home, module):
    """The pid of the suite's process running ``python -m <module>``."""
    for pid in processes_in(home):
        with open('/proc/{}/cmdline'.format(pid), 'rb') as handle:
            if module.encode() in handle.read().split(b'\0'):
                return pid
    raise AssertionError('no {} process'.format(module))


@pytest.mark.parametrize('backend', ['embedded', 'postgresql+rabbitmq'])
def test_a_task_in_flight_at_ctrl_c_is_not_lost(tmp_path, backend, monkeypatch):
    args, database = [], None
    if backend != 'embedded':
        if not (POSTGRES_URL and BROKER_URL):
            pytest.skip('PACIFICA_TEST_POSTGRES and PACIFICA_TEST_BROKER are not both set')
        database = create_postgres_database()
        args = ['--database', database, '--broker', BROKER_URL]
        monkeypatch.setenv('CELERY_TASK_QUEUE', 'suite_' + os.path.basename(database))
    home, offset = tmp_path / 'state', free_port_offset()
    archive = 'http://127.0.0.1:{}'.format(8080 + offset)
    cartd = 'http://127.0.0.1:{}'.format(8081 + offset)
    try:
        proc, _banner = start_suite(home, offset, *args)
        data = os.urandom(100000)
        assert requests.put(archive + '/9001', data=data, timeout=5).status_code == 201
        # The archive hangs: the worker's task waits on it, in flight, when Ctrl-C comes.
        os.kill(pid_of(home, 'pacifica.archiveinterface'), signal.SIGSTOP)
        resp = requests.post(cartd + '/flight', timeout=5, json={'fileids': [
            {'id': '9001', 'path': 'f.bin', 'hashtype': 'sha1',
             'hashsum': hashlib.sha1(data).hexdigest()}]})
        assert resp.status_code == 201
        worker_log = home / 'cartd-worker.log'
        deadline = time.monotonic() + 20
        while 'stage_batch' not in worker_log.read_text().split('ready.')[-1]:
            assert time.monotonic() < deadline, 'the worker never took the task'
            time.sleep(0.1)
        stop_suite(proc, home, offset)
        proc, _banner = start_suite(home, offset, *args)
        try:
            deadline = time.monotonic() + 60
            while True:
                status = requests.head(cartd + '/flight', timeout=5).headers['X-Pacifica-Status']
                if status != 'staging':
                    break
                assert time.monotonic() < deadline, 'the cart never finished after the restart'
                time.sleep(0.2)
            assert status == 'ready'
        finally:
            stop_suite(proc, home, offset)
    finally:
        if database:
            drop_postgres_database(database)


def test_address_and_the_admin_commands_find_the_suite(tmp_path):
    home = tmp_path / 'state'
    offset = free_port_offset()
    address = '127.0.0.2'     # on Linux every 127/8 address is this machine
    proc, banner = start_suite(home, offset, '--address', address)
    try:
        uniqueid = 'http://{}:{}'.format(address, 8051 + offset)
        assert '  uniqueid           {}/'.format(uniqueid) in banner
        assert requests.get(uniqueid + '/getid?range=5&mode=file', timeout=5).json() == {
            'startIndex': 0, 'endIndex': 4}
        with pytest.raises(requests.ConnectionError):
            requests.get('http://127.0.0.1:{}/'.format(8051 + offset), timeout=5)
        # The proxy reaches metadata and the archive on that address too.
        proxy = requests.get('http://{}:{}/api/ready'.format(address, 8180 + offset), timeout=5)
        assert proxy.status_code == 200, proxy.text

        cart = requests.post('http://{}:{}/suitecart'.format(address, 8081 + offset),
                             json={'fileids': [{'id': 1, 'path': 'a.txt', 'hashtype': 'sha1',
                                               'hashsum': '0' * 40}]}, timeout=5)
        assert cart.status_code in (200, 201), cart.text
        done = admin('pacifica.cartd', home, 'dump')
        assert done.returncode == 0, done.stderr
        assert 'suitecart' in done.stdout
        done = admin('pacifica.uniqueid', home, 'dbchk')
        assert (done.returncode, done.stdout.strip()) == (
            0, 'database schema 1.0, code 1.0: ok'), done.stderr
        done = admin('pacifica.metadata', home, 'dbchk', '--equal')
        assert done.returncode == 0 and done.stdout.strip().endswith(': ok'), done.stderr
        # The archive's admin command finds the suite's archive root too.
        archive = 'http://{}:{}'.format(address, 8080 + offset)
        assert requests.put(archive + '/adm1', data=b'x', timeout=5).status_code == 201
        done = admin('pacifica.archiveinterface', home, 'delete', 'adm1')
        assert done.returncode == 0, done.stderr
        assert requests.get(archive + '/adm1', timeout=5).status_code == 404
    finally:
        stop_suite(proc, home, offset, address=address)


def test_suite_refuses_a_taken_port(tmp_path):
    offset = free_port_offset()
    with socket.socket() as holder:
        holder.bind(('127.0.0.1', 8051 + offset))
        holder.listen()
        done = subprocess.run([sys.executable, '-m', 'pacifica.suite', '--home',
                               str(tmp_path / 'state'), '--port-offset', str(offset)],
                              env=suite_env(tmp_path / 'state'), capture_output=True, text=True,
                              timeout=60, check=False)
    assert done.returncode != 0
    assert 'already in use' in done.stderr and 'Traceback' not in done.stderr
    assert processes_in(tmp_path / 'state') == []


def test_make_run_passes_its_arguments():
    done = subprocess.run(['make', '--no-print-directory', '-n', 'run', 'ARGS=--port-offset 1000 --address 0.0.0.0'],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        '.venv/bin/pacifica-suite --port-offset 1000 --address 0.0.0.0')


def test_entries_without_their_peers_are_left_out():
    from pacifica import suite  # pylint: disable=import-outside-toplevel
    lonely = [e for e in suite.ENTRIES if e.name == 'proxy']
    assert suite.available(lonely) == []
    assert [e.name for e in suite.available(suite.ENTRIES)][:2] == ['archiveinterface',
                                                                     'uniqueid']


def test_a_child_whose_suite_is_already_gone_does_not_start():
    from pacifica import suite  # pylint: disable=import-outside-toplevel
    # The suite "died" between fork and exec: the child's parent is no longer the suite.
    child = subprocess.run([sys.executable, '-c', 'print("ran")'], capture_output=True,
                           text=True, check=False,
                           preexec_fn=suite.die_with_parent(-1, prctl=lambda *a: 0))  # pylint: disable=subprocess-popen-preexec-fn
    assert child.returncode == 1 and child.stdout == ''
