"""UniqueID's configuration keys: upstream's ``[database]``, and the largest range one
request may take (upstream had no limit, so one request could use up a mode for good)."""
from pacifica.common.config import DATABASE_KEYS, Key, server_keys

# Upstream clients (ingest) ask for a few thousand ids at a time.
DEFAULT_MAX_RANGE = 1000000

KEYS = DATABASE_KEYS + (
    Key('getid', 'max_range', str(DEFAULT_MAX_RANGE), 'UNIQUEID_MAX_RANGE', 'int',
        help='largest range one /getid request may reserve (1 to 9223372036854775807)'),
) + server_keys('UNIQUEID', '64 Kb')   # no endpoint takes a body
