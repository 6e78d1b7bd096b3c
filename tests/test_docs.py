"""The README and the manual cannot rot.

* Every shell example of README.md and of the manual's Example Usage pages
  (docs/examples/*.rst) runs against a fresh suite started for it, and prints what the
  document says it prints (the convention is in doc_examples.py).
* The README keeps its promises: short, the two commands first, install lines that work
  from a checkout, links that resolve.
* No internal review or spec numbers in the documents operators read.
* Every service page has the sections of the upstream manuals and generates its
  configuration and program options from the code.
"""
import glob
import os
import re
import shutil
import signal
import sys

import pytest

from doc_examples import (blocks_of, move_ports, output_matches, run_document, split_steps)
from support import (BROKER_URL, POSTGRES_URL, ROOT, create_postgres_database,
                     drop_postgres_database, free_port_offset)

README = os.path.join(ROOT, 'README.md')
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, 'docs', 'examples', '*.rst')))
SERVICES = ('uniqueid', 'metadata', 'cartd', 'proxy', 'archiveinterface')
# What the examples call besides the programs of this project (the README says so).
TOOLS = ('bash', 'curl', 'sha1sum', 'sha256sum', 'md5sum', 'tar')
SECTIONS = ('Installation', 'Configuration', 'Starting the Service',
            'Deployment Considerations', 'Example Usage', 'Python module API')


def _start_suite(home, offset, *args):
    from e2e.test_e2e import start_suite  # pylint: disable=import-outside-toplevel
    return start_suite(home, offset, *args)


@pytest.fixture(params=['embedded', 'servers'])
def backend_args(request):
    """Suite arguments of one backend pair (and the database to drop afterwards)."""
    if request.param == 'embedded':
        yield []
        return
    if not POSTGRES_URL or not BROKER_URL:
        pytest.skip('PACIFICA_TEST_POSTGRES and PACIFICA_TEST_BROKER are not both set')
    url = create_postgres_database('pacifica_docs')
    try:
        yield ['--database', url, '--broker', BROKER_URL]
    finally:
        drop_postgres_database(url)


@pytest.mark.parametrize('document', [README] + EXAMPLES,
                         ids=lambda path: os.path.relpath(path, ROOT))
def test_every_shell_example_runs_as_documented(document, backend_args, tmp_path):
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip('the documented examples need {} (not installed)'.format(', '.join(missing)))
    offset = free_port_offset()
    proc, _urls = _start_suite(tmp_path, offset, *backend_args)
    # The examples run where a reader runs them: in a checkout, whose make run keeps its
    # state in ./.pacifica (so PACIFICA_HOME=.pacifica reaches the suite's state).
    work = tmp_path / 'work'
    work.mkdir()
    (work / '.pacifica').symlink_to(tmp_path / 'state')
    env = {k: v for k, v in os.environ.items() if not k.startswith('PACIFICA_')}
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path), PYTHONPATH=ROOT,
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    try:
        steps, failures = run_document(document, offset, str(work), env)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert steps, '{} has no runnable shell example'.format(document)
    assert not failures, '\n\n'.join(str(failure) for failure in failures)


# -- the runner itself must be able to fail --------------------------------------------------
def test_a_changed_output_or_a_failing_command_is_reported(tmp_path):
    doc = tmp_path / 'doc.md'
    doc.write_text('```sh\necho one\n#> one\necho two\n#> three\n```\n\n'
                   '```sh\nfalse\necho never\n#> never\n```\n')
    steps, failures = run_document(str(doc), 0, str(tmp_path), dict(os.environ))
    assert len(steps) == 3
    assert [f.reason for f in failures] == ['the output is not the documented one',
                                           'the command failed (or never ran)']
    assert 'two' in failures[0].output


def test_blocks_marked_not_run_are_left_out_and_others_kept(tmp_path):
    doc = tmp_path / 'doc.rst'
    doc.write_text('Title\n=====\n\n.. not run: needs systemd\n\n.. code-block:: sh\n\n'
                   '   systemctl start x\n\n.. code-block:: sh\n   :caption: c\n\n'
                   '   X=1\n   echo $X\n   #> 1\n\nafter\n')
    blocks = blocks_of(str(doc))
    assert [b.skip for b in blocks] == ['needs systemd', None]
    assert [(s.code, s.expected) for s in blocks[1].steps] == [('X=1\necho $X', ['1'])]


def test_ellipsis_matching_and_port_moving():
    assert output_matches(['{"a": ..., "b": 2}'], '{"a": [1, 2], "b": 2}')
    assert not output_matches(['{"a": ..., "b": 2}'], '{"a": 1, "b": 3}')
    assert output_matches(['first', '...', 'last'], 'first\nx\ny\nlast\n')
    assert not output_matches(['first', 'last'], 'first\nx\nlast')
    assert output_matches(['null'], 'null   \r\n')
    assert move_ports('curl http://127.0.0.1:8051/x localhost:8121 :8051 10.0.0.1:8080',
                      100) == 'curl http://127.0.0.1:8151/x localhost:8221 :8051 10.0.0.1:8080'
    assert split_steps(['A=1', 'echo $A', '#> 1', 'echo'])[1].expected is None


# -- what the documents promise --------------------------------------------------------------
def _read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def test_readme_is_short_and_starts_with_the_two_commands():
    text = _read(README)
    lines = text.splitlines()
    assert len(lines) <= 150, len(lines)
    head = '\n'.join(lines[:15])
    assert 'make run' in head and 'make test' in head
    assert 'pacifica-core[' not in text and "install 'pacifica-core" not in text
    assert "pip install -e '.[all]'" in text


def test_readme_links_resolve():
    text = _read(README)
    links = re.findall(r'\]\(([^)#]+)(?:#[^)]*)?\)', text)
    local = [link for link in links if '://' not in link]
    assert local
    for link in local:
        assert os.path.exists(os.path.join(ROOT, link)), link


DOCUMENTS = [README, os.path.join(ROOT, 'CHANGELOG.md')] + sorted(
    glob.glob(os.path.join(ROOT, 'docs', '**', '*.rst'), recursive=True))


@pytest.mark.parametrize('path', DOCUMENTS, ids=lambda path: os.path.relpath(path, ROOT))
def test_no_internal_spec_numbers(path):
    text = _read(path)
    for pattern in (r'\bD\d{1,2}\b', r'spec section', r'\bspec\s+§', r'next part',
                    r'defect list', r'\(§\d'):
        assert not re.search(pattern, text), (pattern, re.search(pattern, text).group(0))


@pytest.mark.parametrize('service', SERVICES)
def test_service_page_has_the_upstream_sections_and_generated_reference(service):
    text = _read(os.path.join(ROOT, 'docs', 'services', service + '.rst'))
    titles = re.findall(r'^(.+)\n-{3,}$', text, re.M)
    for section in SECTIONS:
        assert section in titles, section
    assert '.. pacifica-config:: pacifica.{}.config'.format(service) in text
    assert '.. pacifica-program:: pacifica.{}.service:SERVICE'.format(service) in text
    assert '.. pacifica-api:: pacifica.{}'.format(service) in text
    assert '.. include:: ../examples/{}.rst'.format(service) in text


def test_generated_tables_cover_every_key_and_flag():
    sys.path.insert(0, os.path.join(ROOT, 'docs', '_ext'))
    try:
        import pacifica_docs  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    from pacifica.cartd.config import KEYS  # pylint: disable=import-outside-toplevel
    rows = pacifica_docs.key_rows(KEYS)
    assert [row[0] for row in rows] == ['[{}] {}'.format(k.section, k.name) for k in KEYS]
    assert ('[celery] broker_url', 'BROKER_URL', '(empty)') == rows[
        [k.name for k in KEYS].index('broker_url')][:3]
    admin = pacifica_docs.program_model(pacifica_docs.parser_for(
        'pacifica.cartd.service:SERVICE', 'admin'))
    assert {'dbsync', 'dbchk', 'fixit', 'purge', 'dump'} <= {
        sub['name'] for sub in admin['subcommands']}
    server = pacifica_docs.program_model(pacifica_docs.parser_for(
        'pacifica.uniqueid.service:SERVICE', 'server'))
    names = ' '.join(row[0] for row in server['options'])
    assert '-c CONFIG, --config CONFIG' in names and '-p PORT, --port PORT' in names
    assert '--stop-after-a-moment' not in names              # suppressed flags stay hidden
    suite = pacifica_docs.parser_for('pacifica.suite:parser')
    assert suite.prog == 'pacifica-suite'
    assert '--home HOME' in [row[0] for row in pacifica_docs.program_model(suite)['options']]


def test_relative_references_resolve_like_python_imports():
    sys.path.insert(0, os.path.join(ROOT, 'docs', '_ext'))
    try:
        import pacifica_docs  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    assert pacifica_docs.relative_target('pacifica.cartd.openapi', 'rest', False) == \
        'pacifica.cartd.rest'
    assert pacifica_docs.relative_target('pacifica.cartd', 'rest', True) == 'pacifica.cartd.rest'
    assert pacifica_docs.relative_target('pacifica.metadata.queries.read', '.objects.OBJECTS',
                                         False) == 'pacifica.metadata.objects.OBJECTS'


def test_only_what_cannot_run_in_a_test_is_marked_not_run():
    skipped = {os.path.relpath(path, ROOT): [block.skip for block in blocks_of(path)
                                             if block.skip]
               for path in [README] + EXAMPLES}
    # make run / make test, and the install lines that would change the test's own venv.
    assert len(skipped.pop('README.md')) <= 2
    assert not any(skipped.values()), skipped
