"""The real task collections: writing systems, emoji, Fashion-MNIST.

Everything is rendered from Debian packages (fonts-noto-core,
fonts-noto-color-emoji, unicode-data, dataset-fashion-mnist), deterministically
from a seed. :func:`catalogue` lists every task with its set (probe pool,
expert, held-out); :func:`render_tasks` writes them to disk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from zoo.collections.tasks import IMAGE_SIZE, SETS, TaskSpec, deal_sets, read_task, write_task

__all__ = ["IMAGE_SIZE", "SETS", "TaskSpec", "catalogue", "render_tasks", "read_task", "renderer_for"]


def _sources() -> dict[str, tuple[Callable, Callable]]:
    from zoo.collections.emoji import emoji_specs, render_emoji
    from zoo.collections.fashion import fashion_specs, render_fashion
    from zoo.collections.scripts import render_glyph, script_specs

    return {
        "scripts": (script_specs, render_glyph),
        "emoji": (emoji_specs, render_emoji),
        "fashion": (fashion_specs, render_fashion),
    }


def renderer_for(collection: str) -> Callable:
    """The renderer of a collection name."""
    return _sources()[collection][1]


def catalogue(seed: int = 0) -> dict[str, list[TaskSpec]]:
    """Every task, by set (a fresh copy of the cached listing; see _catalogue)."""
    return {key: list(specs) for key, specs in _catalogue(seed).items()}


@functools.lru_cache(maxsize=4)
def _catalogue(seed: int) -> dict[str, list[TaskSpec]]:
    """Every task, by set: {"probe": [...], "expert": [...], "heldout": [...]}.

    Each collection is dealt separately (per taxonomy family, 3:4:3), so every
    set has tasks of every collection. The spec's ``meta["set"]`` says its set.
    """
    out: dict[str, list[TaskSpec]] = {name: [] for name in SETS}
    for make_specs, _ in _sources().values():
        specs = make_specs(seed)
        sets = deal_sets(specs, seed)
        for spec in specs:
            out[sets[spec.name]].append(replace(spec, meta={**spec.meta, "set": sets[spec.name]}))
    return out


def render_tasks(
    root: Path,
    specs: Iterable[TaskSpec],
    *,
    train_per_class: int,
    test_per_class: int,
    seed: int = 0,
    progress: bool = True,
) -> list[Path]:
    """Render each spec into ``root`` (skipping complete ones); the task folders."""
    from tqdm import tqdm

    specs = list(specs)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    folders = []
    for spec in tqdm(specs, desc="render tasks", unit="task", disable=not progress):
        folders.append(
            write_task(
                root,
                spec,
                renderer_for(spec.collection),
                train_per_class=train_per_class,
                test_per_class=test_per_class,
                seed=seed,
                set_name=spec.meta.get("set"),
            )
        )
    return folders
