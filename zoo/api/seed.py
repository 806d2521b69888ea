"""The default registry starts as the shipped zoo.

The first time the default registry is opened (no ``url``, no
``$ZOO_DATABASE_URL``) and its file does not exist yet, it is created from
``zoo/assets/zoo.jsonl.gz`` (48 experts without weights, the bench's tasks,
their embeddings, the transfer results and the Model2Vec run), and one line on
stderr says so. So ``zoo recommend --task DIR`` works right after install.

- A registry named explicitly (``url``, ``--db``, ``$ZOO_DATABASE_URL``) is
  never seeded: ``--db sqlite:///empty.db`` is an empty registry.
- ``$ZOO_NO_SEED=1`` leaves the default registry empty too.
- Seeding is atomic: the registry is built in a temporary file next to the
  default one and renamed into place, under a file lock, so two first uses at
  once import the shipped zoo once and neither sees half a registry.
- A seeding killed outright (SIGTERM, SIGKILL, a power cut) leaves its temporary
  file ``.zoo.db.seed-<pid>.tmp`` (and its ``-wal``, ``-shm``) behind; the next
  seeding removes, under the lock, every such file whose process is gone (never a
  live process's).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: set to 1 (or true/yes) to leave the default registry empty on first use
NO_SEED_VARIABLE = "ZOO_NO_SEED"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seeding_wanted() -> bool:
    """Whether opening the default registry may seed it (no ``$ZOO_DATABASE_URL``, no ``$ZOO_NO_SEED``)."""
    from registry.engine import ENV_VAR

    if os.environ.get(ENV_VAR):
        return False
    return os.environ.get(NO_SEED_VARIABLE, "").strip().lower() not in ("1", "true", "yes", "on")


def shipped_zoo() -> Path:
    """The shipped zoo's export file (``zoo import --shipped``); InvalidInput when the install lacks it."""
    from registry.errors import InvalidInput
    from zoo.demo import SHIPPED_ZOO

    if not SHIPPED_ZOO.is_file():
        raise InvalidInput(f"the shipped zoo {SHIPPED_ZOO} is missing; reinstall zoo from a full checkout")
    return SHIPPED_ZOO


def seed_default_registry(*, log: Callable[[str], None] = _stderr) -> dict[str, int] | None:
    """Create the default registry from the shipped zoo if it does not exist yet; the import counts, or None.

    None when nothing was done: seeding is not wanted, the file exists, or
    the shipped zoo is missing (a checkout without assets opens empty).
    """
    from registry.engine import default_sqlite_path
    from zoo.demo import SHIPPED_ZOO

    path = default_sqlite_path()
    if not seeding_wanted() or path.exists() or not SHIPPED_ZOO.is_file():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path.with_name(f".{path.name}.seed.lock")):
        if path.exists():  # another process seeded it while this one waited
            return None
        _remove_stale_seeds(path)
        counts = _build(path, SHIPPED_ZOO)
    log(
        f"Created the default registry {path} from the shipped zoo ({counts.get('model', 0)} models, "
        f"{counts.get('task', 0)} tasks); set {NO_SEED_VARIABLE}=1 or pass a database URL for an empty one."
    )
    return counts


def _build(path: Path, shipped: Path) -> dict[str, int]:
    """Import ``shipped`` into a temporary SQLite file next to ``path``, then rename it to ``path``."""
    from registry.store import Store

    tmp = path.with_name(f".{path.name}.seed-{os.getpid()}.tmp")
    leftovers = [tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")]
    try:
        for stale in leftovers:
            stale.unlink(missing_ok=True)
        with Store.open(f"sqlite:///{tmp}", create=True) as store:
            counts = store.import_jsonl(shipped)
        os.replace(tmp, path)
    finally:
        for stale in leftovers:
            stale.unlink(missing_ok=True)
    return counts


def _remove_stale_seeds(path: Path) -> list[Path]:
    """Remove the temporary files of seedings of ``path`` whose process is gone; returns what was removed.

    A seeding killed before its ``finally`` ran (SIGTERM, SIGKILL) leaves ``.NAME.seed-<pid>.tmp`` and its
    ``-wal``/``-shm`` files beside the registry; a live process's files are kept.
    """
    prefix = f".{path.name}.seed-"
    removed = []
    for candidate in path.parent.glob(f"{prefix}*.tmp*"):
        pid_text, dot, suffix = candidate.name[len(prefix) :].partition(".tmp")
        if not dot or suffix not in ("", "-wal", "-shm", "-journal") or not pid_text.isdigit():
            continue
        if _alive(int(pid_text)):
            continue
        try:
            candidate.unlink()
        except FileNotFoundError:
            continue
        removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (``os.kill(pid, 0)``); True when that cannot be told (not POSIX)."""
    if pid == os.getpid():
        return True
    if os.name != "posix" or pid <= 0:
        return True  # Windows' os.kill(pid, 0) would send CTRL_C_EVENT; keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (flock where there is one, else a lock file made with O_EXCL)."""
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None
    if fcntl is not None:
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    import time

    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            time.sleep(0.2)
    try:
        yield
    finally:
        os.close(fd)
        os.unlink(path)
