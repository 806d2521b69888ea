"""The same jobs on a Ray cluster (a head and a worker node on this machine) against PostgreSQL.

The cluster is started once per session (``ray_cluster``); every test passes
its address, and the runner reuses this process's connection to it.
"""

from __future__ import annotations

import threading
import time

import pytest

from registry.errors import InvalidInput
from tests.jobs.conftest import MODELS, TASKS
from tests.jobs.test_plan import rows
from zoo.api.jobs import plan_evaluate, run_units

pytestmark = pytest.mark.postgres
PAIRS = MODELS * TASKS


@pytest.fixture
def second_postgres_url(postgres_server: str):
    """Another fresh PostgreSQL database (the ``postgres_url`` fixture gives one per test)."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from registry.engine import parse_url

    admin_url = parse_url(postgres_server)
    name = f"zoo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_ray_gives_the_rows_of_a_local_run(ray_cluster, fill, postgres_url, second_postgres_url):
    local, remote = fill(postgres_url), fill(second_postgres_url)
    assert run_units(plan_evaluate(local), postgres_url, progress=False)["done"] == PAIRS
    summary = run_units(plan_evaluate(remote), second_postgres_url, ray_address=ray_cluster.address, progress=False)
    assert (summary["runner"], summary["done"], summary["failed"]) == ("ray", PAIRS, 0), summary
    expected, got = rows(local), rows(remote)
    assert [(m, t) for m, t, _ in got] == [(m, t) for m, t, _ in expected]
    assert all(abs(a[2] - b[2]) <= 1e-6 for a, b in zip(got, expected)), (got, expected)
    assert plan_evaluate(remote) == []


def test_two_concurrent_runs_duplicate_nothing(ray_cluster, fill, postgres_url):
    store = fill(postgres_url)
    units = plan_evaluate(store)
    summaries: list[dict] = []
    runs = [
        threading.Thread(
            target=lambda: summaries.append(
                run_units(units, postgres_url, ray_address=ray_cluster.address, progress=False)
            )
        ),
        threading.Thread(target=lambda: summaries.append(run_units(units, postgres_url, progress=False))),
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sum(s["failed"] for s in summaries) == 0, summaries
    assert sum(s["done"] for s in summaries) == PAIRS  # every row written by exactly one of the runs
    assert sum(s["skipped"] for s in summaries) == PAIRS
    got = rows(store)
    assert len(got) == len({(m, t) for m, t, _ in got}) == PAIRS


def test_sqlite_is_refused_on_a_cluster_beyond_this_machine(ray_cluster, fill, sqlite_url, monkeypatch):
    from zoo.api import jobs_ray

    store = fill(sqlite_url)
    units = plan_evaluate(store, "expert0", "task0")
    summary = run_units(units, sqlite_url, ray_address=ray_cluster.address, progress=False)
    assert summary["done"] == 1, summary  # all nodes on this machine: SQLite is fine
    monkeypatch.setattr(jobs_ray, "node_ips", lambda ray: {"127.0.0.1", "10.255.0.7"})
    with pytest.raises(InvalidInput) as err:
        run_units(plan_evaluate(store), sqlite_url, ray_address=ray_cluster.address, progress=False)
    message = str(err.value)
    assert "10.255.0.7" in message and "PostgreSQL" in message and "\n" not in message
    assert len(rows(store)) == 1


def test_a_worker_node_killed_mid_job_still_ends_with_every_row_once(ray_cluster, fill, postgres_url):
    store = fill(postgres_url)
    victim = ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    summaries: list[dict] = []
    run = threading.Thread(
        target=lambda: summaries.append(
            run_units(plan_evaluate(store), postgres_url, ray_address=ray_cluster.address, progress=False)
        )
    )
    run.start()
    deadline = time.monotonic() + 120
    while not rows(store) and time.monotonic() < deadline:
        time.sleep(0.1)
    written_before_kill = len(rows(store))
    ray_cluster.remove_node(victim, allow_graceful=False)
    run.join()
    assert 1 <= written_before_kill < PAIRS  # the kill came mid-job
    [summary] = summaries
    assert summary["failed"] == 0 and summary["done"] + summary["skipped"] == PAIRS, summary
    got = rows(store)
    assert len(got) == len({(m, t) for m, t, _ in got}) == PAIRS
