"""Database URLs and engines: where the registry lives and how we talk to it.

SQLite gets WAL, foreign keys and a busy timeout, and write transactions start
with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade; what
is left of "database is locked" is retried by :func:`run_transaction`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session

from registry.errors import AlreadyExists, DatabaseUnavailable, InvalidInput, NotFound, ZooError, arg

T = TypeVar("T")

ENV_VAR = "ZOO_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 30.0
RETRY_ATTEMPTS = 12
# Retries stop after this long in all: a lock held longer is a stuck writer, not contention.
RETRY_DEADLINE_S = 45.0
_RETRY_MARKERS = ("database is locked", "database is busy", "deadlock detected", "could not serialize access")


def default_database_url() -> str:
    """``$ZOO_DATABASE_URL``, else ``sqlite:///<user data dir>/zoo.db``."""
    url = os.environ.get(ENV_VAR)
    if url:
        return url
    return f"sqlite:///{default_sqlite_path()}"


def default_sqlite_path() -> Path:
    """The default registry file: ``platformdirs.user_data_dir("zoo")/zoo.db``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("zoo")) / "zoo.db"


def parse_url(url: str | None) -> URL:
    """A validated SQLAlchemy URL; plain ``postgresql://`` means psycopg 3.

    Raises :class:`InvalidInput` for anything that is not SQLite or PostgreSQL.
    """
    text = url if url else default_database_url()
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise InvalidInput(
            f"bad database URL {text!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if sqlite_path(parsed) is None:
            raise InvalidInput(
                f"in-memory SQLite ({text!r}) cannot hold a registry between connections; use sqlite:///PATH"
            )
    else:
        raise InvalidInput(
            f"unsupported database {backend!r} in {display_url(parsed)}: use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB"
        )
    return parsed


def display_url(url: URL | str) -> str:
    """The URL with its password hidden, for messages."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return url
    return url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    """Whether ``url`` points at SQLite."""
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: URL) -> Engine:
    """An engine for ``url`` with the registry's connection settings."""
    try:
        if is_sqlite(url):
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (ArgumentError, NoSuchModuleError, ImportError) as err:
        raise InvalidInput(
            f"cannot use database URL {display_url(url)}: {first_line(err)}; for PostgreSQL "
            "install the extra (pip install -e '.[postgres]' in zoo's checkout) and use postgresql+psycopg://"
        ) from None
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, busy timeout; BEGIN IMMEDIATE for writes (``zoo_write`` option)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's "begin" event (below) emit BEGIN instead of pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            _retry_locked(lambda: cursor.execute("PRAGMA journal_mode = WAL"))
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        if connection.get_execution_options().get("zoo_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _retry_locked(action: Callable[[], T]) -> T:
    for attempt in range(RETRY_ATTEMPTS):
        try:
            return action()
        except Exception as err:  # sqlite3.OperationalError, before SQLAlchemy wraps it
            if attempt == RETRY_ATTEMPTS - 1 or not is_retryable(err):
                raise
            _backoff(attempt)
    raise AssertionError("unreachable")


def is_retryable(err: BaseException) -> bool:
    """Whether ``err`` is a transient lock/serialisation failure worth retrying."""
    text = str(getattr(err, "orig", None) or err).lower()
    return any(marker in text for marker in _RETRY_MARKERS)


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.02 * (2**attempt)) * (0.5 + random.random()))


def run_transaction(engine: Engine, work: Callable[[Session], T], *, write: bool, url: URL) -> T:
    """Run ``work(session)`` in one transaction, committed, or rolled back on any error.

    Transient lock errors ("database is locked", deadlocks, serialisation
    failures) are retried with backoff; ``work`` must therefore be safe to run
    again from the start. Unreachable databases raise :class:`DatabaseUnavailable`.
    """
    bind = engine.execution_options(zoo_write=True) if write else engine
    deadline = time.monotonic() + RETRY_DEADLINE_S
    for attempt in range(RETRY_ATTEMPTS):
        try:
            with Session(bind, expire_on_commit=False) as session:
                with session.begin():
                    return work(session)
        except OperationalError as err:
            if is_retryable(err) and attempt < RETRY_ATTEMPTS - 1 and time.monotonic() < deadline:
                _backoff(attempt)
                continue
            if is_retryable(err):
                raise DatabaseUnavailable(
                    f"the database at {display_url(url)} stayed locked by another writer "
                    f"({first_line(err)}); retry, or stop the process holding it"
                ) from None
            raise unavailable(url, err) from None
        except IntegrityError:
            raise
        except DBAPIError as err:  # not a database, dropped connection, no permission...
            raise unavailable(url, err) from None
    raise AssertionError("unreachable")


def integrity_error(err: BaseException) -> ZooError:
    """A constraint violation that explicit checks did not catch (a concurrent change)."""
    detail = first_line(err)
    if "foreign key" in detail.lower():
        return NotFound(f"a row this change refers to was removed meanwhile ({detail}); check the names and retry")
    return AlreadyExists(f"a concurrent change took the same name ({detail}); choose another name or retry")


def unavailable(url: URL, err: BaseException) -> DatabaseUnavailable:
    """The one-line error for a database that cannot be reached or opened."""
    if is_sqlite(url):
        hint = f"check the SQLite path given with {arg('url', 'URL')} or $ZOO_DATABASE_URL"
    else:
        hint = (
            f"check the URL given with {arg('url', 'URL')} or $ZOO_DATABASE_URL, that the server is running "
            "and that the database exists (createdb)"
        )
    return DatabaseUnavailable(f"cannot use the database at {display_url(url)} ({first_line(err)}); {hint}")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (drivers add SQL and links below)."""
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
