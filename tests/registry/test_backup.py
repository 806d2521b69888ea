"""Export/import: SQLite -> PostgreSQL -> SQLite loses nothing; clashes write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from registry.errors import AlreadyExists, InvalidInput, ProbeMismatch
from registry.store import Store


def _fill(store: Store) -> None:
    rng = np.random.default_rng(0)
    probe = store.ensure_probe(
        "bundled", arch="resnet18", weights_checksum="ab" * 32, embedding_length=5, layers=["layer3", "layer4"]
    )
    for i, name in enumerate(["devanagari", "latin", "runic"]):
        store.add_task(
            name,
            data_uri=f"/collections/scripts/{name}",
            num_classes=10 + i,
            num_samples=100 * (i + 1),
            fingerprint=f"{i:064x}",
            taxonomy=None if i == 2 else f"scripts/{name}",
        )
        store.put_task_embedding(
            name,
            probe.name,
            "montecarlo",
            rng.random(5, dtype=np.float32) * 1e-3,
            sample_count=50,
            seed=i,
            params={"head": {"C": 0.1}},
            package_version="0.1.0",
        )
        store.put_task_embedding(
            name,
            probe.name,
            "variational",
            rng.random(5) * 1e5,
            prior=np.full(5, 0.5),
            sample_count=50,
            seed=i,
            params={"beta": 1e-7},
            package_version="0.1.0",
        )
    store.add_model(
        "resnet18.a1_in1k",
        "timm:resnet18.a1_in1k",
        tags={"family": "resnet", "size": "s"},
        trained_on="imagenet-1k",
        num_params=11_689_512,
        checksum="cd" * 32,
        description="ResNet-18 — ünïcode ok",
    )
    store.add_model(
        "expert.devanagari",
        "file:/experts/devanagari.safetensors",
        arch="resnet18",
        trained_on="devanagari",
        check=False,
    )
    store.set_alias("generic", "resnet18.a1_in1k")
    for model in ("resnet18.a1_in1k", "expert.devanagari"):
        for task in ("latin", "runic"):
            store.add_transfer_result(
                model,
                task,
                metric="test_error",
                value=float(rng.random()),
                protocol="linear-probe",
                protocol_params={"shots": 5, "C": 1.0},
                train_size=50,
                test_size=200,
            )
    for lr in (0.1, 0.01):
        store.add_model2vec_run(
            "bundled",
            "variational",
            hyperparams={"lr": lr, "tau": 0.5},
            metrics={"top1": 0.5},
            embeddings={
                "resnet18.a1_in1k": (rng.random(5), rng.random(5), True, {"shift": float(rng.random())}),
                "expert.devanagari": (np.zeros(5), rng.random(5), False),
            },
        )


def _rows(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[1:]  # without the header


@pytest.mark.postgres
def test_round_trip_sqlite_postgres_sqlite_loses_nothing(tmp_path, postgres_url):
    first, second, third = (tmp_path / f"{n}.jsonl" for n in ("a", "b", "c"))
    with Store.open(f"sqlite:///{tmp_path / 'a.db'}") as source:
        _fill(source)
        counts = source.export_jsonl(first)
        models, tasks = source.list_models(), source.list_tasks()
        embedding = source.get_task_embedding("runic", "bundled", "variational")
        latest = source.latest_model2vec_run("bundled", "variational")
        model_embeddings = source.list_model_embeddings(latest.id)
    assert counts == {"probe": 1, "task": 3, "model": 2, "task_embedding": 6, "transfer_result": 4, "model2vec_run": 2}
    with Store.open(postgres_url) as middle:
        assert middle.import_jsonl(first) == counts
        middle.export_jsonl(second)
    with Store.open(f"sqlite:///{tmp_path / 'c.db'}") as target:
        target.import_jsonl(second)
        target.export_jsonl(third)
        assert _strip_ids(target.list_models()) == _strip_ids(models)
        assert _strip_ids(target.list_tasks()) == _strip_ids(tasks)
        back = target.get_task_embedding("runic", "bundled", "variational")
        np.testing.assert_array_equal(back.vector, embedding.vector)
        np.testing.assert_array_equal(back.prior, embedding.prior)
        assert (back.params, back.created_at) == (embedding.params, embedding.created_at)
        run = target.latest_model2vec_run("bundled", "variational")
        assert run.hyperparams == {"lr": 0.01, "tau": 0.5}
        for a, b in zip(target.list_model_embeddings(run.id), model_embeddings):
            assert (a.model, a.trained, a.params) == (b.model, b.trained, b.params)
            np.testing.assert_array_equal(a.bias, b.bias)
            np.testing.assert_array_equal(a.vector, b.vector)
    assert _rows(first) == _rows(second) == _rows(third)
    assert model_embeddings[1].params["shift"] > 0 and model_embeddings[0].params == {}


def test_exports_from_before_model_embedding_params_still_import(store, tmp_path):
    """A file written before migration 0003 has no "params" per model embedding: they import as {}."""
    _fill(store)
    path = tmp_path / "old.jsonl"
    store.export_jsonl(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    old = []
    for line in lines:
        row = json.loads(line)
        row.pop("sha256", None)  # files from before 0003 had no checksum in the header either
        for member in row.get("embeddings", []):
            member.pop("params")
        old.append(json.dumps(row))
    path.write_text("\n".join(old) + "\n", encoding="utf-8")
    with Store.open(f"sqlite:///{tmp_path / 'fresh.db'}") as fresh:
        fresh.import_jsonl(path)
        run = fresh.latest_model2vec_run("bundled", "variational")
        assert all(e.params == {} for e in fresh.list_model_embeddings(run.id))


def _strip_ids(records):
    return [{k: v for k, v in vars(r).items() if k != "id"} for r in records]


def test_import_with_a_clashing_name_writes_nothing(store, tmp_path):
    source_file = tmp_path / "export.jsonl"
    with Store.open(f"sqlite:///{tmp_path / 'src.db'}") as source:
        _fill(source)
        source.export_jsonl(source_file)
    store.add_task("zzz-only-here", data_uri="/x", num_classes=2, num_samples=2, fingerprint="f")
    store.add_model("generic", "timm:other")  # clashes with an alias in the file
    before = (store.revision_token("models"), store.counts())
    with pytest.raises(AlreadyExists, match="'generic'"):
        store.import_jsonl(source_file)
    assert (store.revision_token("models"), store.counts()) == before
    assert [t.name for t in store.list_tasks()] == ["zzz-only-here"]


def test_import_of_a_different_probe_with_the_same_name_is_refused(store, tmp_path):
    source_file = tmp_path / "export.jsonl"
    with Store.open(f"sqlite:///{tmp_path / 'src.db'}") as source:
        _fill(source)
        source.export_jsonl(source_file)
    store.ensure_probe("bundled", arch="resnet18", weights_checksum="other", embedding_length=5, layers=["layer4"])
    with pytest.raises(ProbeMismatch):
        store.import_jsonl(source_file)
    assert store.list_tasks() == [] and store.list_models() == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("not json\n", "not JSON"),
        ('{"kind": "model"}\n', "header"),
        ('{"kind": "zoo-registry", "format": 99}\n', "format"),
        ('{"kind": "zoo-registry", "format": 1}\n{"kind": "spaceship"}\n', "unknown kind"),
        ('{"kind": "zoo-registry", "format": 1}\n{"kind": "task", "name": "t"}\n', ":2: bad task"),
    ],
)
def test_malformed_import_files_are_refused_with_the_line(store, tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        store.import_jsonl(path)
    assert store.counts() == dict.fromkeys(store.counts(), 0)


def test_export_header_records_schema_and_counts(store, tmp_path):
    store.add_model("m", "timm:m")
    path = tmp_path / "out.jsonl"
    store.export_jsonl(path)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["kind"] == "zoo-registry" and header["counts"]["model"] == 1
    with pytest.raises(InvalidInput, match="cannot write"):
        store.export_jsonl(tmp_path / "missing-dir" / "out.jsonl")


def test_gzipped_export_round_trips(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'a.db'}") as source:
        _fill(source)
        source.export_jsonl(tmp_path / "zoo.jsonl.gz")
        source.export_jsonl(tmp_path / "zoo.jsonl")
    assert (tmp_path / "zoo.jsonl.gz").read_bytes()[:2] == b"\x1f\x8b"
    with Store.open(f"sqlite:///{tmp_path / 'b.db'}") as target:
        target.import_jsonl(tmp_path / "zoo.jsonl.gz")
        target.export_jsonl(tmp_path / "again.jsonl")
    assert _rows(tmp_path / "again.jsonl") == _rows(tmp_path / "zoo.jsonl")


def test_format_1_files_with_vectors_as_lists_still_import(store, tmp_path):
    """Format 2 writes vectors as base64 float32; a format-1 file (lists of numbers) reads the same."""
    new = tmp_path / "new.jsonl"
    with Store.open(f"sqlite:///{tmp_path / 'src.db'}") as source:
        _fill(source)
        source.export_jsonl(new)
        expected = source.get_task_embedding("runic", "bundled", "variational")
    rows = [json.loads(line) for line in new.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["format"] == 2 and set(rows[-1]["embeddings"][0]["vector"]) == {"f32"}

    def as_lists(value):
        if isinstance(value, dict) and set(value) == {"f32"}:
            import base64

            return np.frombuffer(base64.b64decode(value["f32"]), dtype="<f4").tolist()
        if isinstance(value, dict):
            return {k: as_lists(v) for k, v in value.items()}
        if isinstance(value, list):
            return [as_lists(v) for v in value]
        return value

    old = tmp_path / "old.jsonl"
    old.write_text(
        "".join(json.dumps({**as_lists(r), **({"format": 1} if i == 0 else {})}) + "\n" for i, r in enumerate(rows)),
        encoding="utf-8",
    )
    store.import_jsonl(old)
    back = store.get_task_embedding("runic", "bundled", "variational")
    np.testing.assert_array_equal(back.vector, expected.vector)


@pytest.mark.parametrize(
    "vector, message",
    [
        ({"f32": "not base64!"}, "base64"),
        ({"f32": "AAAAAAA="}, "whole number of float32"),
        ({"f32": "AADAfw=="}, "NaN"),
    ],
)
def test_a_corrupt_base64_vector_is_refused_with_its_line(store, tmp_path, vector, message):
    source_file = tmp_path / "export.jsonl"
    with Store.open(f"sqlite:///{tmp_path / 'src.db'}") as source:
        _fill(source)
        source.export_jsonl(source_file)
    rows = [json.loads(line) for line in source_file.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["kind"] == "task_embedding":
            row["vector"] = vector
            break
    source_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        store.import_jsonl(source_file)
    assert store.counts() == dict.fromkeys(store.counts(), 0)
