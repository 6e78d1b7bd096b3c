"""The archive interface's configuration keys.

Upstream read only ``[posix] use_id2filename`` from its INI and took the prefix from
``--prefix`` / ``PAI_PREFIX``; the prefix and the PATCH staging root are keys here too, so a
deployment can keep all of it in one file. ``-t`` / ``--prefix`` / ``--staging-root`` on the
command line win over the file.
"""
from pacifica.common.config import Key, server_keys

BACKEND_TYPES = ('posix', 'hpss', 'hsmsideband')

KEYS = (
    Key('backend', 'type', 'posix', 'PAI_BACKEND_TYPE',
        help='storage backend; only posix is implemented here'),
    Key('posix', 'prefix', '/tmp', 'PAI_PREFIX',
        help='root directory of the archive'),
    Key('posix', 'use_id2filename', 'false', 'PAI_USE_ID2FILENAME', 'bool',
        help='map integer ids to a hashed directory tree (ab/cd/abcd) instead of one flat name'),
    Key('posix', 'staging_root', '', 'PAI_STAGING_ROOT',
        help='directory PATCH may move files from; empty disables PATCH'),
)
# Uploads of any size (as upstream's server.max_request_body_size: 0), long transfers.
KEYS += server_keys('ARCHIVEINTERFACE', '0 B', body_timeout='60')
