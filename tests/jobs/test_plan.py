"""Planning and the local runner: what is missing gets done once, a rerun does nothing, Ray stays optional."""

from __future__ import annotations

import sys
import threading

import pytest

from registry.errors import InvalidInput
from tests.jobs.conftest import MODELS, TASKS
from zoo.api.jobs import EvaluateUnit, plan_embed, plan_evaluate, run_units
from zoo.transfer import PROTOCOL


def rows(store) -> list[tuple[str, str, float]]:
    return sorted((r.model, r.task, r.value) for r in store.list_transfer_results(protocol=PROTOCOL))


def test_plan_evaluate_lists_the_missing_pairs(fill, sqlite_url):
    store = fill(sqlite_url)
    store.add_transfer_result(
        "expert0", "task0", metric="error", value=0.5, protocol=PROTOCOL, protocol_params={}, train_size=9, test_size=12
    )
    store.add_transfer_result(
        "expert1",
        "task0",
        metric="error",
        value=0.5,
        protocol="another-protocol",
        protocol_params={},
        train_size=9,
        test_size=12,
    )
    units = plan_evaluate(store)
    assert len(units) == MODELS * TASKS - 1
    assert ("expert0", "task0") not in {(u.model, u.task) for u in units}
    assert all(u.protocol == PROTOCOL and u.source.startswith("file:") for u in units)
    assert [(u.model, u.task) for u in plan_evaluate(store, "expert1", "task[12]")] == [
        ("expert1", "task1"),
        ("expert1", "task2"),
    ]
    store.add_model("tagged", "timm:resnet18", tags={"family": "x"})
    assert {u.model for u in plan_evaluate(store, tags={"family": "x"})} == {"tagged"}


def test_local_run_fills_the_matrix_once_and_resumes(fill, store_url):
    store = fill(store_url)
    units = plan_evaluate(store)
    summary = run_units(units, store_url, progress=False)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (MODELS * TASKS, 0, 0), summary
    assert summary["runner"] == "local" and summary["errors"] == []
    filled = rows(store)
    assert len({(m, t) for m, t, _ in filled}) == len(filled) == MODELS * TASKS
    assert all(0.0 <= v <= 1.0 for _, _, v in filled)
    assert plan_evaluate(store) == []  # resumable: nothing left
    again = run_units(units, store_url, progress=False)  # a retried plan skips every unit
    assert (again["done"], again["skipped"]) == (0, MODELS * TASKS)
    assert rows(store) == filled


def test_a_failing_unit_is_reported_and_the_rest_run(fill, sqlite_url):
    store = fill(sqlite_url)
    units = [EvaluateUnit("expert0", "task0", PROTOCOL), EvaluateUnit("nobody", "task0", PROTOCOL)]
    summary = run_units(units, sqlite_url, progress=False)
    assert (summary["done"], summary["failed"]) == (1, 1)
    [error] = summary["errors"]
    assert error["unit"]["model"] == "nobody" and "nobody" in error["error"] and "\n" not in error["error"]
    assert len(rows(store)) == 1


@pytest.mark.postgres
def test_concurrent_writers_of_one_key_leave_one_row(fill, postgres_url):
    from zoo.api.jobs_units import add_transfer_result_once

    store = fill(postgres_url)
    out = {
        "model": "expert0",
        "task": "task0",
        "value": 0.25,
        "protocol": PROTOCOL,
        "protocol_params": {},
        "train_size": 9,
        "test_size": 12,
    }
    barrier, written = threading.Barrier(4), []

    def write() -> None:
        barrier.wait()
        written.append(add_transfer_result_once(store, out))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(written) == [False, False, False, True]
    assert rows(store) == [("expert0", "task0", 0.25)]


def test_plan_embed_and_run(fill, sqlite_url):
    store = fill(sqlite_url)
    units = plan_embed(store, "task*", "bundled", "montecarlo")
    assert [u.task for u in units] == [f"task{j}" for j in range(TASKS)]
    summary = run_units(units[:1], sqlite_url, progress=False)
    assert summary["done"] == 1, summary
    assert [u.task for u in plan_embed(store, "task*", "bundled", "montecarlo")] == ["task1", "task2"]
    assert run_units(units[:1], sqlite_url, progress=False)["skipped"] == 1
    with pytest.raises(InvalidInput, match="method="):
        plan_embed(store, None, "bundled", "nonsense")


def test_without_ray_the_error_names_the_extra(monkeypatch, sqlite_url):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InvalidInput) as err:
        run_units([EvaluateUnit("m", "t", PROTOCOL)], sqlite_url, ray_address="local", progress=False)
    assert "pip install -e '.[ray]'" in str(err.value) and "\n" not in str(err.value)


def test_the_environment_names_the_cluster(monkeypatch, sqlite_url):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setenv("ZOO_RAY_ADDRESS", "auto")
    with pytest.raises(InvalidInput, match=r"install -e '\.\[ray\]'"):
        run_units([], sqlite_url, progress=False)


def test_plan_evaluate_leaves_out_a_task_without_splits_with_one_warning(fill, sqlite_url, tmp_path):
    """A folder saved by recommend --save has class folders but no train/ and test/: no protocol can measure it,
    so evaluate --all leaves it out (it failed every pair, on every rerun)."""
    from tests.embedding.conftest import write_task_folder

    store = fill(sqlite_url)
    plain = write_task_folder(tmp_path / "saved") or tmp_path / "saved"
    store.add_task("saved", data_uri=str(plain), num_classes=3, num_samples=18, fingerprint="f" * 64)
    store.add_task("elsewhere", data_uri=str(tmp_path / "not-here"), num_classes=3, num_samples=18, fingerprint="e")
    with pytest.warns(UserWarning, match=r"left out 1 task\(s\) without train/ and test/ splits.*: saved"):
        units = plan_evaluate(store)
    tasks = {u.task for u in units}
    assert "saved" not in tasks and "elsewhere" in tasks  # a folder not here keeps its units, which say so
    assert len(units) == MODELS * (TASKS + 1)


def test_plan_evaluate_counts_the_pairs_measured_before(fill, sqlite_url):
    store = fill(sqlite_url)
    counts = {}
    assert len(plan_evaluate(store, counts=counts)) == MODELS * TASKS and counts == {"measured": 0}
    store.add_transfer_result(
        "expert0", "task1", metric="error", value=0.5, protocol=PROTOCOL, protocol_params={}, train_size=9, test_size=12
    )
    assert len(plan_evaluate(store, counts=counts)) == MODELS * TASKS - 1 and counts == {"measured": 1}
    assert len(plan_evaluate(store, "expert1", counts=counts)) == TASKS and counts == {"measured": 0}
