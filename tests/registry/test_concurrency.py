"""Concurrent writers: 8 processes x 100 registrations end with exactly 800 models.

The processes also race to create the registry in an empty database, so the
migration lock is exercised too. Nothing like "database is locked" may reach
the caller.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from registry.store import Store

PROCESSES = 8
MODELS_EACH = 100

_WORKER = textwrap.dedent("""
    import os, sys, time
    from registry.store import Store
    url, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    while not os.path.exists(go):
        time.sleep(0.005)
    store = Store.open(url)
    for i in range(count):
        store.add_model(f"w{worker}.m{i:03d}", f"timm:resnet18.w{worker}", tags={"worker": worker})
    store.close()
""")


def _run_writers(url: str, tmp_path: Path) -> list[tuple[int, str]]:
    go = tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(w), str(MODELS_EACH), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for w in range(PROCESSES)
    ]
    time.sleep(0.5)  # let every interpreter start before releasing them together
    go.touch()
    return [(p.wait(timeout=300), p.stdout.read()) for p in procs]


@pytest.mark.slow
def test_eight_processes_register_800_models_without_lock_errors(store_url, tmp_path):
    outcomes = _run_writers(store_url, tmp_path)
    for code, output in outcomes:
        assert "locked" not in output.lower(), output
        assert code == 0, output
    with Store.open(store_url, create=False) as store:
        models = store.list_models()
        assert len(models) == PROCESSES * MODELS_EACH
        assert len({m.name for m in models}) == PROCESSES * MODELS_EACH
        assert sum(len(m.tags) for m in models) == PROCESSES * MODELS_EACH
        assert store.revision_token("models").startswith(f"{PROCESSES * MODELS_EACH}-")
