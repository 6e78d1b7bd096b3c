"""pacifica.common.config: precedence, types, and errors that name the key."""
import pytest

from pacifica.common import config as cfg

KEYS = (
    cfg.Key('database', 'peewee_url', 'sqliteext:///db.sqlite3', 'PEEWEE_URL'),
    cfg.Key('database', 'connect_attempts', '10', 'DATABASE_CONNECT_ATTEMPTS', 'int'),
    cfg.Key('cartd', 'transfer_size', '4 Mb', 'TRANSFER_SIZE', 'size'),
    cfg.Key('cartd', 'lru_purge', 'on', 'LRU_PURGE', 'bool'),
    cfg.Key('cartd', 'wait', '2.5', None, 'float'),
)


def test_defaults():
    conf = cfg.load(KEYS, None, environ={})
    assert conf.get('database', 'peewee_url') == 'sqliteext:///db.sqlite3'
    assert conf.get('database', 'connect_attempts') == 10
    assert conf.get('cartd', 'transfer_size') == 4 * 1024 * 1024
    assert conf.get('cartd', 'lru_purge') is True
    assert conf.get('cartd', 'wait') == 2.5
    assert conf.section('database') == {'peewee_url': 'sqliteext:///db.sqlite3',
                                        'connect_attempts': 10}


def test_env_gives_the_default_and_the_file_overrides_it(tmp_path):
    ini = tmp_path / 'c.ini'
    ini.write_text('[database]\nconnect_attempts = 3\n')
    environ = {'DATABASE_CONNECT_ATTEMPTS': '7', 'PEEWEE_URL': 'sqlite:///env.db'}
    conf = cfg.load(KEYS, str(ini), environ)
    assert conf.get('database', 'connect_attempts') == 3
    assert conf.get('database', 'peewee_url') == 'sqlite:///env.db'


def test_missing_file_reads_as_empty(tmp_path):
    conf = cfg.load(KEYS, str(tmp_path / 'absent.ini'), {})
    assert conf.get('database', 'connect_attempts') == 10


def test_percent_interpolation(tmp_path):
    ini = tmp_path / 'c.ini'
    ini.write_text('[database]\npeewee_url = postgresql://u:p%%ss@h/db\n')
    assert cfg.load(KEYS, str(ini), {}).get('database', 'peewee_url') == \
        'postgresql://u:p%ss@h/db'
    ini.write_text('[database]\npeewee_url = postgresql://u:p%ss@h/db\n')
    with pytest.raises(cfg.ConfigError, match='database.peewee_url'):
        cfg.load(KEYS, str(ini), {})


@pytest.mark.parametrize('section, key, value', [
    ('database', 'connect_attempts', 'ten'),
    ('cartd', 'transfer_size', '4Mb'),
    ('cartd', 'transfer_size', '4 Zb'),
    ('cartd', 'lru_purge', 'maybe'),
    ('cartd', 'wait', 'soon'),
])
def test_bad_values_name_the_key(tmp_path, section, key, value):
    ini = tmp_path / 'c.ini'
    ini.write_text('[{}]\n{} = {}\n'.format(section, key, value))
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(KEYS, str(ini), {})
    assert '{}.{}'.format(section, key) in str(info.value)
    assert str(ini) in str(info.value)


def test_bad_env_value_names_the_variable():
    with pytest.raises(cfg.ConfigError, match='DATABASE_CONNECT_ATTEMPTS'):
        cfg.load(KEYS, None, {'DATABASE_CONNECT_ATTEMPTS': 'x'})


def test_unreadable_file(tmp_path):
    ini = tmp_path / 'c.ini'
    ini.write_text('no section header\n')
    with pytest.raises(cfg.ConfigError, match='cannot read'):
        cfg.load(KEYS, str(ini), {})


@pytest.mark.parametrize('text, expected', [
    ('1 B', 1), ('1 KB', 1000), ('1 Kb', 1024), ('1.5 Mb', 1572864), ('2 GB', 2 * 10 ** 9),
    ('1 Tb', 1024 ** 4), (' 4 Mb ', 4194304), ('0.5 b', 0),
])
def test_sizes(text, expected):
    assert cfg.parse_size(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('1', True), ('YES', True), ('true', True), ('On', True),
    ('0', False), ('no', False), ('FALSE', False), ('off', False),
])
def test_booleans(text, expected):
    assert cfg.parse_bool(text) is expected


def test_cherrypy_config_detection(tmp_path):
    cp = tmp_path / 'server.conf'
    cp.write_text("[global]\nserver.socket_port: 8051\n")
    assert cfg.is_cherrypy_config(str(cp))
    app_only = tmp_path / 'app.conf'
    app_only.write_text("[/]\ntools.x.on: True\n")
    assert cfg.is_cherrypy_config(str(app_only))
    ini = tmp_path / 'svc.ini'
    ini.write_text('[database]\npeewee_url = sqlite:///x\n')
    assert not cfg.is_cherrypy_config(str(ini))



@pytest.mark.parametrize('env, value, words', [
    ('SVC_THREAD_POOL', '0', 'server.thread_pool'),
    ('SVC_THREAD_POOL', 'many', 'server.thread_pool'),
    ('SVC_HEADER_TIMEOUT', '0', 'server.header_timeout'),
    ('SVC_BODY_TIMEOUT', 'inf', 'server.body_timeout'),
    ('SVC_MAX_REQUEST_BODY', '4MB', 'server.max_request_body'),
])
def test_server_keys_refuse_values_that_cannot_hold(env, value, words):
    with pytest.raises(cfg.ConfigError, match=words.replace('.', r'\.')):
        cfg.load(cfg.server_keys('SVC', '64 Kb'), environ={env: value})


def test_server_keys_defaults_and_env():
    loaded = cfg.load(cfg.server_keys('SVC', '64 Kb'), environ={'SVC_THREAD_POOL': '40'})
    assert loaded.section('server') == {'max_request_body': 65536, 'header_timeout': 10.0,
                                        'body_timeout': 30.0, 'thread_pool': 40}
