"""Raw-socket HTTP for the framing tests: send exact bytes, split what comes back into
responses by their own framing (Content-Length or chunked)."""
import json
import socket


def exchange(port, data, timeout=5.0):
    """Send ``data`` on a new connection; return ``(received bytes, closed)``: ``closed`` is
    whether the server closed the connection before ``timeout`` seconds of silence."""
    received = b''
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server answered and closed early: read what it said
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk


def _headers(block):
    lines = block.split(b'\r\n')
    status = lines[0].decode('latin-1')
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b':')
        headers.setdefault(name.strip().lower().decode('latin-1'), []).append(
            value.strip().decode('latin-1'))
    return status, headers


def _chunked(data):
    body = b''
    while True:
        size_line, _, data = data.partition(b'\r\n')
        size = int(size_line.split(b';')[0], 16)
        if size == 0:
            _, _, data = data.partition(b'\r\n')
            return body, data
        body, data = body + data[:size], data[size + 2:]


def responses(data, head_requests=0):
    """Split ``data`` into ``[(status line, {header: [values]}, body)]``. The first
    ``head_requests`` responses are taken as answers to HEAD (no body)."""
    found = []
    while data:
        block, sep, data = data.partition(b'\r\n\r\n')
        assert sep, 'incomplete response head: {!r}'.format(block[:200])
        status, headers = _headers(block)
        if len(found) < head_requests:
            body = b''
        elif 'chunked' in ','.join(headers.get('transfer-encoding', [])).lower():
            body, data = _chunked(data)
        elif 'content-length' in headers:
            size = int(headers['content-length'][0])
            body, data = data[:size], data[size:]
        else:
            body, data = data, b''
        found.append((status, headers, body))
    return found


def closes(headers):
    """Whether a response says the connection ends with it."""
    return any(v.lower() == 'close' for v in headers.get('connection', []))


def assert_json_error(answer, status):
    """A raw response that is the services' JSON error document, without padding."""
    line, headers, body = answer
    assert line.split(' ', 2)[1] == str(status), (line, body)
    assert headers['content-type'][0].startswith('application/json'), headers
    doc = json.loads(body)
    assert set(doc) == {'status', 'message', 'traceback', 'version'}, doc
    assert doc['status'].startswith(str(status)) and doc['traceback'] == ''
    assert body == body.rstrip(), 'padded error body: {!r}'.format(body[-20:])
    return doc


def read_response(reader):
    """One whole response (Content-Length framed) from ``reader`` (a socket's binary file),
    as (status line and headers, body)."""
    lines = []
    while True:
        line = reader.readline()
        assert line, lines
        if line == b'\r\n':
            break
        lines.append(line)
    head = b''.join(lines)
    length = int(next(line.split(b':', 1)[1] for line in lines
                      if line.lower().startswith(b'content-length:')))
    body = reader.read(length)
    assert len(body) == length, (head, body)
    return head, body
