"""`zoo bench build --size ci`: what it registers, idempotence, SIGKILL then resume."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ZOO = [str(Path(sys.executable).with_name("zoo"))]


def registry_snapshot(url: str) -> dict:
    """Everything a bench build puts in the registry, minus paths and timestamps."""
    from registry.store import Store

    store = Store.open(url, create=False)
    try:
        return {
            "models": {
                m.name: (m.arch, m.checksum, m.trained_on, m.num_params, tuple(sorted(m.tags.items())))
                for m in store.list_models()
            },
            "tasks": {t.name: (t.fingerprint, t.taxonomy, t.num_classes, t.num_samples) for t in store.list_tasks()},
            "embeddings": {(e.task, e.method): np.asarray(e.vector) for e in store.list_task_embeddings()},
            "transfer": {
                (r.model, r.task): (r.value, r.protocol, r.train_size, r.test_size)
                for r in store.list_transfer_results()
            },
            "transfer_rows": len(store.list_transfer_results()),
            "model2vec_runs": (
                store.counts()["model2vec_runs"],
                [(run.probe, run.method, tuple(run.hyperparams["excluded_tasks"])) for run in _runs(store)],
            ),
        }
    finally:
        store.close()


def assert_same_build(got: dict, want: dict) -> None:
    """Two :func:`registry_snapshot` of builds agree: the same transfer rows (values to 1e-6), embeddings (1e-4
    relative) and Model2Vec runs."""
    assert got["transfer_rows"] == want["transfer_rows"] and set(got["transfer"]) == set(want["transfer"])
    for key, value in want["transfer"].items():
        assert got["transfer"][key][1:] == value[1:]
        assert got["transfer"][key][0] == pytest.approx(value[0], abs=1e-6)
    assert set(got["embeddings"]) == set(want["embeddings"])
    for key, vector in want["embeddings"].items():
        np.testing.assert_allclose(got["embeddings"][key], vector, rtol=1e-4, atol=1e-8)
    assert got["model2vec_runs"] == want["model2vec_runs"]


def test_ci_build_registers_tasks_experts_embeddings_and_every_transfer_pair(ci_bench):
    snap = registry_snapshot(ci_bench["url"])
    summary = ci_bench["summary"]
    sets = __import__("json").loads((ci_bench["workdir"] / "sets.json").read_text())
    measured = sets["expert"] + sets["heldout"]
    assert len(snap["models"]) == summary["experts"] >= 3
    assert len({m[0] for m in snap["models"].values()}) >= 2
    assert all(m[3] > 10_000 for m in snap["models"].values())  # parameter counts recorded
    umask = os.umask(0)
    os.umask(umask)
    weights = sorted((ci_bench["workdir"] / "experts").glob("*.safetensors"))
    assert len(weights) == summary["experts"]  # readable by a teammate or a Ray worker, as any new file is
    assert {w.stat().st_mode & 0o777 for w in weights} == {0o666 & ~umask}
    assert set(measured) <= set(snap["tasks"])
    # every expert on every expert and held-out task, exactly once
    assert snap["transfer_rows"] == summary["experts"] * len(measured) == len(snap["transfer"])
    assert {task for _, task in snap["transfer"]} == set(measured)
    values = np.array([v[0] for v in snap["transfer"].values()])
    assert ((values >= 0) & (values <= 1)).all() and values.std() > 0
    from zoo.bench.sizes import SIZES

    for task in snap["tasks"]:
        for method in SIZES["ci"].embed_methods:
            assert (task, method) in snap["embeddings"]
    # held-out tasks never trained an expert
    assert not set(sets["heldout"]) & {m[2] for m in snap["models"].values()}


def _runs(store) -> list:
    from registry.errors import NotFound

    runs = []
    for probe in store.list_probes():
        try:
            runs.append(store.latest_model2vec_run(probe.name, "montecarlo"))
        except NotFound:
            pass
    return runs


def test_ci_build_trains_model2vec_without_the_heldout_tasks(ci_bench):
    import json

    from registry.store import Store

    heldout = set(json.loads((ci_bench["workdir"] / "sets.json").read_text())["heldout"])
    store = Store.open(ci_bench["url"], create=False)
    try:
        (run,) = _runs(store)
        excluded = set(run.hyperparams["excluded_tasks"])
        assert excluded and excluded <= heldout
        assert not excluded & set(run.metrics.get("val_tasks", []))
        assert not excluded & set(run.metrics.get("train_tasks", []))
    finally:
        store.close()


def test_rerunning_a_finished_build_changes_nothing(ci_bench):
    from registry.store import Store
    from zoo.api import Zoo

    def embedded_at() -> dict:
        """When each current embedding was written: a rerun that embedded again would replace the rows."""
        with Store.open(ci_bench["url"]) as store:
            return {(e.task, e.probe, e.method): e.created_at for e in store.list_task_embeddings()}

    before, written = registry_snapshot(ci_bench["url"]), embedded_at()
    work = ci_bench["workdir"]
    stamps = {p: p.stat().st_mtime_ns for p in list(work.glob("experts/*")) + list(work.glob("tasks/*/task.json"))}
    with Zoo.open(ci_bench["url"]) as z:
        z.bench_build("ci", work, progress=False, log=lambda msg: None)
    after = registry_snapshot(ci_bench["url"])
    assert embedded_at() == written
    assert_same_build(after, before)
    assert after["transfer_rows"] == before["transfer_rows"]
    assert after["models"] == before["models"] and after["tasks"] == before["tasks"]
    assert after["model2vec_runs"] == before["model2vec_runs"]
    assert set(after["embeddings"]) == set(before["embeddings"])
    # nothing was rendered or trained again
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


@pytest.mark.slow
def test_sigkill_mid_build_then_rerun_ends_with_the_same_registry(ci_bench, tmp_path):
    work = tmp_path / "work"
    # rendering is deterministic (tested in tests/collections); reuse it to keep this test short
    shutil.copytree(ci_bench["workdir"] / "tasks", work / "tasks", ignore=shutil.ignore_patterns("union-*"))
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    command = ZOO + ["--db", url, "bench", "build", "--size", "ci", "--workdir", str(work), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if len(list((work / "experts").glob("*.safetensors"))) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, f"the build ended before it could be killed: {process.stderr.read()[-500:]}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-1000:]
    got, want = registry_snapshot(url), registry_snapshot(ci_bench["url"])
    assert got["models"] == want["models"]
    assert got["tasks"] == want["tasks"]
    assert_same_build(got, want)


def test_sequential_build_ends_with_the_registry_the_overlapped_one_made(ci_bench, tmp_path):
    """Transfer runs in a thread beside the embedding by default; one after the other gives the same rows."""
    from zoo.api import Zoo

    work = tmp_path / "work"
    shutil.copytree(ci_bench["workdir"], work, ignore=shutil.ignore_patterns("build-log.jsonl"))
    url = f"sqlite:///{tmp_path / 'sequential.db'}"
    with Zoo.open(url) as z:
        summary = z.bench_build("ci", work, progress=False, log=lambda msg: None, overlap=False)
    assert summary["overlap"] is False
    got, want = registry_snapshot(url), registry_snapshot(ci_bench["url"])
    assert got["models"] == want["models"] and got["tasks"] == want["tasks"]
    assert got["transfer_rows"] == want["transfer_rows"] and set(got["transfer"]) == set(want["transfer"])
    for key, value in want["transfer"].items():
        assert got["transfer"][key][0] == pytest.approx(value[0], abs=1e-6)
    assert set(got["embeddings"]) == set(want["embeddings"])
    for key, vector in want["embeddings"].items():
        np.testing.assert_allclose(got["embeddings"][key], vector, rtol=1e-4, atol=1e-8)


@pytest.mark.slow
def test_sigkill_while_embedding_and_transfer_overlap_then_rerun_ends_with_the_same_registry(ci_bench, tmp_path):
    """Killed while the transfer thread measures beside the embedding: the rerun finishes both, no duplicates."""
    import sqlite3

    work = tmp_path / "work"
    # tasks and expert weights from the built bench, so the build goes straight to the overlapped stages
    shutil.copytree(ci_bench["workdir"], work, ignore=shutil.ignore_patterns("build-log.jsonl"))
    db = tmp_path / "killed.db"
    url = f"sqlite:///{db}"
    command = ZOO + ["--db", url, "bench", "build", "--size", "ci", "--workdir", str(work), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    want = registry_snapshot(ci_bench["url"])
    deadline, seen = time.time() + 120, (0, 0)
    while time.time() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(db, timeout=1) as con:
                seen = (
                    con.execute("SELECT COUNT(*) FROM transfer_results").fetchone()[0],
                    con.execute("SELECT COUNT(*) FROM task_embeddings").fetchone()[0],
                )
        except sqlite3.Error:
            seen = (0, 0)  # the schema is not there yet
        if seen[0] >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, f"the build ended before it could be killed: {process.stderr.read()[-500:]}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    # killed mid-transfer with the embedding unfinished: both stages were in flight
    assert 1 <= seen[0] < want["transfer_rows"] and seen[1] < len(want["embeddings"]), seen
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-1000:]
    got = registry_snapshot(url)
    assert got["transfer_rows"] == want["transfer_rows"] and set(got["transfer"]) == set(want["transfer"])
    for key, value in want["transfer"].items():
        assert got["transfer"][key][0] == pytest.approx(value[0], abs=1e-6)
    assert set(got["embeddings"]) == set(want["embeddings"])
    assert got["model2vec_runs"] == want["model2vec_runs"]


def test_an_embedding_by_another_probe_does_not_count_as_done(tmp_path):
    """A rebuild with another probe (--train-probe) into the same registry embeds every task again: the build
    looks up a task's embedding by the probe its source names, not by method alone."""
    from registry.store import Store
    from zoo.api import Zoo
    from zoo.api.bench_build import BenchRegistry
    from zoo.bench.sizes import get_size

    url = f"sqlite:///{tmp_path / 'z.db'}"
    with Zoo.open(url) as z:
        z.store.add_task("t", data_uri=str(tmp_path), num_classes=2, num_samples=4, fingerprint="f" * 64)
        z.store.ensure_probe("other", arch="resnet18", weights_checksum="c" * 64, embedding_length=3, layers=["x"])
        z.store.put_task_embedding(
            "t", "other", "montecarlo", np.ones(3), sample_count=4, seed=0, params={}, package_version="t"
        )
        registry = BenchRegistry(z.store, z.embeddings, get_size("ci"))
        assert registry._embedded("t", "other", "montecarlo")  # a registered probe's name names itself
        assert not registry._embedded("t", "bundled", "montecarlo")  # the bundled probe has none here
    with Store.open(url) as store:
        assert [e.probe for e in store.list_task_embeddings(task="t")] == ["other"]


@pytest.mark.parametrize("killed_at", ["weights", "record"])
def test_a_kill_between_an_experts_two_files_never_leaves_old_weights_beside_a_new_record(
    ci_bench, tmp_path, monkeypatch, killed_at
):
    """train_expert replaces weights and sidecar; the sidecar is what a resumed build trusts, so it goes last: a
    kill after the weights are renamed leaves no record (the expert is trained again), not the old weights under
    a record of the new training."""
    import dataclasses
    import json

    import zoo.bench.experts as experts
    import zoo.bench.training

    work = ci_bench["workdir"]
    old = sorted((work / "experts").glob("*.safetensors"))[0]
    record = json.loads(old.with_suffix(".json").read_text())
    shutil.copy(old, tmp_path / old.name)
    shutil.copy(old.with_suffix(".json"), tmp_path / old.with_suffix(".json").name)
    spec = experts.ExpertSpec(
        old.stem, record["arch"], record["init"], tuple(record["tasks"]), record["trained_on"], record["steps"]
    )
    from zoo.bench.probe import BUNDLED_DIR

    job = experts.ExpertJob(work / "tasks", tmp_path, BUNDLED_DIR / "probe.safetensors", record["batch_size"])
    job = dataclasses.replace(job, seed=record["seed"] - experts.expert_seed(spec, 0))
    assert experts.trained_as(spec, job)  # the copied pair is this very training
    other = dataclasses.replace(job, seed=job.seed + 1)  # a build with another seed trains it again

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo.bench.training, "train_classifier", lambda *a, **k: {"steps": 0, "final_loss": None})
    if killed_at == "weights":  # while the new weights are renamed into place
        monkeypatch.setattr(experts, "publish", killed)
    else:  # while the new record is written
        monkeypatch.setattr(experts, "write_json_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        experts.ensure_expert(spec, other, progress=False)
    # neither training is trusted: the next build trains the expert again
    assert not experts.trained_as(spec, other) and not experts.trained_as(spec, job)
    assert (tmp_path / old.name).is_file()
