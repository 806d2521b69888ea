"""Alembic environment: runs the registry's migrations on one connection.

Used by :func:`registry.upgrade` (which passes a connection in
``config.attributes["connection"]``) and by the ``alembic`` command with
``alembic.ini`` (which reads ``sqlalchemy.url``, else ``$ZOO_DATABASE_URL``).
Concurrent upgraders are serialised: ``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL, so a second one finds the schema at head.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from registry.engine import is_sqlite, make_engine, parse_url
from registry.orm import Base

# Any fixed 64-bit number; identifies the registry's migration lock.
_PG_MIGRATION_LOCK = 0x7A6F6F

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:  # the alembic command with alembic.ini: log progress
    from logging.config import fileConfig

    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _migrate(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations copy and drop tables; with foreign keys on, the drop
        # would cascade into child tables. The pragma only works outside a
        # transaction, so it goes straight to the driver connection.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")
        connection.execution_options(zoo_write=True)
    # transactional_ddl: the whole upgrade is one transaction on SQLite too (our
    # engine emits BEGIN itself), so no one ever sees a half-migrated schema.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        transactional_ddl=True,
    )
    try:
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left {len(broken)} dangling foreign keys")
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")


def run_migrations_online() -> None:
    """Migrate the given connection, or one opened from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = make_engine(parse_url(config.get_main_option("sqlalchemy.url") or None))
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """Emit the migrations as SQL for the configured URL (``alembic upgrade --sql``)."""
    url = parse_url(config.get_main_option("sqlalchemy.url") or None)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=is_sqlite(url))
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
