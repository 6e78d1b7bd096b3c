"""Start all five services, each started the way its CLI starts it (``python -m pacifica.<service>
-a 127.0.0.1 -p PORT``), for the HTTP framing, slow-client and outage tests."""
from support import run_admin, service_env, start_service

# package, env prefix, whether it has a database
SERVICES = (
    ('pacifica.archiveinterface', 'archiveinterface', False),
    ('pacifica.uniqueid', 'uniqueid', True),
    ('pacifica.metadata', 'metadata', True),
    ('pacifica.cartd', 'cartd', True),
    ('pacifica.proxy', 'proxy', False),
)
NAMES = [name for _, name, _ in SERVICES]


def _env(tmp, name, urls):
    extra = {'NOTIFICATIONS_DISABLED': 'true'}
    if name == 'archiveinterface':
        extra['PAI_PREFIX'] = str(tmp / 'archive')
    if name == 'cartd':
        extra.update(VOLUME_PATH=str(tmp / 'carts') + '/',
                     CELERY_FILESYSTEM_DIR=str(tmp / 'celery'),
                     ARCHIVE_INTERFACE_URL=urls.get('archiveinterface', 'http://127.0.0.1:9') + '/')
    if name == 'proxy':
        extra.update(METADATA_URL=urls['metadata'],
                     METADATA_STATUS_URL=urls['metadata'] + '/keys',
                     ARCHIVEINTERFACE_URL=urls['archiveinterface'])
    return extra


def start_fleet(tmp, extra_env=None, names=None):
    """``{service name: Server}`` for the five services (or those in ``names``; the proxy
    needs metadata and the archive, cartd the archive), on SQLite and the filesystem broker
    (the rules under test are in the HTTP layer, the same on every database); ``extra_env``
    is added to every service's environment. Stop them with :func:`stop_fleet`."""
    servers, urls = {}, {}
    try:
        for package, name, has_db in SERVICES:
            if names is not None and name not in names:
                continue
            home = tmp / name
            home.mkdir()
            env = service_env(home, name, **dict(_env(tmp, name, urls), **(extra_env or {})))
            if has_db:
                env['PEEWEE_URL'] = 'sqliteext:///' + str(home / 'db.sqlite3')
                done = run_admin(package, ['dbsync'], env, cwd=str(home))
                assert done.returncode == 0, done.stderr
            servers[name] = start_service(package, home, env)
            urls[name] = servers[name].url
    except BaseException:
        stop_fleet(servers)
        raise
    return servers


def stop_fleet(servers):
    """Stop what :func:`start_fleet` started."""
    for server in servers.values():
        server.stop()
