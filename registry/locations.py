"""Where ``bench:`` URIs point: the bench data root.

The shipped zoo names its experts' weights and its tasks' folders relative to
the bench data root, so that the export resolves on any machine:

- a model's source ``bench:experts/NAME.safetensors``;
- a task's ``data_uri`` ``bench:tasks/NAME``.

The root is ``$ZOO_BENCH_ROOT`` when set, else the folder ``zoo bench build
--size full`` and ``zoo bench rebuild-experts`` use by default (``bench/full``
under the user cache dir). It lives in ``registry`` because the store checks
these files too (:func:`registry.validation.source_path`); it imports nothing heavy.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the scheme of a path relative to the bench data root
SCHEME = "bench:"
#: the environment variable that moves the bench data root
ROOT_VARIABLE = "ZOO_BENCH_ROOT"


def bench_root() -> Path:
    """The bench data root: ``$ZOO_BENCH_ROOT``, else ``<user cache dir>/zoo/bench/full``."""
    configured = os.environ.get(ROOT_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zoo")) / "bench" / "full"


def is_bench_uri(uri: str) -> bool:
    """Whether ``uri`` is relative to the bench data root (``bench:...``)."""
    return (uri or "").startswith(SCHEME)


def resolve_bench_uri(uri: str) -> Path:
    """The local path of ``bench:REL`` under :func:`bench_root`."""
    relative = uri[len(SCHEME) :].lstrip("/")
    return bench_root() / relative


def bench_uri(path: str | os.PathLike, root: str | os.PathLike) -> str | None:
    """``bench:REL`` for a ``path`` inside ``root`` (the bench workdir), else None."""
    try:
        relative = Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return None
    return SCHEME + relative.as_posix()
