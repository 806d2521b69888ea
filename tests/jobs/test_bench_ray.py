"""``bench build`` on Ray: the experts, embedding and transfer stages as units give the registry of a local build.

The local build is the session's ``ci_bench`` (torch on 1 thread); the Ray build runs on the session's
``ray_cluster`` (a head and a worker node on this machine, so a SQLite registry is allowed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from registry.errors import InvalidInput
from tests.bench.test_build import assert_same_build, registry_snapshot


def _built(url: str, work: Path, **kwargs) -> dict:
    from zoo.api import Zoo

    with Zoo.open(url) as z:
        return z.bench_build("ci", work, progress=False, log=lambda msg: None, **kwargs)


def test_bench_build_on_ray_gives_the_registry_of_a_local_build(ray_cluster, ci_bench, tmp_path):
    url, work = f"sqlite:///{tmp_path / 'ray.db'}", tmp_path / "work"
    summary = _built(url, work, ray_address=ray_cluster.address)
    stages, local = summary["ray"]["stages"], ci_bench["summary"]
    assert summary["ray"]["runner"] == "ray" and summary["ray"]["failed"] == 0, summary["ray"]
    assert (stages["experts"]["units"], stages["experts"]["done"]) == (local["experts"],) * 2
    assert stages["transfer"]["done"] == stages["transfer"]["units"] == local["transfer_pairs"]
    assert stages["embed"]["done"] == stages["embed"]["units"] > 0
    got, want = registry_snapshot(url), registry_snapshot(ci_bench["url"])
    # the same tasks, and the same experts: the same checksum is bit-identical weights (1 torch thread both ways)
    assert got["tasks"] == want["tasks"] and got["models"] == want["models"]
    for name in want["models"]:
        assert (work / "experts" / f"{name}.safetensors").read_bytes() == (
            ci_bench["workdir"] / "experts" / f"{name}.safetensors"
        ).read_bytes()
    assert_same_build(got, want)

    # a rerun: every expert's file matches, so nothing is trained, embedded or measured again
    stamps = {p: p.stat().st_mtime_ns for p in work.glob("experts/*")}
    again = _built(url, work, ray_address=ray_cluster.address)["ray"]
    assert (again["done"], again["failed"], again["skipped"]) == (0, 0, local["experts"]), again
    assert again["stages"]["embed"]["units"] == again["stages"]["transfer"]["units"] == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert registry_snapshot(url)["transfer_rows"] == want["transfer_rows"]


def test_an_expert_file_from_another_training_is_trained_again(ci_bench, tmp_path):
    from zoo.bench.experts import ExpertJob, ExpertSpec, ensure_expert, trained_as

    expert_dir = tmp_path / "experts"
    shutil.copytree(ci_bench["workdir"] / "experts", expert_dir)
    sidecar = next(expert_dir.glob("expert-*.json"))
    record = json.loads(sidecar.read_text())
    spec = ExpertSpec(
        sidecar.stem,
        record["arch"],
        record["init"],
        tuple(record["tasks"]),
        record["trained_on"],
        record["steps"],
        {},
    )
    from zoo.bench.probe import BUNDLED_DIR

    job = ExpertJob(ci_bench["workdir"] / "tasks", expert_dir, BUNDLED_DIR / "probe.safetensors", record["batch_size"])
    assert trained_as(spec, job)
    path = job.weights(spec)
    before = path.read_bytes()
    assert ensure_expert(spec, job, progress=False) == (path, False)  # matches: kept, not trained
    sidecar.write_text(json.dumps({**record, "seed": record["seed"] + 1}))
    assert not trained_as(spec, job)
    assert ensure_expert(spec, job, progress=False) == (path, True)  # another seed: trained again, replaced
    assert path.read_bytes() == before and trained_as(spec, job)  # seed 0 again gives the same weights


def test_a_node_that_does_not_see_the_workdir_fails_its_unit_in_one_line(tmp_path, sqlite_url):
    from zoo.api.jobs import run_units
    from zoo.api.jobs_bench import TrainExpertUnit, _raise_failed
    from zoo.bench.experts import ExpertSpec

    spec = ExpertSpec("expert-x", "lcnet_050", "scratch", ("some-task",), "some-task", 2, {})
    elsewhere = tmp_path / "not-mounted-here"
    unit = TrainExpertUnit(spec, str(elsewhere / "tasks"), str(elsewhere / "experts"), str(elsewhere / "p"), 8)
    from zoo.api import Zoo

    Zoo.open(sqlite_url).close()
    summary = run_units([unit], sqlite_url, progress=False)
    assert summary["failed"] == 1 and summary["errors"][0]["unit"]["kind"] == "train-expert"
    message = summary["errors"][0]["error"]
    assert "\n" not in message and "some-task/task.json is not there on node" in message
    assert "every Ray node mounts at the same path" in message
    assert not (elsewhere / "experts").exists()
    with pytest.raises(InvalidInput) as raised:  # what the build raises after the stage: one line, naming the expert
        _raise_failed("experts", summary)
    line = str(raised.value)
    assert "\n" not in line and "1 of 1 experts units failed on Ray (first: expert-x: " in line
    with pytest.raises(InvalidInput, match="relative"):
        TrainExpertUnit(spec, "work/tasks", str(elsewhere / "experts"), str(elsewhere / "p"), 8)
