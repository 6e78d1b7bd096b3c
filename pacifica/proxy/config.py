"""The proxy's configuration keys (no database)."""
from pacifica.common.config import Key, server_keys

KEYS = (
    # Note the env names: ARCHIVEINTERFACE_URL here, ARCHIVE_INTERFACE_URL in cartd (upstream).
    Key('archiveinterface', 'url', 'http://127.0.0.1:8080', 'ARCHIVEINTERFACE_URL',
        help='archive interface base URL (a trailing slash is tolerated)'),
    Key('metadata', 'url', 'http://127.0.0.1:8121', 'METADATA_URL', help='metadata base URL'),
    Key('metadata', 'status_url', 'http://127.0.0.1:8121/keys', 'METADATA_STATUS_URL',
        help='URL probed at start-up until it answers 200'),
    Key('metadata', 'status_attempts', '40', 'METADATA_STATUS_ATTEMPTS', 'int',
        help='probe retries at start-up'),
    Key('metadata', 'status_wait', '5', 'METADATA_STATUS_WAIT', 'float',
        help='seconds between probes'),
    Key('nginx', 'accel', 'False', 'NGINX_ACCEL', 'bool',
        help='hand transfers to nginx with X-Accel-Redirect'),
    Key('proxy', 'timeout', '30', 'PROXY_TIMEOUT', 'float',
        help='seconds to wait for metadata or the archive to answer (per read)'),
    Key('proxy', 'verify_hash', 'True', 'PROXY_VERIFY_HASH', 'bool',
        help='hash the bytes while streaming and abort the transfer on a mismatch'),
) + server_keys('PROXY', '64 Kb')   # GET and HEAD only
