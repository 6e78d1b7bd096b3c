"""Pacifica Core: the Pacifica metadata, uniqueid, cartd and proxy services, and a POSIX
archive interface, in one distribution with an extra per service."""
from setuptools import find_namespace_packages, setup

BASE = ['cherrypy>=18.8', 'requests>=2.28']
DATABASE = ['peewee>=4.5,<5']
POSTGRES = ['psycopg2-binary>=2.9']
METRICS = ['prometheus-client>=0.17']          # GET /api/metrics on every service
EXTRAS = {
    'uniqueid': DATABASE + METRICS,
    'metadata': DATABASE + METRICS + ['python-dateutil>=2.8'],
    'cartd': DATABASE + METRICS + ['celery>=5.3'],
    'proxy': METRICS,
    'archiveinterface': METRICS,
    'postgres': POSTGRES,
    'redis': ['redis>=4.5'],                   # a Redis broker for cartd's Celery
    'uwsgi': ['uwsgi>=2.0.22'],
    'docs': ['sphinx>=7'],                     # make docs: the manual under docs/
}
EXTRAS['all'] = sorted({req for name in ('uniqueid', 'metadata', 'cartd', 'proxy',
                                         'archiveinterface', 'postgres')
                        for req in EXTRAS[name]})
# redis: cartd's recovery tests run on a Redis broker too (PACIFICA_TEST_REDIS).
# schemathesis, openapi-spec-validator: the services' /api/openapi.json is validated and fuzzed.
# pytest-xdist: make test runs the test files on two workers (most of the suite waits on
# the servers it starts, so two workers halve the wall time even on two cores).
EXTRAS['test'] = ['pytest>=8', 'pytest-timeout>=2.2', 'pytest-xdist>=3.5', 'hypothesis>=6.100',
                  'schemathesis>=4', 'openapi-spec-validator>=0.7'] \
    + EXTRAS['uwsgi'] + EXTRAS['redis']

setup(
    name='pacifica-core',
    version='0.1.0',
    description=__doc__.splitlines()[0],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='LGPL-3.0-or-later',
    python_requires='>=3.9',
    packages=find_namespace_packages(include=['pacifica', 'pacifica.*']),
    install_requires=BASE,
    extras_require=EXTRAS,
    entry_points={
        'console_scripts': [
            'pacifica-archiveinterface=pacifica.archiveinterface.__main__:main',
            'pacifica-archiveinterface-cmd=pacifica.archiveinterface.__main__:cmd',
            'pacifica-cartd=pacifica.cartd.__main__:main',
            'pacifica-cartd-cmd=pacifica.cartd.__main__:cmd',
            'pacifica-metadata=pacifica.metadata.__main__:main',
            'pacifica-metadata-cmd=pacifica.metadata.__main__:cmd',
            'pacifica-uniqueid=pacifica.uniqueid.__main__:main',
            'pacifica-uniqueid-cmd=pacifica.uniqueid.__main__:cmd',
            'pacifica-proxy=pacifica.proxy.__main__:main',
            'pacifica-suite=pacifica.suite:main',
        ],
    },
)
