"""Migrations: one head, the ORM and the migrations agree, down and up again, rows kept."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import registry
from registry.engine import parse_url
from registry.errors import SchemaMismatch
from registry.orm import Base
from registry.schema import alembic_config, downgrade
from registry.store import Store


def _tables(url: str) -> set[str]:
    engine = create_engine(parse_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_have_one_head():
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [registry.head_revision()]


def test_upgrade_of_empty_database_matches_the_orm(store_url):
    assert registry.current_revision(store_url) is None
    assert registry.upgrade(store_url) == registry.head_revision()
    engine = create_engine(parse_url(store_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
    assert _tables(store_url) == set(Base.metadata.tables)


def test_downgrade_to_base_and_upgrade_again(store_url):
    registry.upgrade(store_url)
    assert downgrade(store_url, "base") is None
    assert _tables(store_url) == set()
    assert registry.upgrade(store_url) == registry.head_revision()
    with Store.open(store_url, create=False) as store:
        store.add_model("m", "timm:m")
        assert [m.name for m in store.list_models()] == ["m"]


def test_upgrade_keeps_existing_rows(store_url):
    from registry.schema import upgrade as upgrade_to

    upgrade_to(store_url, "0001")
    engine = create_engine(parse_url(store_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO models (name, source, created_at) VALUES ('kept', 'timm:kept', '2026-01-02 03:04:05')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO tasks (name, data_uri, num_classes, num_samples, "
                    "fingerprint, created_at) VALUES ('t', '/t', 2, 4, 'f', "
                    "'2026-01-02 03:04:05')"
                )
            )
    finally:
        engine.dispose()
    assert registry.upgrade(store_url) == registry.head_revision()
    with Store.open(store_url, create=False) as store:
        assert [m.name for m in store.list_models()] == ["kept"]
        assert store.get_task("t").num_classes == 2
        store.add_transfer_result(
            "kept", "t", metric="test_error", value=0.1, protocol="p", protocol_params={}, train_size=1, test_size=1
        )


def test_store_refuses_a_schema_behind_the_code(store_url):
    from registry.schema import upgrade as upgrade_to

    upgrade_to(store_url, "0001")
    for create in (True, False):
        with pytest.raises(SchemaMismatch, match="run `zoo db upgrade`"):
            Store.open(store_url, create=create)
    assert registry.current_revision(store_url) == "0001"  # never upgraded silently


def test_store_refuses_a_schema_ahead_of_the_code(store_url):
    registry.upgrade(store_url)
    engine = create_engine(parse_url(store_url))
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaMismatch, match="newer"):
        Store.open(store_url)
    with pytest.raises(SchemaMismatch, match="newer"):
        registry.upgrade(store_url)


def test_open_with_create_upgrades_only_an_empty_database(sqlite_url):
    with pytest.raises(Exception, match="zoo db upgrade"):
        Store.open(sqlite_url, create=False)
    with Store.open(sqlite_url) as store:
        assert registry.current_revision(store.url) == registry.head_revision()


def test_foreign_tables_without_a_version_are_refused(sqlite_url):
    engine = create_engine(parse_url(sqlite_url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE other (x INTEGER)"))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="no zoo schema"):
        Store.open(sqlite_url)
