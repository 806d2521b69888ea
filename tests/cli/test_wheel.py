"""The built wheel carries the migrations: `zoo db upgrade` works outside the source tree."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_and_upgrades_a_database_outside_the_source_tree(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "cwd"
    elsewhere.mkdir()
    # Without setuptools in this environment (Python 3.12+ venvs), let pip fetch it.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = wheels.glob("zoo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "migrations/env.py" in names and "migrations/script.py.mako" in names
    assert any(n.startswith("migrations/versions/0001") for n in names)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if k != "ZOO_DATABASE_URL"}
    env["PYTHONPATH"] = str(target)

    def zoo(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", "from zoo.cli import main; main()", "--db", "sqlite:///x.db", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=elsewhere,
            env=env,
        )

    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import migrations, registry; print(list(migrations.__path__)[0]); print(registry.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert where.returncode == 0 and len(where.stdout.split()) == 2, where.stderr
    assert all(line.startswith(str(target)) for line in where.stdout.split()), where.stdout
    upgraded = zoo("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (elsewhere / "x.db").exists()
    current = zoo("db", "current", "--json")
    assert current.returncode == 0, current.stderr
    from registry.schema import head_revision

    shown = json.loads(current.stdout)
    assert shown["revision"] == shown["head"] == head_revision()
