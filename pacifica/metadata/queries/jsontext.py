"""JSON text of many rows of the same shape, byte for byte what ``json.dumps`` writes for
them as dicts (issue 13: encoding 1,000 file dicts cost more than reading them).

``json.dumps`` (the defaults: ``ensure_ascii``, ``", "`` and ``": "``) escapes every key of
every object again and walks each dict in C one value at a time. Rows with fixed keys need
neither: the keys go into one ``%`` template, and each column is encoded with one C-level
``map`` of the very function the encoder itself calls for that type (``str`` values:
``encode_basestring_ascii``; ``int``: ``int.__repr__``). A column of any other or of mixed
types goes through ``json.dumps`` value by value, which is exact by definition.
"""
import json
from json.encoder import encode_basestring_ascii as quote

__all__ = ['quote', 'scalar', 'column', 'template', 'objects', 'folded', 'keyed']


def scalar(value):
    """The JSON text of one value, as ``json.dumps`` writes it (also inside a container)."""
    if type(value) is str:   # pylint: disable=unidiomatic-typecheck
        return quote(value)
    return json.dumps(value)


def column(values):
    """The JSON texts of ``values`` (a sequence), in order."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(map(quote, values))
    if kinds == {int}:   # exact ints only: bool is an int that the encoder writes as true/false
        return list(map(int.__repr__, values))
    return list(map(json.dumps, values))


def template(keys):
    """The ``%`` template of a JSON object with ``keys`` in this order, one ``%s`` a value."""
    return '{' + ', '.join(quote(key).replace('%', '%%') + ': %s' for key in keys) + '}'


def objects(keys, columns, prefix='', first=None):
    """The JSON texts of the objects whose values under ``keys`` are the JSON texts in
    ``columns`` (one list per key, all of one length); with ``prefix`` (a ``%`` template
    of one value), each text starts with it, filled from ``first``."""
    if first is not None:
        columns = [first] + list(columns)
    return list(map((prefix + template(keys)).__mod__, zip(*columns)))


def keyed(keys, texts):
    """The JSON text of an object of the (already JSON) ``texts`` under the string ``keys``
    (a repeated key keeps its first place and its last text, as a dict would)."""
    entries = dict(zip(keys, texts))
    if not entries:
        return '{}'
    return '{' + ', '.join(map('%s: %s'.__mod__, zip(map(quote, entries),
                                                      entries.values()))) + '}'


def folded(keys, columns, count, prefix='', first=None):
    """The texts of :func:`objects` of ``count`` objects, where a column may also be one
    JSON text (a ``str``) that every object has under its key: it is written into the
    template once, so only the columns that vary are formatted (``%`` formatting costs
    per value: an upload's files share most of theirs)."""
    parts, varying = [], []
    for key, values in zip(keys, columns):
        if isinstance(values, str):
            parts.append('{}: {}'.format(quote(key), values).replace('%', '%%'))
        else:
            parts.append(quote(key).replace('%', '%%') + ': %s')
            varying.append(values)
    form = prefix + '{' + ', '.join(parts) + '}'
    if first is not None:
        varying.insert(0, first)
    if not varying:
        return [form % ()] * count
    return list(map(form.__mod__, zip(*varying)))
