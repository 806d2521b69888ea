"""Zoo.embed_task / task_embedding / similar_tasks / distance on a SQLite registry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from registry.errors import AlreadyExists, InvalidInput, NotFound
from zoo.api import Zoo
from zoo.embedding.distance import d_sym


@pytest.fixture
def zoo(sqlite_url):
    with Zoo.open(sqlite_url) as z:
        yield z


def test_embed_task_registers_task_and_probe(zoo, tmp_path, probe_file, task_folder):
    folder = task_folder(tmp_path / "birds")
    record = zoo.embed_task(folder, probe=f"file:{probe_file}", progress=False, taxonomy="animals/birds")
    task = zoo.store.get_task("birds")
    assert (task.num_classes, task.num_samples, task.taxonomy) == (3, 18, "animals/birds")
    assert len(task.fingerprint) == 64
    probe = zoo.store.get_probe(record.probe)
    assert probe.embedding_length == record.vector.shape[0] and probe.arch == "resnet18"
    assert record.params["head"]["kind"] == "l2-multinomial-logistic-regression"
    assert record.prior is not None and record.prior.shape == record.vector.shape
    again = zoo.task_embedding("birds")
    np.testing.assert_array_equal(again.vector, record.vector)
    assert str(zoo.resolve_probe(f"file:{probe_file}")) == record.probe


def test_embed_registered_task_from_its_data_uri(zoo, tmp_path, probe_file, task_folder):
    folder = task_folder(tmp_path / "birds")
    first = zoo.embed_task(folder, "birds", probe=f"file:{probe_file}", progress=False)
    again = zoo.embed_task(None, "birds", probe=f"file:{probe_file}", progress=False)
    np.testing.assert_array_equal(first.vector, again.vector)
    assert len(zoo.store.list_task_embeddings(task="birds")) == 1  # replaced, not duplicated


def test_registered_name_with_other_data_is_refused(zoo, tmp_path, probe_file, task_folder):
    zoo.embed_task(task_folder(tmp_path / "birds"), "birds", probe=f"file:{probe_file}", progress=False)
    before = zoo.task_embedding("birds").vector
    with pytest.raises(AlreadyExists, match="registered from"):
        zoo.embed_task(task_folder(tmp_path / "other", seed=5), "birds", probe=f"file:{probe_file}", progress=False)
    np.testing.assert_array_equal(zoo.task_embedding("birds").vector, before)


def test_bench_task_folder_name_and_taxonomy_from_task_json(zoo, tmp_path, probe_file, task_folder):
    root = tmp_path / "latin"
    task_folder(root / "train")
    (root / "task.json").write_text(json.dumps({"name": "latin-a", "collection": "scripts", "taxonomy": "latin"}))
    record = zoo.embed_task(root, probe=f"file:{probe_file}", progress=False)
    assert record.task == "latin-a" and zoo.store.get_task("latin-a").taxonomy == "scripts/latin"


def test_similar_and_distance(zoo, tmp_path, probe_file, task_folder):
    spec = f"file:{probe_file}"
    for name, seed, shift in (("a", 0, 0), ("b", 1, 0), ("c", 2, 1)):
        zoo.embed_task(task_folder(tmp_path / name, seed=seed, shift=shift), name, probe=spec, progress=False)
    vectors = {n: zoo.task_embedding(n).vector for n in "abc"}
    found = zoo.similar_tasks("a", k=5)
    assert [r["task"] for r in found] == sorted("bc", key=lambda n: d_sym(vectors["a"], vectors[n]))
    assert found[0]["distance"] == pytest.approx(d_sym(vectors["a"], vectors[found[0]["task"]]))
    assert len(zoo.similar_tasks("a", k=1)) == 1
    result = zoo.distance("a", "b")
    assert result["d_sym"] == pytest.approx(d_sym(vectors["a"], vectors["b"]))
    asym = zoo.similar_tasks("a", k=5, asymmetric=True)
    assert {r["task"] for r in asym} == {"b", "c"} and asym[0]["distance"] <= asym[1]["distance"]


def test_errors_leave_registry_unchanged(zoo, tmp_path, probe_file, random_probe_file, task_folder):
    spec = f"file:{probe_file}"
    with pytest.raises(InvalidInput):
        zoo.embed_task(tmp_path / "missing", "x", probe=spec, progress=False)
    single = tmp_path / "single"
    (single / "only").mkdir(parents=True)
    task_folder(tmp_path / "tmp")
    for f in (tmp_path / "tmp" / "class0").iterdir():
        f.rename(single / "only" / f.name)
    with pytest.raises(InvalidInput, match="single class"):
        zoo.embed_task(single, "x", probe=spec, progress=False)
    with pytest.raises(InvalidInput, match="allow_random=True"):
        zoo.embed_task(task_folder(tmp_path / "ok"), "x", probe=f"file:{random_probe_file}", progress=False)
    with pytest.raises(InvalidInput, match="unknown network source"):
        zoo.embed_task(tmp_path / "ok", "x", probe="nonsense", progress=False)
    assert zoo.store.list_tasks() == [] and zoo.store.list_probes() == []
    with pytest.raises(NotFound):
        zoo.similar_tasks("x")


def test_embed_does_not_store(zoo, tmp_path, probe_file, task_folder):
    e = zoo.embed(task_folder(tmp_path / "t"), probe=f"file:{probe_file}", progress=False)
    assert e.vector.shape[0] == e.probe.embedding_length
    assert zoo.store.list_tasks() == []


def test_a_probe_clash_leaves_no_new_task_behind(zoo, tmp_path, probe_file, task_folder):
    """The task, the probe and the embedding are written in one transaction: a clash on the probe adds nothing."""
    from registry.errors import ProbeMismatch

    name = str(zoo.resolve_probe(f"file:{probe_file}"))
    info = zoo.resolve_probe(f"file:{probe_file}").info
    zoo.store.ensure_probe(
        name, arch=info.arch, weights_checksum="0" * 64, embedding_length=info.embedding_length, layers=info.layers
    )
    with pytest.raises(ProbeMismatch):
        zoo.embed_task(task_folder(tmp_path / "birds"), "birds", probe=f"file:{probe_file}", progress=False)
    with pytest.raises(NotFound):
        zoo.store.get_task("birds")
    assert zoo.store.list_task_embeddings() == []
