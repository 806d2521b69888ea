"""Forward-pass scorer values kept on disk, so an interrupted scorer matrix resumes where it stopped.

:meth:`zoo.api.judge.SelectionJudge.scorer_matrix` (``zoo bench evaluate``, in the collection and with
``--leave-out``) writes each (task, expert) value here as soon as it is computed, and a rerun reads it back
instead of running the expert again. One JSON file per value, under :func:`cache_directory`
(``platformdirs.user_cache_dir("zoo")/scores/<scorer>/``), named by the sha256 of its key and holding the key
itself, the value and the seconds it cost. The key holds everything the value depends on:

- the scorer, the screen's share of the images (0: all of them) and how many images of the task it reads;
- the task: its name, data URI and the content fingerprint the registry recorded, and a fingerprint of the
  data as it is now (:func:`zoo.image_lists.files_fingerprint`, which also keys the bench's decoded splits),
  so an image added, removed or replaced makes new entries;
- the expert: its name, source, architecture and weights checksum as the registry records them, and for a
  local weights file (``file:``, ``bench:``) the file's path, size and modification time;
- the device kind (forward passes on a GPU differ from the CPU's in the last bits), the package version and
  the source of the modules that compute a value (:data:`CODE`: the scorers, the feature pass, the image
  reading), so a working copy's edit to any of them never reads values the old code computed.

A file whose stored key is not the one asked for is never read; a damaged one is computed again and
overwritten. Writes go through a temporary file and a rename, so a kill never leaves half an entry; an
unwritable cache directory only costs computing again. A task whose data cannot be read now is not cached
(loading it raises its own error). zoo never removes an entry by itself: ``zoo cache clear scores``
(:mod:`zoo.api.caches`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Sequence

    from registry.records import Model, Task

#: the entry format: an entry of another format is computed again
FORMAT = 1

#: the modules whose code a scorer value depends on (their source is part of every key)
CODE = ("zoo.scorers", "zoo.networks", "zoo.batches", "zoo.data", "zoo.image_lists", "zoo.api.scorer_matrix")


def code_fingerprint() -> str:
    """sha256 of the source files of :data:`CODE`, read once per process."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        import importlib.util

        digest = hashlib.sha256()
        for name in CODE:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            digest.update(name.encode() + b"\0" + (Path(origin).read_bytes() if origin else b"") + b"\0")
        _CODE_DIGEST = digest.hexdigest()
    return _CODE_DIGEST


_CODE_DIGEST: str | None = None


def cache_directory() -> Path:
    """Where scorer values are kept: ``platformdirs.user_cache_dir("zoo")/scores``."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zoo")) / "scores"


@dataclass(frozen=True)
class CachedScore:
    """One scorer value read back (higher = better, as :func:`zoo.api.scorer_matrix.scorer_value` gives it) and the
    seconds computing it cost."""

    value: float
    seconds: float


class ScoreCache:
    """Scorer values on disk under ``folder`` (default :func:`cache_directory`), one file per key."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = cache_directory() if folder is None else Path(folder)

    def keys(
        self,
        scorer: str,
        share: float,
        device: str,
        tasks: Sequence[Task],
        sizes: Sequence[int | None],
        models: Sequence[Model],
    ) -> list[list[dict | None]]:
        """``[T][M]`` the key of each (task, model) value; None for a task whose data cannot be read now."""
        from zoo.version import __version__

        common = {
            "format": FORMAT,
            "scorer": scorer,
            "share": float(share),
            "device": device.split(":")[0],
            "version": __version__,
            "code": code_fingerprint(),
        }
        experts = [model_identity(m) for m in models]
        out: list[list[dict | None]] = []
        for task, size in zip(tasks, sizes):
            data = task_identity(task)
            out.append(
                [None if data is None else {**common, "samples": size, "task": data, "model": m} for m in experts]
            )
        return out

    def _path(self, key: dict) -> Path:
        digest = hashlib.sha256(_canonical(key).encode()).hexdigest()
        return self.folder / key["scorer"] / f"{digest}.json"

    def read(self, key: dict | None) -> CachedScore | None:
        """The entry of ``key``; None when there is none, or it is damaged or another key's."""
        if key is None:
            return None
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            value, seconds = entry["value"], entry["seconds"]
            if _canonical(entry["key"]) != _canonical(key) or not all(_is_number(v) for v in (value, seconds)):
                return None
            return CachedScore(float(value), float(seconds))
        except (OSError, ValueError, TypeError, KeyError):  # absent, unreadable or damaged: compute again
            return None

    def write(self, key: dict | None, value: float, seconds: float) -> None:
        """Keep ``value`` (and the ``seconds`` it cost) under ``key``, atomically; best effort."""
        if key is None:
            return
        path = self._path(key)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"key": key, "value": value, "seconds": seconds}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)


def task_identity(task: Task) -> dict | None:
    """What a task's scorer values depend on: its name, data URI, recorded fingerprint and a fingerprint of its
    data as it is now (:func:`data_fingerprint`); None when the data cannot be read."""
    from zoo.data import local_path

    try:
        path = local_path(task.data_uri).resolve()
        content = data_fingerprint(path)
    except (InvalidInput, OSError):
        return None
    return {
        "name": task.name,
        "data_uri": task.data_uri,
        "fingerprint": task.fingerprint,
        "path": str(path),
        "content": content,
    }


def data_fingerprint(path: Path) -> str:
    """sha256 of what :func:`zoo.data.load_labelled` reads of ``path`` (a folder's training split, or a
    manifest and the images it lists): the class order and each file's path, size and modification time."""
    from zoo.image_lists import files_fingerprint, read_manifest, scan_folder
    from zoo.splits import split_to_read

    if path.is_dir():
        files, _, classes = scan_folder(split_to_read(path, None))
    elif path.is_file():
        listed, _ = read_manifest(path)
        files, classes = [path, *listed], []  # the manifest's own stat covers its labels
    else:
        raise OSError(f"{path} does not exist")
    return files_fingerprint(classes, files)


def model_identity(model: Model) -> dict:
    """What an expert's scorer values depend on: its registered name, source, architecture and checksum, and
    for a local weights file its path, size and modification time."""
    from zoo.networks import local_weights

    out: dict[str, Any] = {"name": model.name, "source": model.source, "arch": model.arch, "checksum": model.checksum}
    try:
        path = local_weights(model.source)
    except InvalidInput:  # an unknown source: loading the network says so
        path = None
    if path is not None:
        out["weights"] = _stat_of(path)
    return out


def _stat_of(path: Path) -> str:
    """``path``, size and modification time (nanoseconds); ``missing`` for a file that is not there."""
    try:
        stat = path.stat()
    except OSError:
        return f"{path}\0missing"
    return f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}"


def _canonical(key: Any) -> str:
    return json.dumps(key, sort_keys=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
