"""`zoo index rebuild` with a factory faiss cannot train, and `zoo db current`/`upgrade` on a database zoo cannot
use (schema behind, another application's tables): one line or a stated state, exit codes, nothing changed."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

import registry
from registry.engine import parse_url
from zoo.cli import main


def _zoo(url: str | None, *args: str):
    return CliRunner().invoke(main, [*(["--db", url] if url else []), *args])


@pytest.fixture
def shipped(shipped_template, tmp_path) -> str:
    """The shipped zoo (48 models, 279 tasks) with its indexes built by `zoo index rebuild`."""
    shutil.copy(shipped_template, tmp_path / "zoo.db")
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    result = _zoo(url, "index", "rebuild", "--quiet")
    assert result.exit_code == 0, result.output
    return url


def _index_files(url: str) -> dict[str, str]:
    folder = Path(url[len("sqlite:///") :] + ".index")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------- index rebuild --factory


@pytest.mark.parametrize("factory, lists", [("IVF256,Flat", 256), ("IVF4096,SQ8", 4096)])
def test_an_ivf_factory_larger_than_the_zoo_is_one_line_exit_2_and_the_indexes_stay(
    factory, lists, shipped, assert_one_line_error
):
    before = _index_files(shipped)
    assert len(before) == 4  # models and tasks, each with its sidecar
    result = _zoo(shipped, "index", "rebuild", "--factory", factory, "--quiet")
    assert_one_line_error(
        result,
        2,
        f"IVF{lists} needs at least {lists} vectors to train; the models index has 48: "
        "use --factory Flat or HNSW32,Flat",
    )
    assert _index_files(shipped) == before


def test_a_factory_faiss_cannot_train_is_one_line_exit_2_and_the_indexes_stay(shipped, assert_one_line_error):
    """PQ1 codes take 256 centroids: faiss' own training error (not the IVF check) becomes the line."""
    before = _index_files(shipped)
    result = _zoo(shipped, "index", "rebuild", "--factory", "HNSW32,PQ1", "--quiet")
    assert_one_line_error(
        result,
        2,
        "faiss cannot build 'HNSW32,PQ1' for the models index (48 vectors): Number of training points (48) "
        "should be at least as large as number of clusters (256); use --factory Flat or HNSW32,Flat",
    )
    assert _index_files(shipped) == before


def test_a_factory_refused_on_the_tasks_index_leaves_the_models_index_too(shipped, monkeypatch, assert_one_line_error):
    """The models index builds first; it is saved only once the tasks index has been built as well."""
    from registry.errors import InvalidInput
    from zoo.index import EmbeddingIndex

    build = EmbeddingIndex.build.__func__

    def refuse_the_tasks(cls, names, vectors, **kwargs):
        if kwargs["meta"]["built_from"]["kind"] == "tasks":
            raise InvalidInput("IVF500 needs at least 500 vectors to train; the tasks index has 279")
        return build(cls, names, vectors, **kwargs)

    monkeypatch.setattr(EmbeddingIndex, "build", classmethod(refuse_the_tasks))
    before = _index_files(shipped)
    result = _zoo(shipped, "index", "rebuild", "--factory", "HNSW32,Flat", "--quiet")
    assert_one_line_error(result, 2, "the tasks index has 279")
    assert _index_files(shipped) == before


def test_the_hint_for_an_unknown_factory_names_only_factories_that_fit_or_says_when(shipped, assert_one_line_error):
    result = _zoo(shipped, "index", "rebuild", "--factory", "BOGUS", "--quiet")
    assert_one_line_error(result, 2, "--factory 'BOGUS' is not a faiss index_factory string; try Flat")
    assert "IVF256" not in result.stderr and "at least n vectors" in result.stderr


# ---------------------------------------------------------------- db current / db upgrade


def _foreign_table(url: str) -> None:
    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(parse_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_current_exits_1_when_the_schema_is_behind(store_url):
    from registry.schema import upgrade

    upgrade(store_url, "0001")
    result = _zoo(store_url, "db", "current")
    assert result.exit_code == 1, result.output
    assert f"0001 (head {registry.head_revision()}, behind: run `zoo db upgrade`)" in result.stdout
    json_result = _zoo(store_url, "db", "current", "--json")
    assert json_result.exit_code == 1 and '"state": "behind"' in json_result.stdout


def test_db_current_of_an_empty_database_and_of_a_current_one_exit_0(store_url):
    assert _zoo(store_url, "db", "current").exit_code == 0
    registry.upgrade(store_url)
    assert _zoo(store_url, "db", "current").exit_code == 0


def test_db_current_says_another_applications_database_is_not_a_zoo_registry(store_url):
    _foreign_table(store_url)
    result = _zoo(store_url, "db", "current")
    assert result.exit_code == 1, result.output
    assert "has tables but no zoo schema version: point --db at a zoo registry or an empty database" in (result.stdout)
    assert "(empty)" not in result.stdout
    assert '"state": "foreign"' in _zoo(store_url, "db", "current", "--json").stdout


def test_db_upgrade_refuses_another_applications_database_and_adds_no_table(store_url, assert_one_line_error):
    _foreign_table(store_url)
    result = _zoo(store_url, "db", "upgrade")
    assert_one_line_error(
        result, 1, "has tables but no zoo schema version; point --db URL at a zoo registry or an empty database"
    )
    assert _tables(store_url) == {"invoices"}


def test_db_upgrade_after_a_downgrade_to_base_still_upgrades(store_url):
    """An empty alembic_version table (a registry downgraded to base) is not another application's."""
    from registry.schema import downgrade

    registry.upgrade(store_url)
    downgrade(store_url, "base")
    result = _zoo(store_url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert _zoo(store_url, "db", "current").exit_code == 0
