"""URLs, the default database, SQLite settings and the retry on "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import registry
from registry.engine import display_url, make_engine, parse_url, run_transaction
from registry.errors import DatabaseUnavailable, InvalidInput
from registry.store import Store


def test_default_database_url_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert registry.default_database_url() == f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.delenv("ZOO_DATABASE_URL")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = registry.default_database_url()
    assert url.startswith("sqlite:///") and Path(url[len("sqlite:///") :]).parts[-2:] == ("zoo", "zoo.db")


def test_default_database_is_created_in_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with Store.open() as store:
        store.add_model("m", "timm:m")
    assert (tmp_path / "data" / "zoo" / "zoo.db").exists()


def test_urls_are_checked_and_passwords_hidden():
    assert parse_url("postgresql://u:secret@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert "secret" not in display_url(parse_url("postgresql://u:secret@h/db"))
    for bad in ("not a url", "mysql://u@h/db", "sqlite://", "sqlite:///:memory:"):
        with pytest.raises(InvalidInput):
            parse_url(bad)


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url):
    engine = make_engine(parse_url(sqlite_url))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
    engine.dispose()


def test_transient_lock_errors_are_retried_and_others_surface(sqlite_url):
    url = parse_url(sqlite_url)
    engine = make_engine(url)
    calls = []

    def flaky(session):
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return session.execute(text("SELECT 42")).scalar()

    assert run_transaction(engine, flaky, write=True, url=url) == 42 and len(calls) == 3

    def broken(session):
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))

    with pytest.raises(DatabaseUnavailable, match="disk I/O error"):
        run_transaction(engine, broken, write=False, url=url)
    engine.dispose()


def test_a_writer_waits_for_another_writer_instead_of_failing(sqlite_url):
    with Store.open(sqlite_url) as store:
        path = sqlite_url[len("sqlite:///") :]
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
        release.start()
        start = time.monotonic()
        store.add_model("m", "timm:m")
        waited = time.monotonic() - start
        release.join()
        holder.close()
        assert waited >= 0.5
        assert [m.name for m in store.list_models()] == ["m"]


def test_constraint_violations_from_races_become_one_line_errors(store):
    from registry.errors import AlreadyExists as Taken
    from registry.errors import NotFound
    from registry.orm import ModelRow, TransferResultRow, utcnow

    store.add_model("m", "timm:m")

    def duplicate(session):  # what a concurrent writer could do between check and insert
        session.add(ModelRow(name="m", source="timm:m", created_at=utcnow()))
        session.flush()

    with pytest.raises(Taken, match="concurrent"):
        store.run(duplicate, write=True)

    def dangling(session):
        session.add(
            TransferResultRow(
                model_id=999,
                task_id=999,
                metric="e",
                value=0.0,
                protocol="p",
                protocol_params={},
                train_size=1,
                test_size=1,
                created_at=utcnow(),
            )
        )
        session.flush()

    with pytest.raises(NotFound, match="removed meanwhile"):
        store.run(dangling, write=True)
    assert [m.name for m in store.list_models()] == ["m"]
