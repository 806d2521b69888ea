"""Writing a task to disk, reading it back, and splitting a collection into sets.

A task on disk is ``ROOT/<task>/{train,test}/<class>/NNNN.png`` plus
``ROOT/<task>/task.json`` (name, collection, taxonomy, classes, seed, counts).
``task.json`` is written last and atomically, so its presence means the task is
complete: a render killed half-way leaves no ``task.json`` and is redone.

Every image is ``IMAGE_SIZE`` x ``IMAGE_SIZE`` RGB. 32 px: the CPU this project
targets trains a ResNet-10 at ~600 images/s at 32 px (against ~12/s at 224 px),
and 32 px keeps what separates the classes here (Fashion-MNIST is 28 px
natively; a glyph or an emoji stays legible at 32 px, as CIFAR-sized
character benchmarks show).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SIZE = 32

#: the three disjoint sets a collection's tasks are dealt into
SETS = ("probe", "expert", "heldout")

#: per 10 tasks of one family (in seeded order): which set each goes to.
#: 3 probe pool, 4 expert, 3 held-out.
_DEAL = ("expert", "heldout", "probe", "expert", "heldout", "probe", "expert", "heldout", "probe", "expert")


@dataclass(frozen=True)
class TaskSpec:
    """One task of a collection, before rendering.

    ``classes`` are folder-safe class names; ``payload`` is what the renderer
    needs per class (a code point, an emoji string, a Fashion-MNIST label).
    """

    name: str
    collection: str
    taxonomy: tuple[str, ...]
    classes: tuple[str, ...]
    payload: tuple = field(default=(), compare=False)
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def family(self) -> str:
        """The top level of the taxonomy below the collection."""
        return self.taxonomy[0]


# renderer(spec, class_index, split, rng, count) -> list of PIL images
Renderer = Callable[[TaskSpec, int, str, random.Random, int], list]


def task_seed(seed: int, name: str, split: str) -> int:
    """A seed for one task and split that does not depend on rendering order."""
    digest = hashlib.sha256(f"{seed}:{name}:{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def write_task(
    root: Path,
    spec: TaskSpec,
    render: Renderer,
    *,
    train_per_class: int,
    test_per_class: int,
    seed: int,
    set_name: str | None = None,
) -> Path:
    """Render ``spec`` into ``root/<name>`` unless it is already complete.

    Returns the task folder. Deterministic: the same spec, counts and seed give
    the same pixels, whatever else was rendered before.
    """
    folder = Path(root) / spec.name
    meta_path = folder / "task.json"
    if meta_path.exists():
        return folder
    if folder.exists():  # left by a killed run
        shutil.rmtree(folder)
    tmp = Path(root) / f".{spec.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    counts = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        rng = random.Random(task_seed(seed, spec.name, split))
        for index, cls in enumerate(spec.classes):
            out = tmp / split / cls
            out.mkdir(parents=True, exist_ok=True)
            for j, image in enumerate(render(spec, index, split, rng, per_class)):
                image.save(out / f"{j:04d}.png", optimize=False)
        counts[split] = per_class * len(spec.classes)
    os.replace(tmp, folder)
    record = {
        "name": spec.name,
        "collection": spec.collection,
        "taxonomy": "/".join(spec.taxonomy),
        "classes": list(spec.classes),
        "seed": seed,
        "counts": counts,
        "image_size": IMAGE_SIZE,
        "set": set_name,
        "meta": spec.meta,
    }
    write_json_atomic(meta_path, record)
    return folder


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    os.replace(tmp, path)


def read_task(folder: Path) -> dict:
    """The ``task.json`` record of a rendered task."""
    return json.loads((Path(folder) / "task.json").read_text())


def deal_sets(specs: Iterable[TaskSpec], seed: int) -> dict[str, str]:
    """Deal a collection's tasks into probe pool / expert / held-out, per family.

    Within each family the tasks are put in a seeded order and dealt by
    ``_DEAL`` (3:4:3), continuing the pattern across families so that small
    families do not all land in the same set. Deterministic in (names, seed).
    """
    by_family: dict[str, list[str]] = {}
    for spec in specs:
        by_family.setdefault(spec.family, []).append(spec.name)
    out: dict[str, str] = {}
    position = 0
    for family in sorted(by_family):
        names = sorted(by_family[family])
        random.Random(task_seed(seed, family, "deal")).shuffle(names)
        for name in names:
            out[name] = _DEAL[position % len(_DEAL)]
            position += 1
    return out


def safe_name(text: str) -> str:
    """A folder-safe, lower-case task or class name."""
    keep = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    while "--" in keep:
        keep = keep.replace("--", "-")
    return keep.strip("-")
