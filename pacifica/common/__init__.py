"""Everything two Pacifica services would otherwise both write.

config    declarative INI + environment configuration, loaded once
database  peewee URL handling, retrying connect, per-request connections
schema    the versioned-schema (OrmSync) pattern: dbsync, dbchk
rest      JSON errors, parameter validation, status root, CherryPy app builder
cli       the server and admin command shapes, and the WSGI builder
"""
