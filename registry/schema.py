"""Schema versions: upgrading a database and checking it matches this code.

The migrations live in the package ``migrations`` (shipped in the wheel), so
everything here works from an installed copy, outside any source tree.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from registry.engine import (
    default_sqlite_path,
    display_url,
    is_sqlite,
    make_engine,
    parse_url,
    sqlite_path,
    unavailable,
)
from registry.errors import DatabaseUnavailable, NotFound, SchemaMismatch, arg

VERSION_TABLE = "alembic_version"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the shipped ``migrations`` package."""
    import migrations

    config = Config()
    # __path__, not __file__: an editable install may expose it as a namespace package.
    location = Path(next(iter(migrations.__path__)))
    config.set_main_option("script_location", str(location))
    if url:
        # ConfigParser interpolation: a literal % in a URL (escaped password) needs doubling.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    """The shipped migrations (parsed once per process)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest migration this code knows."""
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads; merge them")
    return heads[0]


def _with_connection(url: str | None, action, *, write: bool):
    parsed = parse_url(url)
    engine: Engine = make_engine(parsed)
    try:
        with engine.connect() as connection:
            if write:
                connection.execution_options(zoo_write=True)
            return action(connection)
    except DBAPIError as err:  # unreachable, not a database, no permission...
        raise unavailable(parsed, err) from None
    finally:
        engine.dispose()


def current_revision(url: str | None = None) -> str | None:
    """The schema revision of the database at ``url`` (None when it has none).

    A SQLite file that does not exist has none, and is not created.
    """
    parsed = parse_url(url)
    path = sqlite_path(parsed) if is_sqlite(parsed) else None
    if path is not None and not path.exists():
        return None
    return _with_connection(url, _current, write=False)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` up to ``revision``; returns the new revision.

    Safe to run concurrently and on a database already at head. Refuses a
    database whose schema is newer than this code, and one that holds tables
    but no zoo schema version (another application's: zoo's tables never go
    in beside them).
    """

    def run(connection: Connection) -> str | None:
        current = _current(connection)
        if current is None and _foreign(connection):
            raise SchemaMismatch(_foreign_message(display_url(connection.engine.url)))
        if connection.in_transaction():
            connection.commit()
        _refuse_unknown(current, connection)
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        new = _current(connection)
        if new == head_revision():
            _refuse_missing_tables(connection, display_url(connection.engine.url), new)
        return new

    return _with_connection(url, run, write=True)


def _foreign(connection: Connection) -> bool:
    """Whether a database without a schema version holds tables (another application's), read again after
    the version: an upgrader that committed in between (tables and version at once) is not foreign.

    An empty ``alembic_version`` table (a registry downgraded to base) does not count.
    """
    if not set(inspect(connection).get_table_names()) - {VERSION_TABLE}:
        return False
    if connection.in_transaction():
        connection.commit()  # a fresh snapshot (SQLite's WAL keeps the old one until the transaction ends)
    return _current(connection) is None


def _foreign_message(url_text: str) -> str:
    return (
        f"the database at {url_text} has tables but no zoo schema version; "
        f"point {arg('url', 'URL')} at a zoo registry or an empty database"
    )


def database_state(url: str | None = None) -> tuple[str | None, str]:
    """(revision, state) of the database at ``url``: :func:`revision_state`'s states, plus "foreign" for a
    database with tables but no zoo schema version (which every command refuses). A missing SQLite file is
    "empty" and is not created."""
    parsed = parse_url(url)
    path = sqlite_path(parsed) if is_sqlite(parsed) else None
    if path is not None and not path.exists():
        return None, "empty"

    def read(connection: Connection) -> tuple[str | None, str]:
        revision = _current(connection)
        if revision is None and _foreign(connection):
            return None, "foreign"
        if revision is None:  # _foreign read a fresh snapshot when there were tables: a concurrent upgrade's
            revision = _current(connection)
        return revision, revision_state(revision)

    return _with_connection(url, read, write=False)


def revision_state(revision: str | None) -> str:
    """Where ``revision`` stands against this code: "empty", "current", "behind" or "ahead".

    "ahead" is a revision this code does not know (written by a newer zoo).
    """
    if revision is None:
        return "empty"
    if revision == head_revision():
        return "current"
    try:
        known = script_directory().get_revision(revision) is not None
    except Exception:  # alembic raises several types for an unknown or malformed id
        known = False
    return "behind" if known else "ahead"


def missing_tables(connection: Connection) -> list[str]:
    """The registry tables this code needs that the database lacks (a dropped table, say)."""
    from registry.orm import Base

    present = set(inspect(connection).get_table_names())
    return sorted(set(Base.metadata.tables) - present)


def _refuse_missing_tables(connection: Connection, url_text: str, current: str) -> None:
    missing = missing_tables(connection)
    if missing:
        raise SchemaMismatch(
            f"the database at {url_text} is at schema {current} but lacks the table(s) "
            f"{', '.join(missing)}: it was damaged; restore it from a backup (`zoo import` into a new database)"
        )


def downgrade(url: str | None, revision: str) -> str | None:
    """Migrate the database at ``url`` down to ``revision`` ("base" empties it)."""

    def run(connection: Connection) -> str | None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        return _current(connection)

    return _with_connection(url, run, write=True)


def _refuse_unknown(current: str | None, connection: Connection) -> None:
    if current is None:
        return
    script = script_directory()
    try:
        known = script.get_revision(current) is not None
    except Exception:
        known = False
    if not known:
        raise SchemaMismatch(
            f"the database at {display_url(connection.engine.url)} has schema {current}, newer "
            f"than this zoo knows (head {head_revision()}); upgrade zoo in its checkout (git pull && pip install -e .)"
        )


def check_schema(connection: Connection, *, url_text: str) -> str | None:
    """Raise :class:`SchemaMismatch` unless the database is at this code's head.

    Returns the current revision; None means an empty database (no tables at all).
    """
    current = _current(connection)
    head = head_revision()
    if current == head:
        _refuse_missing_tables(connection, url_text, current)
        return current
    if current is None:
        tables = set(inspect(connection).get_table_names())
        if not tables:
            return None
        # A concurrent first upgrade may have committed between the two reads
        # above (READ COMMITTED): read the version again before refusing.
        current = _current(connection)
        if current == head:
            _refuse_missing_tables(connection, url_text, current)
            return current
    if current is None:
        raise SchemaMismatch(_foreign_message(url_text))
    _refuse_unknown(current, connection)
    raise SchemaMismatch(
        f"the database at {url_text} has schema {current}, behind this zoo (head {head}); run `zoo db upgrade`"
    )


def open_checked(url: str | None, *, create: bool) -> tuple[Engine, URL]:
    """An engine on the registry at ``url`` whose schema is this code's head, and the parsed URL.

    With ``create`` a missing SQLite file (in an existing folder, or the default
    one) or an empty database is created and upgraded; a schema behind or ahead
    is never touched: :class:`SchemaMismatch` says which command fixes it.
    """
    parsed = parse_url(url)
    shown = display_url(parsed)
    path = sqlite_path(parsed) if is_sqlite(parsed) else None
    if path is not None and not path.exists():
        if not create:
            raise NotFound(f"no registry at {shown}; run `zoo db upgrade` to create one")
        if not path.parent.exists():
            if url or path != default_sqlite_path():
                fix = arg("url", "URL")
                raise DatabaseUnavailable(f"directory {path.parent} does not exist; create it or fix {fix}")
            path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(parsed)
    try:
        with engine.connect() as connection:
            current = check_schema(connection, url_text=shown)
    except DBAPIError as err:  # unreachable, not a database, no permission...
        engine.dispose()
        raise unavailable(parsed, err) from None
    except BaseException:
        engine.dispose()
        raise
    if current is None:
        if not create:
            engine.dispose()
            raise SchemaMismatch(f"the database at {shown} is empty; run `zoo db upgrade`")
        upgrade(parsed.render_as_string(hide_password=False))
    return engine, parsed
