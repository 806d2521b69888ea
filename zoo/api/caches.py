"""What zoo keeps in the user cache directory, how big it is, and clearing it (``zoo cache``).

Every folder here holds values zoo can compute again (at a cost), never the only copy of anything:

- ``scores``: scorer values (LogME, LEEP, ...) of each (expert, task) pair ``bench evaluate`` scored
  (:mod:`zoo.api.scorer_cache`); an entry made by another code version or for files since changed is never
  read again, so the folder only grows;
- ``arrays``: decoded image splits of bench tasks (:mod:`zoo.bench.arrays`);
- ``fold-runs``: the fold runs of a ``train-model2vec`` that was interrupted (:func:`zoo.api.folds.pending_folds`);
  clearing them makes its next try train them again;
- ``index``: FAISS indexes of registries that are not SQLite files (a SQLite registry keeps its indexes beside
  its file); a missing index is rebuilt on the next query, with the default factory.

Bench builds (``<cache>/bench/<size>``) are data, not a cache: listed, never cleared here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: cache kind -> what it holds
KINDS: dict[str, str] = {
    "scores": "scorer values bench evaluate computed",
    "arrays": "decoded image splits of bench tasks",
    "fold-runs": "fold runs of an interrupted train-model2vec",
    "index": "FAISS indexes of registries that are not SQLite files",
}


def cache_root() -> Path:
    """``platformdirs.user_cache_dir("zoo")`` (``$XDG_CACHE_HOME/zoo``, by default ``~/.cache/zoo``)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zoo"))


def cache_folder(kind: str) -> Path:
    """The folder of cache ``kind`` (:data:`KINDS`), as the code that writes it names it."""
    if kind == "scores":
        from zoo.api.scorer_cache import cache_directory

        return cache_directory()
    if kind == "arrays":
        from zoo.bench.arrays import cache_directory

        return cache_directory()
    if kind == "fold-runs":
        from zoo.api.folds import fold_runs_directory

        return fold_runs_directory()
    if kind == "index":  # zoo.index.index_directory: <this>/<sha256(url)[:16]> for a registry not in a file
        return cache_root() / "index"
    raise ValueError(f"unknown cache {kind!r}: one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class Usage:
    """One folder's files and bytes (from :func:`clear_caches`: what it removed or, dry, would remove)."""

    kind: str
    path: Path
    files: int
    size: int
    what: str = ""
    failed: int = 0  # files :func:`clear_caches` could not remove (e.g. another user's)
    reason: str = ""  # why the first of them could not be removed


def _files(folder: Path) -> Iterable[tuple[Path, os.stat_result]]:
    """Every plain file under ``folder`` with its stat (nothing when it does not exist; links are not followed)."""
    for top, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(top) / name
            try:
                info = path.lstat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            yield path, info


def _usage(kind: str, path: Path, what: str = "") -> Usage:
    files = size = 0
    for _path, info in _files(path):
        files += 1
        size += info.st_size
    return Usage(kind, path, files, size, what)


def cache_usage() -> list[Usage]:
    """One :class:`Usage` per kind of :data:`KINDS`, in that order (an absent folder: 0 files)."""
    return [_usage(kind, cache_folder(kind), what) for kind, what in KINDS.items()]


def bench_builds() -> list[Usage]:
    """The bench builds kept under ``<cache>/bench`` (one per size; kind ``bench/<size>``), never cleared here."""
    folder = cache_root() / "bench"
    if not folder.is_dir():
        return []
    return [_usage(f"bench/{p.name}", p, "a bench build") for p in sorted(folder.iterdir()) if p.is_dir()]


def clear_caches(kinds: Iterable[str], *, older_than_days: float | None = None, dry_run: bool = False) -> list[Usage]:
    """Remove the files of each cache of ``kinds`` (all of them, or only those last modified more than
    ``older_than_days`` days ago), then the folders left empty; the cache folders themselves stay. Returns one
    :class:`Usage` per kind counting what was removed (with ``dry_run``: what would be, removing nothing), and
    the files that could not be (``failed``, the first one's ``reason``: another user's file, say); they stay.

    Safe while zoo runs elsewhere: every cache entry is written whole by a rename, so a reader finds it or
    computes it again; a file removed by someone else meanwhile is skipped."""
    chosen = list(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown cache {', '.join(unknown)}: one of {', '.join(KINDS)}")
    cutoff = None if older_than_days is None else time.time() - 86400.0 * float(older_than_days)
    report = []
    for kind in chosen:
        folder = cache_folder(kind)
        files = size = failed = 0
        reason = ""
        for path, info in list(_files(folder)):
            if cutoff is not None and info.st_mtime >= cutoff:
                continue
            if not dry_run:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as err:
                    failed += 1
                    reason = reason or f"{err.strerror or type(err).__name__}: {path}"
                    continue
            files += 1
            size += info.st_size
        if not dry_run:
            _remove_empty(folder)
        report.append(Usage(kind, folder, files, size, KINDS[kind], failed, reason))
    return report


def _remove_empty(folder: Path) -> None:
    """Remove the empty folders under ``folder`` (deepest first), keeping ``folder``."""
    if not folder.is_dir():
        return
    for top, _dirs, _names in sorted(os.walk(folder), key=lambda entry: -len(Path(entry[0]).parts)):
        if Path(top) != folder:
            try:
                Path(top).rmdir()
            except OSError:  # not empty (a file kept, or written meanwhile)
                pass


def human_size(size: int) -> str:
    """``size`` bytes as "0 B", "512 B", "1.2 kB", "34.5 MB", "2.2 GB" (powers of 1000)."""
    if size < 1000:
        return f"{int(size)} B"
    value, units = size / 1000.0, ["kB", "MB", "GB"]
    while value >= 1000.0 and len(units) > 1:
        value, units = value / 1000.0, units[1:]
    return f"{value:.1f} {units[0]}"
