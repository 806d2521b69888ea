"""``zoo evaluate --all`` and ``zoo embed-task --all``: locally, on the session's Ray cluster, and without Ray."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from tests.jobs.conftest import MODELS, TASKS
from tests.jobs.test_plan import rows
from zoo.cli import main
from zoo.transfer import PROTOCOL

PAIRS = MODELS * TASKS


def _invoke(url: str, *args: str):
    return CliRunner().invoke(main, ["--db", url, *args])


def test_evaluate_all_fills_the_matrix_and_a_rerun_does_nothing(fill, sqlite_url):
    store = fill(sqlite_url)
    first = _invoke(sqlite_url, "evaluate", "--all", "--quiet", "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["units"], summary["done"], summary["failed"], summary["runner"]) == (PAIRS, PAIRS, 0, "local")
    filled = rows(store)
    assert len({(m, t) for m, t, _ in filled}) == len(filled) == PAIRS
    again = _invoke(sqlite_url, "evaluate", "--all", "--quiet", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["units"] == 0
    assert rows(store) == filled
    text = _invoke(sqlite_url, "evaluate", "--all", "--models", "expert0", "--tasks", "task*", "--device", "cpu")
    assert text.exit_code == 0 and "0 to do" in text.stdout, text.output


def test_a_resumed_evaluate_all_says_what_it_keeps(fill, sqlite_url):
    fill(sqlite_url)
    assert _invoke(sqlite_url, "evaluate", "-m", "expert0", "-t", "task0", "--device", "cpu").exit_code == 0
    resumed = _invoke(sqlite_url, "evaluate", "--all", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert f"evaluate: 1 pair measured before is kept; {PAIRS - 1} left" in resumed.stderr


def test_evaluate_all_filters_and_one_pair_still_works(fill, sqlite_url, assert_one_line_error):
    store = fill(sqlite_url)
    result = _invoke(sqlite_url, "evaluate", "--all", "--models", "expert1", "--tasks", "task[01]", "-q", "--json")
    assert result.exit_code == 0, result.output
    assert sorted((m, t) for m, t, _ in rows(store)) == [("expert1", "task0"), ("expert1", "task1")]
    one = _invoke(sqlite_url, "evaluate", "-m", "expert0", "-t", "task2", "--device", "cpu", "--json")
    assert one.exit_code == 0 and json.loads(one.stdout)["saved"], one.output
    assert_one_line_error(_invoke(sqlite_url, "evaluate", "--all", "-m", "expert0"), None, "--all", "--model")
    assert_one_line_error(_invoke(sqlite_url, "evaluate"), None, "--model MODEL", "--all")
    assert_one_line_error(
        _invoke(sqlite_url, "evaluate", "-m", "expert0", "-t", "task0", "--models", "x"), None, "--all"
    )


def test_embed_task_all_embeds_the_missing_tasks_once(fill, sqlite_url, assert_one_line_error):
    store = fill(sqlite_url)
    args = ("embed-task", "--all", "--tasks", "task[01]", "--method", "montecarlo", "--max-samples", "6", "--quiet")
    result = _invoke(sqlite_url, *args, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["units"], summary["done"], summary["failed"]) == (2, 2, 0), summary
    assert sorted(e.task for e in store.list_task_embeddings(method="montecarlo")) == ["task0", "task1"]
    again = _invoke(sqlite_url, *args)
    assert again.exit_code == 0 and "0 to do" in again.stdout, again.output
    assert_one_line_error(_invoke(sqlite_url, "embed-task", "--all", "task0"), None, "--all")
    assert_one_line_error(_invoke(sqlite_url, "embed-task"), None, "NAME", "--all")


@pytest.mark.parametrize("command", [("evaluate", "--all"), ("embed-task", "--all"), ("bench", "build")])
def test_ray_without_ray_installed_is_one_line_naming_the_extra(
    command, fill, sqlite_url, monkeypatch, assert_one_line_error, tmp_path
):
    fill(sqlite_url)
    monkeypatch.setitem(sys.modules, "ray", None)
    extra = ("--size", "ci", "--workdir", str(tmp_path / "w")) if command[0] == "bench" else ()
    if command[0] == "bench":  # the real Bench.build must refuse before its hour of work: the work itself fails
        import zoo.bench.build

        monkeypatch.setattr(zoo.bench.build, "build", _work_that_must_not_start)
    result = _invoke(sqlite_url, *command, *extra, "--ray", "local", "--quiet")
    assert_one_line_error(result, None, "pip install -e '.[ray]'", "--ray ADDRESS")


def _work_that_must_not_start(*args, **kwargs):
    raise AssertionError("the bench build started without Ray installed")


def test_ray_address_from_the_environment(fill, sqlite_url, monkeypatch, assert_one_line_error):
    fill(sqlite_url)
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setenv("ZOO_RAY_ADDRESS", "auto")
    assert_one_line_error(_invoke(sqlite_url, "evaluate", "--all", "--quiet"), None, "'.[ray]'")
    one = _invoke(sqlite_url, "evaluate", "-m", "expert0", "-t", "task0", "--json")  # one pair ignores it
    assert one.exit_code == 0, one.output


def test_evaluate_all_on_the_session_ray_cluster(ray_cluster, fill, sqlite_url):
    store = fill(sqlite_url)  # every node is on this machine, so a SQLite registry is allowed
    result = _invoke(
        sqlite_url, "evaluate", "--all", "--models", "expert0", "--ray", ray_cluster.address, "-q", "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["runner"], summary["done"], summary["failed"]) == ("ray", TASKS, 0), summary
    assert sorted(t for m, t, _ in rows(store)) == [f"task{j}" for j in range(TASKS)]


def test_bench_build_ray_measures_the_transfer_stage_on_ray(ray_cluster, fill, sqlite_url, monkeypatch, tmp_path):
    """The build's transfer stage goes to Ray: the pairs it would measure become units (the build itself faked)."""
    from zoo.api import bench as api_bench
    from zoo.bench import build as bench_build

    store = fill(sqlite_url)
    store.add_transfer_result(
        "expert0", "task0", metric="error", value=0.5, protocol=PROTOCOL, protocol_params={}, train_size=9, test_size=12
    )

    def fake_build(spec, workdir, registry, **kwargs):
        asked = [
            registry.has_transfer(m, t) for m, t in (("expert0", "task0"), ("expert0", "task1"), ("expert1", "task2"))
        ]
        assert asked == [True, True, True]  # the build measures nothing itself
        return {"size": spec.name, "seconds": {"transfer": 0.0, "total": 1.0}, "transfer_pairs": 3}

    monkeypatch.setattr(bench_build, "build", fake_build)
    monkeypatch.setattr(api_bench.Bench, "_bench_model2vec", lambda self, folder, **kwargs: {})
    result = _invoke(
        sqlite_url,
        "bench",
        "build",
        "--size",
        "ci",
        "--workdir",
        str(tmp_path / "w"),
        "--ray",
        ray_cluster.address,
        "--quiet",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["ray"]["runner"], summary["ray"]["done"], summary["ray"]["failed"]) == ("ray", 2, 0), summary
    assert sorted((m, t) for m, t, _ in rows(store)) == [
        ("expert0", "task0"),
        ("expert0", "task1"),
        ("expert1", "task2"),
    ]


def test_scorer_matrix_on_ray_equals_the_local_one(ray_cluster, fill, sqlite_url):
    from zoo.api import SelectionJudge, Zoo

    fill(sqlite_url)
    with Zoo.open(sqlite_url) as zoo:
        models, tasks = zoo.store.list_models(), ["task0", "task2"]
        local = zoo.judge.scorer_matrix("logme", tasks, models, 6, device="cpu")
        on_ray = SelectionJudge(zoo.store, zoo.probes, ray_address=ray_cluster.address)
        remote = on_ray.scorer_matrix("logme", tasks, models, 6, device="cpu")
    assert remote.shape == local.shape == (2, MODELS)
    assert abs(remote - local).max() <= 1e-9, (remote, local)
