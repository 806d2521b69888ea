"""Fashion-MNIST tasks from Debian's dataset-fashion-mnist: class subsets.

Tasks classify a subset of the ten garment classes. The taxonomy groups the
classes into garment groups (tops, bottoms, dresses, footwear, bags); a
task's path is its dominant group (the one most of its classes belong to),
the set of groups it draws from, then its classes. Train images
come from the idx training file, test images from the t10k file, so the two
splits never share a photograph.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import random
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.collections.augment import affine_jitter, finish
from zoo.collections.tasks import TaskSpec

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
COLLECTION = "fashion"
CLASSES = ("tshirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
GROUPS = {
    "tops": ("tshirt-top", "pullover", "coat", "shirt"),
    "bottoms": ("trouser",),
    "dresses": ("dress",),
    "footwear": ("sandal", "sneaker", "ankle-boot"),
    "bags": ("bag",),
}
_GROUP_OF = {cls: group for group, members in GROUPS.items() for cls in members}
NUM_TASKS = 30


@functools.lru_cache(maxsize=2)
def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 28, 28] uint8, labels [N]) of the 'train' or 't10k' idx files."""
    images_path = DATA_DIR / f"{split}-images-idx3-ubyte.gz"
    labels_path = DATA_DIR / f"{split}-labels-idx1-ubyte.gz"
    if not images_path.exists():
        from registry.errors import InvalidInput

        raise InvalidInput(f"{images_path} is missing; install the Debian package dataset-fashion-mnist")
    with gzip.open(images_path) as f:
        raw = f.read()
    count, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)
    with gzip.open(labels_path) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return images, labels


def fashion_specs(seed: int = 0) -> list[TaskSpec]:
    """NUM_TASKS class subsets of 3 to 6 classes, drawn deterministically from ``seed``.

    Half the tasks stay inside few groups (hard, fine-grained: tops vs tops),
    half mix groups; each is named by its classes.
    """
    rng = random.Random(f"{seed}:fashion")
    subsets: list[tuple[str, ...]] = []
    pool = [c for k in (3, 4, 5, 6) for c in itertools.combinations(CLASSES, k)]
    rng.shuffle(pool)
    seen_groups: dict[tuple[str, ...], int] = {}
    for subset in pool:  # spread the tasks over group signatures
        groups = tuple(sorted({_GROUP_OF[c] for c in subset}))
        if seen_groups.get(groups, 0) >= 2:
            continue
        seen_groups[groups] = seen_groups.get(groups, 0) + 1
        subsets.append(subset)
        if len(subsets) == NUM_TASKS:
            break
    specs = []
    for subset in subsets:
        ordered = tuple(c for c in CLASSES if c in subset)
        groups = sorted({_GROUP_OF[c] for c in ordered})
        counts = {g: sum(_GROUP_OF[c] == g for c in ordered) for g in groups}
        dominant = max(GROUPS, key=lambda g: counts.get(g, 0))
        specs.append(
            TaskSpec(
                name="fashion-" + "-".join(c.split("-")[0][:5] for c in ordered),
                collection=COLLECTION,
                taxonomy=(dominant, "+".join(groups), "-".join(ordered)),
                classes=ordered,
                payload=tuple(CLASSES.index(c) for c in ordered),
            )
        )
    return specs


def render_fashion(spec: TaskSpec, index: int, split: str, rng: random.Random, count: int) -> list[Image.Image]:
    """``count`` augmented 32 px photographs of class ``index`` of ``spec``."""
    images, labels = load_split("train" if split == "train" else "t10k")
    rows = np.flatnonzero(labels == spec.payload[index])
    chosen = rng.sample(list(rows), count)
    out = []
    for row in chosen:
        tile = Image.fromarray(255 - images[row], "L").resize((64, 64), Image.BILINEAR)
        tile = affine_jitter(tile, rng, rotate=12.0, fill=255)
        out.append(finish(tile, rng, blur=1.0, noise=18.0))
    return out
