"""Shared fixtures: registry databases on SQLite and on PostgreSQL.

``sqlite_url``   a fresh SQLite file per test.
``postgres_url`` a fresh PostgreSQL database per test, on the server named by
                 ``$ZOO_TEST_POSTGRES_URL`` (any database on it; we create our
                 own next to it), else on a throwaway cluster started here on
                 127.0.0.1 with the Debian ``initdb``/``pg_ctl`` (as the
                 ``postgres`` user when running as root) and stopped at the end.
                 Without PostgreSQL the test is skipped, except when ``$CI``
                 is set: there it fails, so CI never skips PostgreSQL.
``store_url``    parametrized over both backends (ids ``sqlite`` and ``postgresql``).
``store``        a :class:`registry.store.Store` opened (and created) on ``store_url``.
``ci_bench``     session: one ``ci`` bench built locally on SQLite (torch on 1 thread),
                 shared by tests/bench and the Ray build test of tests/jobs:
                 {"url", "workdir", "summary"}.

Shared checks of the command line (click ``Result``s), one definition each:

``assert_one_line_error(result, code=None, *fragments)``  the command failed
                 (exit ``code``, or any non-zero one) with exactly one line of
                 output, on stderr, starting ``Error: `` and containing every
                 fragment.
``assert_help_has_example(*args)``  ``zoo ARGS --help`` exits 0 and has an
                 ``Example:`` block that shows a ``zoo ...`` call.

Every test also runs without ``$ZOO_DATABASE_URL`` and with ``$XDG_DATA_HOME`` and
``$XDG_CACHE_HOME`` in temporary directories, so nothing reaches the user's real
registry or cache.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ENV = "ZOO_TEST_POSTGRES_URL"

# pytest puts tests/ on sys.path, where tests/registry/ (no __init__.py) would
# be found as a namespace package "registry" ahead of the editable install's
# finder. The source root holds the real package, and a regular package wins.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
        self.bin = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="zoo-test-pg-"))
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-500:]}")

    def start(self) -> str:
        data = str(self.dir / "data")
        self._run(str(self.bin / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            data,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F",
            "start",
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _no_real_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same for the whole session: session and module fixtures (a bench build) run before any test's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("ZOO_DATABASE_URL", raising=False)
        patch.setenv("ZOO_NO_SEED", "1")
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data-session")))
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache-session")))
        yield


@pytest.fixture(autouse=True)
def _no_real_registry(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's registry or cache: the default database and the cache move to temp dirs."""
    monkeypatch.delenv("ZOO_DATABASE_URL", raising=False)
    monkeypatch.setenv("ZOO_NO_SEED", "1")  # the default registry starts empty in tests (tests/firsthour seeds it)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server for tests, or "unavailable: WHY"."""
    url = os.environ.get(PG_ENV)
    if url:
        yield url
        return
    cluster = None
    try:
        cluster = _Cluster()
        admin = cluster.start()
    except (RuntimeError, OSError, LookupError, subprocess.TimeoutExpired) as err:
        if cluster is not None:
            cluster.stop()
        yield f"unavailable: {err}"
        return
    try:
        yield admin
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    if postgres_server.startswith("unavailable: "):
        _unavailable(postgres_server[len("unavailable: ") :])
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from registry.engine import parse_url

    admin_url = parse_url(postgres_server)
    name = f"zoo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # server gone, no rights...
        admin.dispose()
        _unavailable(f"cannot create a database on {admin_url.render_as_string()}: {err}")
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file URL in a fresh temporary directory (the file does not exist yet)."""
    return f"sqlite:///{tmp_path / 'zoo.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """An empty registry database URL, once on SQLite and once on PostgreSQL."""
    fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param]
    return request.getfixturevalue(fixture)


@pytest.fixture
def store(store_url: str):
    """A :class:`registry.store.Store` on a freshly created registry (both backends)."""
    from registry.store import Store

    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _assert_one_line_error(result, code: int | None = None, *fragments: str) -> None:
    """A failed command: exit ``code`` (any non-zero one when None), one line on stderr, nothing else."""
    if code is None:
        assert result.exit_code != 0, result.output
    else:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.output.strip() == lines[0], f"more than the error line was printed: {result.output!r}"
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _assert_help_has_example(*args: str) -> None:
    """``zoo ARGS --help`` exits 0 and shows an ``Example:`` block with a ``zoo ...`` call."""
    from click.testing import CliRunner

    from zoo.cli import main

    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, (args, result.output)
    assert "Example:" in result.output, f"`zoo {' '.join(args)} --help` has no Example block"
    assert "zoo " in result.output.split("Example:", 1)[1], f"`zoo {' '.join(args)} --help`'s example shows no call"


@pytest.fixture
def assert_one_line_error():
    """The check that a command failed with one line on stderr (see the module docstring)."""
    return _assert_one_line_error


@pytest.fixture
def assert_help_has_example():
    """The check that a command's --help has an example (see the module docstring)."""
    return _assert_help_has_example


@pytest.fixture(scope="session")
def ci_bench(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A built ci bench: {"url", "workdir", "summary"} (see the module docstring)."""
    import torch

    from zoo.api import Zoo

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ci-bench")
    url = f"sqlite:///{root / 'bench.db'}"
    with Zoo.open(url) as z:
        summary = z.bench_build("ci", root / "work", progress=False, log=lambda msg: None)
    return {"url": url, "workdir": Path(root / "work"), "summary": summary}
