"""zoo embed-task / distance / tasks similar through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from zoo.cli import main


@pytest.fixture
def invoke(sqlite_url):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--db", sqlite_url, *map(str, args)])

    return run


def test_embed_task_similar_distance(invoke, sqlite_url, tmp_path, random_probe_file, task_folder):
    probe = ["--probe", f"file:{random_probe_file}", "--allow-random-probe", "--quiet"]
    for name, seed in (("a", 0), ("b", 1), ("c", 2)):
        result = invoke("embed-task", name, "--data", task_folder(tmp_path / name, seed=seed), *probe, "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["task"] == name and summary["length"] > 0 and summary["norm"] > 0
    text = invoke("embed-task", "a", *probe)
    assert text.exit_code == 0 and "norm" in text.output
    similar = invoke("tasks", "similar", "a", "-k", "1", "--json")
    assert similar.exit_code == 0, similar.output
    assert len(json.loads(similar.stdout)) == 1
    assert invoke("tasks", "similar", "a", "--asymmetric").exit_code == 0
    dist = invoke("distance", "a", "b", "--json")
    assert dist.exit_code == 0, dist.output
    from registry.store import Store
    from zoo.embedding.distance import d_sym

    with Store.open(sqlite_url) as store:  # the distance of the two stored embeddings, and not of another pair
        vectors = {e.task: e.vector for e in store.list_task_embeddings()}
    assert json.loads(dist.stdout)["d_sym"] == pytest.approx(d_sym(vectors["a"], vectors["b"]), rel=1e-6)
    assert json.loads(dist.stdout)["d_sym"] != pytest.approx(d_sym(vectors["a"], vectors["c"]), rel=1e-6)
    assert "d_sym(a, b)" in invoke("distance", "a", "b").output


def test_bad_input_is_one_line_and_nonzero(invoke, tmp_path, random_probe_file, task_folder, assert_one_line_error):
    result = invoke(
        "embed-task",
        "x",
        "--data",
        tmp_path / "missing",
        "--probe",
        f"file:{random_probe_file}",
        "--allow-random-probe",
    )
    assert_one_line_error(result, 2)
    refused = invoke("embed-task", "x", "--data", task_folder(tmp_path / "t"), "--probe", f"file:{random_probe_file}")
    assert refused.exit_code == 2 and "--allow-random-probe" in refused.output
    assert invoke("distance", "x", "y").exit_code != 0
    assert json.loads(invoke("tasks", "list", "--json").stdout) == []


@pytest.mark.parametrize("args", [["embed-task"], ["distance"], ["tasks", "similar"]])
def test_help_has_example(args, assert_help_has_example):
    assert_help_has_example(*args)
