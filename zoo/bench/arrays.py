"""Rendered tasks as arrays: uint8 images [N, H, W, 3] and int labels [N], cached.

Decoding thousands of 32 px PNGs costs more than a forward pass through a small
network, so each split is decoded once into ``<task>/.<split>.npz``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.collections.tasks import read_task
from zoo.transfer import images_to_tensor

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, H, W, 3], labels int64 [N]) of ``folder/<split>``, class order of task.json."""
    folder = Path(folder)
    cache = folder / f".{split}.npz"
    if cache.exists():
        with np.load(cache) as data:
            return data["images"], data["labels"]
    classes = task_classes(folder)
    images, labels = [], []
    for index, cls in enumerate(classes):
        for path in sorted(p for p in (folder / split / cls).glob("*") if p.suffix.lower() in _IMAGE_SUFFIXES):
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
            labels.append(index)
    if not images:
        from registry.errors import InvalidInput

        raise InvalidInput(f"{folder}/{split} holds no images; put PNG/JPEG files under {folder}/{split}/<class>/")
    out = np.stack(images), np.asarray(labels, dtype=np.int64)
    tmp = folder / f".{split}.{os.getpid()}.tmp.npz"
    np.savez(tmp, images=out[0], labels=out[1])
    os.replace(tmp, cache)
    return out


def task_classes(folder: Path) -> list[str]:
    """Class order of a task folder: task.json's, else the sorted class folders of train/."""
    folder = Path(folder)
    if (folder / "task.json").exists():
        return list(read_task(folder)["classes"])
    if not (folder / "train").is_dir() or not (folder / "test").is_dir():
        from registry.errors import InvalidInput

        raise InvalidInput(f"{folder} has no train/ and test/ class folders; a task to evaluate on "
                           f"needs both (layout: {folder}/train/<class>/*.png, {folder}/test/<class>/*.png)")
    return sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())


def to_tensor(images: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD, size: int | None = None):
    """uint8 [N, H, W, 3] -> normalised float tensor [N, 3, S, S]; see zoo.transfer.images_to_tensor."""
    return images_to_tensor(images, mean, std, size)
