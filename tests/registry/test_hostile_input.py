"""Hostile and careless input to the store, export/import and `zoo db`: refused whole, in one line.

The import and transaction cases use the ``store`` fixture, so they run on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import gzip
import json
import unicodedata

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from registry.engine import parse_url
from registry.errors import AlreadyExists, InvalidInput, ProbeMismatch, SchemaMismatch
from registry.store import Store
from registry.task_writes import EmbeddingSpec, NewTask, ProbeSpec

D = 4


def _small(store: Store) -> None:
    store.ensure_probe("p", arch="resnet18", weights_checksum="ab" * 32, embedding_length=D, layers=["l4"])
    store.add_task("t", data_uri="/data/t", num_classes=2, num_samples=10, fingerprint="f")
    store.put_task_embedding(
        "t",
        "p",
        "variational",
        np.arange(D, dtype=np.float32),
        prior=np.ones(D),
        sample_count=10,
        seed=0,
        params={},
        package_version="0",
    )
    store.add_model("m", "timm:resnet18")
    store.add_transfer_result(
        "m", "t", metric="error", value=0.25, protocol="linear", protocol_params={}, train_size=5, test_size=5
    )
    store.add_model2vec_run("p", "variational", hyperparams={}, metrics={}, embeddings={"m": (np.zeros(D), np.ones(D))})


def _export(tmp_path, name="src.db"):
    path = tmp_path / "export.jsonl"
    with Store.open(f"sqlite:///{tmp_path / name}") as source:
        _small(source)
        source.export_jsonl(path)
    return path


def _rewrite(path, change):
    """Apply ``change(rows)`` to an export's rows and write it back without its checksum."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[0].pop("sha256")
    change(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _empty(store):
    return store.counts() == dict.fromkeys(store.counts(), 0)


# 1. export never destroys a file it did not write
def test_export_refuses_the_registry_own_file_and_foreign_files(tmp_path):
    db = tmp_path / "reg.db"
    with Store.open(f"sqlite:///{db}") as store:
        _small(store)
        before = db.read_bytes()
        with pytest.raises(InvalidInput, match="own database file"):
            store.export_jsonl(db)
        with pytest.raises(InvalidInput, match="own database file"):
            store.export_jsonl(tmp_path / "." / "reg.db", force=True)
        assert db.read_bytes() == before and store.counts()["tasks"] == 1
        notes = tmp_path / "notes.txt"
        notes.write_text("precious")
        with pytest.raises(InvalidInput, match="force=True"):
            store.export_jsonl(notes)
        assert notes.read_text() == "precious"
        store.export_jsonl(notes, force=True)
        backup = tmp_path / "backup.jsonl.gz"
        store.export_jsonl(backup)
        store.export_jsonl(backup)  # a previous export is overwritten without force
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_export_over_the_database_fails_in_one_line(tmp_path):
    from zoo.cli import main

    db = tmp_path / "reg.db"
    with Store.open(f"sqlite:///{db}") as store:
        _small(store)
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{db}", "export", str(db)])
    assert result.exit_code != 0 and "own database file" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    with Store.open(f"sqlite:///{db}") as store:
        assert store.counts()["tasks"] == 1
    other = tmp_path / "other.txt"
    other.write_text("x")
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{db}", "export", str(other)])
    assert result.exit_code != 0 and "--force" in result.stderr
    assert CliRunner().invoke(main, ["--db", f"sqlite:///{db}", "export", str(other), "--force"]).exit_code == 0


# 2. a short file is refused
def test_an_export_cut_at_a_line_boundary_is_refused(store, tmp_path):
    path = _export(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")
    with pytest.raises(InvalidInput, match="cut short or changed"):
        store.import_jsonl(path)
    assert _empty(store)


def test_counts_are_checked_even_without_a_checksum(store, tmp_path):
    path = _export(tmp_path)
    _rewrite(path, lambda rows: rows.append(dict(rows[-1])))  # a repeated last line
    with pytest.raises(InvalidInput, match="header says 1"):
        store.import_jsonl(path)
    assert _empty(store)


# 3. vector lengths on every write path
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e.update(vector=[0.0] * (D - 2)), "prior has 4 values but vector has 2"),
        (lambda e: e.update(vector=[0.0] * (D - 1), prior=[1.0] * (D - 1)), "probe 'p' embeds to 4"),
        (lambda e: e.update(prior=[1.0] * (D + 1)), "prior has 5 values"),
    ],
)
def test_import_refuses_task_embeddings_of_the_wrong_length(store, tmp_path, change, message):
    path = _export(tmp_path)

    def edit(rows):
        change(next(r for r in rows if r["kind"] == "task_embedding"))

    _rewrite(path, edit)
    with pytest.raises((InvalidInput, ProbeMismatch), match=message):
        store.import_jsonl(path)
    assert _empty(store)


def test_import_refuses_a_model_embedding_shorter_than_its_bias(store, tmp_path):
    path = _export(tmp_path)

    def edit(rows):
        next(r for r in rows if r["kind"] == "model2vec_run")["embeddings"][0]["vector"] = [0.0] * (D - 1)

    _rewrite(path, edit)
    with pytest.raises(InvalidInput, match="bias has 4"):
        store.import_jsonl(path)
    assert _empty(store)


def test_no_write_path_can_store_a_vector_its_probe_cannot_read(store):
    from registry.orm import TaskEmbeddingRow
    from registry.rows import probe_row, task_row

    _small(store)
    with pytest.raises(ProbeMismatch, match="embeds to 4"):
        store.put_task_embedding(
            "t", "p", "other", np.ones(D + 1), sample_count=1, seed=0, params={}, package_version="0"
        )

    def sneak(session):  # a future write path that forgets the check
        session.add(
            TaskEmbeddingRow(
                task=task_row(session, "t"),
                probe=probe_row(session, "p"),
                method="x",
                length=2,
                vector=np.ones(2, "<f4").tobytes(),
                sample_count=1,
                seed=0,
                params={},
                package_version="0",
            )
        )
        session.flush()

    with pytest.raises(ProbeMismatch):
        store.transact(sneak, write=True)
    assert len(store.list_task_embeddings()) == 1


# 4. embed-task's writes in one transaction
def test_record_task_embedding_adds_all_three_or_nothing(store):
    store.ensure_probe("p", arch="resnet18", weights_checksum="ab" * 32, embedding_length=D, layers=["l4"])
    task = NewTask("new", "/data/new", 2, 10, "f")
    clash = ProbeSpec("p", "resnet34", "cd" * 32, D, ("l4",))
    embedding = EmbeddingSpec("variational", np.ones(D), 10, 0, {}, "0", prior=np.ones(D))
    with pytest.raises(ProbeMismatch):
        store.record_task_embedding(task=task, probe=clash, embedding=embedding)
    assert store.list_tasks() == []
    short = EmbeddingSpec("variational", np.ones(D - 1), 10, 0, {}, "0")
    with pytest.raises(ProbeMismatch):
        store.record_task_embedding(task=task, probe=ProbeSpec("q", "resnet18", "ef" * 32, D, ("l4",)), embedding=short)
    assert store.list_tasks() == [] and [p.name for p in store.list_probes()] == ["p"]
    good = ProbeSpec("p", "resnet18", "ab" * 32, D, ("l4",))
    record = store.record_task_embedding(task=task, probe=good, embedding=embedding)
    assert record.task == "new" and len(store.list_task_embeddings(task="new")) == 1
    again = store.record_task_embedding(task="new", probe=good, embedding=embedding)  # registered task by name
    assert again.task == "new"
    with pytest.raises(AlreadyExists):
        store.record_task_embedding(task=task, probe=good, embedding=embedding)


# 10. numbers too large, files that are not exports
def test_num_params_and_counts_too_large_are_invalid_input(store, tmp_path):
    with pytest.raises(InvalidInput, match="num_params"):
        store.add_model("big", "timm:resnet18", num_params=99999999999999999999999)
    with pytest.raises(InvalidInput, match="num_samples"):
        store.add_task("big", data_uri="/x", num_classes=2, num_samples=10**30, fingerprint="f")
    path = _export(tmp_path)
    _rewrite(path, lambda rows: next(r for r in rows if r["kind"] == "task").update(num_samples=10**30))
    with pytest.raises(InvalidInput, match=r":\d+: num_samples"):
        store.import_jsonl(path)
    assert _empty(store)


@pytest.mark.parametrize(
    "content",
    [
        b"SQLite format 3\x00" + bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n\xff\xfe\x00garbage",
        b"\x1f\x8b" + b"garbage" * 10,
    ],
)
def test_binary_files_given_to_import_are_refused(store, tmp_path, content):
    path = tmp_path / "wrong.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidInput):
        store.import_jsonl(path)
    assert _empty(store)


def test_a_truncated_gzip_export_is_refused(store, tmp_path):
    path = _export(tmp_path)
    packed = gzip.compress(path.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InvalidInput, match="truncated gzip"):
        store.import_jsonl(cut)
    assert _empty(store)


def test_a_directory_or_fifo_given_to_import_is_refused(store, tmp_path):
    import os

    with pytest.raises(InvalidInput, match="is a directory"):
        store.import_jsonl(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        store.import_jsonl(fifo)


# 11. misleading messages
def test_a_nan_transfer_value_is_reported_as_not_finite(store, tmp_path):
    path = _export(tmp_path)
    _rewrite(path, lambda rows: next(r for r in rows if r["kind"] == "transfer_result").update(value="nan"))
    with pytest.raises(InvalidInput, match="finite"):
        store.import_jsonl(path)
    assert _empty(store)


def test_db_current_on_a_newer_revision_says_ahead_and_fails(tmp_path):
    import registry
    from zoo.cli import main

    url = f"sqlite:///{tmp_path / 'new.db'}"
    registry.upgrade(url)
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    engine.dispose()
    result = CliRunner().invoke(main, ["--db", url, "db", "current"])
    assert result.exit_code == 1 and "ahead" in result.stdout and "behind" not in result.stdout


def test_a_dropped_table_is_named_and_upgrade_does_not_call_it_current(tmp_path):
    import registry
    from zoo.cli import main

    url = f"sqlite:///{tmp_path / 'broken.db'}"
    registry.upgrade(url)
    engine = create_engine(parse_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE transfer_results"))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="lacks the table.*transfer_results"):
        Store.open(url)
    with pytest.raises(SchemaMismatch, match="transfer_results"):
        registry.upgrade(url)
    result = CliRunner().invoke(main, ["--db", url, "db", "upgrade"])
    assert result.exit_code != 0 and "already at" not in result.output and "transfer_results" in result.stderr


# 12. names
def test_names_are_nfc_and_invisible_characters_are_refused(store):
    composed, decomposed = "café", unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    store.add_model(decomposed, "timm:resnet18")
    assert store.get_model(composed).name == composed
    with pytest.raises(AlreadyExists):
        store.add_model(composed, "timm:resnet18")
    for bad in ("evil\u202egnp", "zero\u200bwidth", "bell\x07"):
        with pytest.raises(InvalidInput, match="invisible"):
            store.add_task(bad, data_uri="/x", num_classes=2, num_samples=2, fingerprint="f")
    assert store.list_tasks() == []


def test_a_repeated_tag_key_is_an_error(store):
    with pytest.raises(InvalidInput, match="given twice"):
        store.add_model("m", "timm:resnet18", tags=[("a", "1"), ("a", "2")])
    store.add_model("m", "timm:resnet18", tags=[("a", "1"), ("b", "2")])
    assert store.get_model("m").tags == {"a": "1", "b": "2"}


# 13. file: sources are checked at registration
def test_file_sources_are_checked_at_registration(store, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        store.add_model("a", f"file:{tmp_path / 'absent.safetensors'}")
    with pytest.raises(InvalidInput, match="is a directory"):
        store.add_model("a", f"file:{tmp_path}")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(InvalidInput, match="safetensors header"):
        store.add_model("a", f"file:{bad}")
    text_file = tmp_path / "notes.pth"
    text_file.write_text("hello")
    with pytest.raises(InvalidInput, match="PyTorch checkpoint"):
        store.add_model("a", f"file:{text_file}")
    header = json.dumps({"__metadata__": {"arch": "resnet18"}}).encode()
    good = tmp_path / "good.safetensors"
    good.write_bytes(len(header).to_bytes(8, "little") + header)
    zipped = tmp_path / "good.pth"
    zipped.write_bytes(b"PK\x03\x04rest")
    store.add_model("good", f"file:{good}")
    store.add_model("zipped", f"file:{zipped}")
    store.add_model("later", f"file:{tmp_path / 'not-yet.safetensors'}", check=False)
    assert [m.name for m in store.list_models()] == ["good", "later", "zipped"]
