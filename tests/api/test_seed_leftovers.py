"""First-use seeding cleans up after a seeding that was killed outright (SIGTERM, SIGKILL): the temporary files
of dead processes go, a live process's stay."""

from __future__ import annotations

import subprocess
import sys

import pytest

from registry.engine import default_sqlite_path
from zoo.api import seed


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def _leftovers(folder, pid):
    base = folder / f".zoo.db.seed-{pid}.tmp"
    return [base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")]


def test_seeding_removes_a_dead_seedings_temporary_files_and_keeps_a_live_ones(monkeypatch, live_pid):
    monkeypatch.delenv("ZOO_NO_SEED", raising=False)
    path = default_sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    dead = _leftovers(path.parent, _dead_pid())
    live = _leftovers(path.parent, live_pid)
    unrelated = [path.parent / ".zoo.db.seed-notapid.tmp", path.parent / "notes.tmp"]
    for file in dead + live + unrelated:
        file.write_bytes(b"x" * 1024)

    counts = seed.seed_default_registry(log=lambda message: None)

    assert counts and counts["model"] == 48 and path.is_file()
    assert not any(f.exists() for f in dead)
    assert all(f.exists() for f in live + unrelated)


def test_a_process_that_is_gone_is_not_alive_and_this_one_is():
    assert not seed._alive(_dead_pid())
    assert seed._alive(__import__("os").getpid())
