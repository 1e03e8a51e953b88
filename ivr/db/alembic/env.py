"""Alembic's environment, run only through `ivr.db.migrate`, which hands in an open connection.

Why it looks like this: Huifang applies its migrations at start-up from inside the package, with no
alembic.ini and no URL in a file; `ivr.db.migrate` opens the engine (`ivr.db.engine.engine_for`), takes
the lock that keeps two starting processes from migrating at once, and passes the connection in
`config.attributes["connection"]`, already inside its transaction. The live `MetaData` is given only so
that `ivr.db.migrate.new_revision` can autogenerate the next revision; revisions never import it.
SQLite gets batch mode, because its ALTER TABLE cannot change or drop most things in place.
"""
from __future__ import annotations

from alembic import context

from ivr.db.schema import metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Huifang's migrations run through ivr.db.migrate.upgrade(url), which passes a connection; "
                           "offline (SQL script) mode is not supported")
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
