"""Run the shell examples of a document and compare what they print with what it says.

The convention, for README.md (Markdown) and the manual's example pages (reStructuredText):

* Every shell block is run: a fenced block whose info string is ``sh``, ``bash``, ``shell``
  or ``console`` in Markdown, a ``.. code-block::`` with one of those languages in RST.
* A block that cannot run in a test (it starts the suite, compiles something, needs
  systemd) says so on the line right before it: ``<!-- not run: <reason> -->`` in Markdown,
  ``.. not run: <reason>`` (an RST comment) in RST. Readers do not see either.
* Lines starting with ``#>`` after a command are its expected output (a shell comment, so a
  copied block still runs). ``...`` inside a line matches any text on that line; a line that
  is only ``...`` matches any number of lines. Trailing spaces are ignored.
* All blocks of a document run in order in one shell (``set -e``), so variables and the
  current directory carry over from block to block, as they would for a reader typing them
  into one terminal. Documented ports (8051, 8080, 8081, 8121, 8180) are moved by the
  offset of the suite the test started.
"""
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import List, Optional

SHELLS = ('sh', 'bash', 'shell', 'console')
DOCUMENTED_PORTS = (8051, 8080, 8081, 8121, 8180)
_PORT_RE = re.compile(r'\b(127\.0\.0\.1|localhost):({})\b'.format(
    '|'.join(str(port) for port in DOCUMENTED_PORTS)))
_FENCE_RE = re.compile(r'^(\s*)(```+|~~~+)\s*([\w-]*)')
_RST_BLOCK_RE = re.compile(r'^(\s*)\.\. code-block::\s*(\S+)\s*$')
_MD_SKIP_RE = re.compile(r'^\s*<!--\s*not run:\s*(.+?)\s*-->\s*$')
_RST_SKIP_RE = re.compile(r'^\s*\.\. not run:\s*(.+?)\s*$')


@dataclass
class Step:
    """Some lines of shell and what they are documented to print (None: not shown)."""

    code: str
    expected: Optional[List[str]]
    line: int                         # line of the document where the code starts


@dataclass
class Block:
    """One shell block of a document."""

    path: str
    line: int
    lines: List[str]
    skip: Optional[str] = None        # the reason given with a not-run marker
    steps: List[Step] = field(default_factory=list)


def _previous_text(lines, index):
    for back in range(index - 1, -1, -1):
        if lines[back].strip():
            return lines[back]
    return ''


def _markdown_body(lines, index, match):
    """A fenced block opened at ``index``: (language, first line number, body, next index)."""
    fence, body = match.group(2), []
    index += 1
    first = index + 1
    while index < len(lines) and not lines[index].strip().startswith(fence):
        body.append(lines[index])
        index += 1
    return match.group(3), first, body, index + 1


def _rst_body(lines, index, match):
    """A ``code-block`` directive at ``index``: its indented content, dedented."""
    indent, lang = len(match.group(1)), match.group(2)
    index += 1
    while index < len(lines) and lines[index].strip().startswith(':'):
        index += 1                                         # directive options
    body, first = [], index + 1
    while index < len(lines):
        text = lines[index]
        if text.strip() and len(text) - len(text.lstrip()) <= indent:
            break
        body.append(text)
        index += 1
    while body and not body[0].strip():
        body.pop(0)
        first += 1
    while body and not body[-1].strip():
        body.pop()
    margin = min((len(t) - len(t.lstrip()) for t in body if t.strip()), default=0)
    return lang, first, [t[margin:] for t in body], index


def _scan(path, lines, opener, read_body, skip_marker):
    """Every shell block of ``lines``, with the reason of a not-run marker above it."""
    blocks, index = [], 0
    while index < len(lines):
        match = opener.match(lines[index])
        if not match:
            index += 1
            continue
        start = index
        lang, first, body, index = read_body(lines, index, match)
        if lang in SHELLS:
            skip = skip_marker.match(_previous_text(lines, start))
            blocks.append(Block(path, first, body, skip.group(1) if skip else None))
    return blocks


def blocks_of(path):
    """Every shell block of a Markdown or RST document, with its steps."""
    with open(path, encoding='utf-8') as handle:
        lines = handle.read().splitlines()
    if path.endswith('.rst'):
        found = _scan(path, lines, _RST_BLOCK_RE, _rst_body, _RST_SKIP_RE)
    else:
        found = _scan(path, lines, _FENCE_RE, _markdown_body, _MD_SKIP_RE)
    for block in found:
        block.steps = split_steps(block.lines, block.line)
    return found


def split_steps(lines, first_line=1):
    """Cut a block into steps: the code up to a run of ``#>`` lines, and those lines."""
    steps, code, expected, start = [], [], None, first_line
    for number, text in enumerate(lines, first_line):
        if text.startswith('#>'):
            expected = (expected or []) + [text[3:] if text.startswith('#> ') else text[2:]]
            continue
        if expected is not None:
            steps.append(Step('\n'.join(code), expected, start))
            code, expected, start = [], None, number
        if not code and not text.strip():
            start = number + 1
            continue
        code.append(text)
    if code or expected is not None:
        steps.append(Step('\n'.join(code), expected, start))
    return [step for step in steps if step.code.strip() or step.expected]


def move_ports(text, offset):
    """Documented ports moved by ``offset`` (only host:port spellings of the five ports)."""
    return _PORT_RE.sub(lambda m: '{}:{}'.format(m.group(1), int(m.group(2)) + offset), text)


def _pattern(expected):
    parts = []
    for line in expected:
        line = line.rstrip()
        if line == '...':
            parts.append(None)
        else:
            parts.append(r'[^\n]*'.join(re.escape(piece) for piece in line.split('...')))
    regex = ''
    for index, part in enumerate(parts):
        if part is None:
            regex += r'(?:[^\n]*(?:\n|\Z))*?'
        else:
            regex += part + (r'(?:\n|\Z)' if index < len(parts) - 1 else r'\n?')
    return re.compile(regex + r'\Z')


def output_matches(expected, actual):
    """Whether ``actual`` (text) is what ``expected`` (lines, with ``...``) describes."""
    lines = [line.rstrip() for line in actual.replace('\r\n', '\n').split('\n')]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return _pattern(expected).match('\n'.join(lines)) is not None


@dataclass
class Failure:
    """A step that failed or printed something else than documented."""

    step: Step
    path: str
    reason: str
    output: str

    def __str__(self):
        return '{}:{}: {}\n--- command\n{}\n--- documented output\n{}\n--- actual output\n{}'.format(
            self.path, self.step.line, self.reason, self.step.code,
            '\n'.join(self.step.expected or ['(none shown)']), self.output)


def run_document(path, offset, workdir, env, timeout=300):
    """Run every runnable block of ``path`` in one shell; returns (steps run, failures)."""
    steps = [step for block in blocks_of(path) if not block.skip for step in block.steps]
    out_dir = os.path.join(workdir, '.doc-run')
    os.makedirs(out_dir, exist_ok=True)
    script = ['set -e']
    for number, step in enumerate(steps):
        script.append('{')
        script.append(move_ports(step.code, offset))
        script.append('}} > {0}/{1}.out 2>&1 < /dev/null'.format(out_dir, number))
        script.append('touch {0}/{1}.done'.format(out_dir, number))
    script_path = os.path.join(out_dir, 'script.sh')
    with open(script_path, 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(script) + '\n')
    try:
        done = subprocess.run(['bash', '--noprofile', '--norc', script_path], cwd=workdir,
                              env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        trailer = done.stderr
    except subprocess.TimeoutExpired:
        trailer = 'the examples did not finish within {} s'.format(timeout)
    failures = []
    for number, step in enumerate(steps):
        out_file = os.path.join(out_dir, '{}.out'.format(number))
        output = ''
        if os.path.exists(out_file):
            with open(out_file, encoding='utf-8', errors='replace') as handle:
                output = handle.read()
        if not os.path.exists(os.path.join(out_dir, '{}.done'.format(number))):
            failures.append(Failure(step, path, 'the command failed (or never ran)',
                                    output + trailer))
            break
        if step.expected is not None:
            expected = [move_ports(line, offset) for line in step.expected]
            if not output_matches(expected, output):
                failures.append(Failure(step, path, 'the output is not the documented one',
                                        output))
    return steps, failures
