"""``pacifica-suite`` (behind ``make run``): starts every installed service, prints a working
example, and leaves no process behind on Ctrl-C or SIGTERM."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from support import ROOT, free_port_offset


def processes_in(directory):
    """PIDs whose working directory is ``directory`` (the suite runs everything there)."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            if os.readlink('/proc/{}/cwd'.format(pid)) == str(directory):
                found.append(int(pid))
        except OSError:
            continue
    return found


def start_suite(home, offset):
    """Start the suite and read its banner; returns (process, banner lines)."""
    env = dict(os.environ, PYTHONPATH=ROOT, HOME=str(home))
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', 'pacifica.suite', '--home', str(home), '--port-offset',
         str(offset)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, started = [], time.monotonic()
    while time.monotonic() - started < 60:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if 'Ctrl-C stops every service' in line:
            return proc, lines
    proc.kill()
    raise AssertionError('suite did not come up:\n' + '\n'.join(lines))


@pytest.mark.parametrize('stop_signal', [signal.SIGINT, signal.SIGTERM])
def test_suite_runs_the_banner_example_and_stops_cleanly(tmp_path, stop_signal):
    home = tmp_path / 'state'
    offset = free_port_offset()
    started = time.monotonic()
    proc, banner = start_suite(home, offset)
    elapsed = time.monotonic() - started
    try:
        assert any('uniqueid' in line for line in banner)
        example = next(line.strip() for line in banner if '/getid?' in line)
        url = re.search(r"'(http[^']+)'", example).group(1)
        assert requests.get(url, timeout=5).json() == {'startIndex': 0, 'endIndex': 9}
        assert requests.get(url, timeout=5).json() == {'startIndex': 10, 'endIndex': 19}
        children = processes_in(home)
        assert children, 'the services run in the state directory'
    finally:
        proc.send_signal(stop_signal)
        assert proc.wait(30) == 0
    assert processes_in(home) == []
    assert (home / 'uniqueid.sqlite3').exists()
    assert elapsed < 30


def test_suite_refuses_a_taken_port(tmp_path):
    import socket  # pylint: disable=import-outside-toplevel
    offset = 21000 + os.getpid() % 1000
    with socket.socket() as holder:
        holder.bind(('127.0.0.1', 8051 + offset))
        holder.listen()
        env = dict(os.environ, PYTHONPATH=ROOT, HOME=str(tmp_path))
        done = subprocess.run([sys.executable, '-m', 'pacifica.suite', '--home',
                               str(tmp_path / 'state'), '--port-offset', str(offset)],
                              env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert 'already in use' in done.stderr and 'Traceback' not in done.stderr
    assert processes_in(tmp_path / 'state') == []


def test_entries_without_their_peers_are_left_out():
    from pacifica import suite  # pylint: disable=import-outside-toplevel
    lonely = [e for e in suite.ENTRIES if e.name == 'proxy']
    assert suite.available(lonely) == []
    assert [e.name for e in suite.available(suite.ENTRIES)][:2] == ['archiveinterface',
                                                                     'uniqueid']
