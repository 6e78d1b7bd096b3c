"""The JSON Schema of the values a metadata column holds (the types of the object table's
peewee fields, with the ranges :mod:`.queries.coerce` enforces), shared by the objects'
schemas and the query endpoints' answers."""
from pacifica.common.database import peewee

from .queries.coerce import BIGINT_RANGE, INT_RANGE, MAX_CHAR, MAX_REAL, target_field

# Dates are ISO 8601 without a zone ("2017-07-15T00:00:00"), which is not RFC 3339's
# date-time: a pattern, not a format, so a validator does not refuse upstream's own output.
DATETIME = {'type': 'string', 'pattern': '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+$'}
DATE = {'type': 'string', 'pattern': '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'}


def field_schema(field):
    """The JSON Schema of the values a column holds (an FK: its target key's)."""
    target = target_field(field)
    if isinstance(target, peewee.DateTimeField):
        schema = dict(DATETIME)
    elif isinstance(target, peewee.DateField):
        schema = dict(DATE)
    elif isinstance(target, peewee.BooleanField):
        schema = {'type': 'boolean'}
    elif isinstance(target, peewee.BigIntegerField):
        schema = {'type': 'integer', 'minimum': BIGINT_RANGE[0], 'maximum': BIGINT_RANGE[1]}
    elif isinstance(target, (peewee.IntegerField, peewee.AutoField)):
        schema = {'type': 'integer', 'minimum': INT_RANGE[0], 'maximum': INT_RANGE[1]}
    elif isinstance(target, peewee.FloatField):
        schema = {'type': 'number', 'minimum': -MAX_REAL, 'maximum': MAX_REAL}
    elif isinstance(target, peewee.UUIDField):
        schema = {'type': 'string', 'format': 'uuid'}
    elif isinstance(target, peewee.CharField):
        schema = {'type': 'string', 'maxLength': MAX_CHAR}
    else:
        schema = {'type': 'string'}
    if field.null:
        schema['type'] = [schema['type'], 'null']
    return schema
