"""Rendered tasks as arrays: uint8 images [N, H, W, 3] and int labels [N], cached.

Decoding thousands of 32 px PNGs costs more than a forward pass through a small
network, so each split is decoded once into a cache in the user's cache
directory (``platformdirs.user_cache_dir("zoo")/arrays``), never into the data
folder. A cache holds the fingerprint of what it was decoded from (each image's
path, size and modification time, and the class order) and the version of the
decoding rule (:data:`DECODE_RULE`): when an image is added, removed or
replaced, or the rule changes, the split is decoded again. Images of any mode
become RGB by :func:`zoo.batches.pil_to_rgb`, the rule every image zoo reads
goes through.

A task folder is a split folder (:mod:`zoo.splits`): ``train/<class>/`` and a
held-out split, ``test/`` or else ``val/``, ``valid/``, ``validation/``; asking
for "test" reads whichever of them the folder has.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

from registry.errors import InvalidInput
from zoo.batches import pil_to_rgb
from zoo.collections.tasks import read_task
from zoo.image_lists import files_fingerprint
from zoo.splits import class_folders, split_folders, split_to_read
from zoo.transfer import images_to_tensor

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the version of the image-to-RGB rule, part of each cache's fingerprint: version 1 clipped 16-bit, 32-bit and
#: float images to white, version 2 reads them by their range (zoo.batches.pil_to_rgb), version 3 keeps an
#: infinite pixel from deciding a float image's scale.
DECODE_RULE = "pil_to_rgb-3"


def cache_directory() -> Path:
    """Where decoded splits are cached: ``platformdirs.user_cache_dir("zoo")/arrays``."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zoo")) / "arrays"


def load_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, H, W, 3], labels int64 [N]) of ``split`` of ``folder``, class order of task.json.

    ``split`` is "train" or a held-out name ("test", "val", ...): the folder's
    held-out split, whichever of test/, val/, valid/, validation/ it has.
    """
    folder = Path(folder).resolve()
    classes = task_classes(folder)
    split_dir = split_to_read(folder, split)
    files = [(index, path) for index, cls in enumerate(classes) for path in _split_files(split_dir / cls)]
    if not files:
        raise InvalidInput(f"{split_dir} holds no images; put PNG/JPEG files under {split_dir}/<class>/")
    fingerprint = f"{files_fingerprint(classes, [path for _, path in files])}\0{DECODE_RULE}"
    cache = cache_directory() / (hashlib.sha256(f"{folder}\0{split_dir.name}".encode()).hexdigest()[:24] + ".npz")
    cached = _read_cache(cache, fingerprint)
    if cached is not None:
        return cached
    images = [_decode(path) for _, path in files]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        first = images[0].shape
        odd = next(path for (_, path), image in zip(files, images) if image.shape != first)
        raise InvalidInput(
            f"{split_dir} mixes image sizes: {odd} is {_size(odd, images, files)}, "
            f"{files[0][1]} is {first[1]}x{first[0]}; resize them to one size"
        )
    out = np.stack(images), np.asarray([index for index, _ in files], dtype=np.int64)
    _write_cache(cache, fingerprint, out)
    return out


def _split_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())


def _read_cache(cache: Path, fingerprint: str) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(cache) as data:
            if str(data["fingerprint"]) == fingerprint:
                return data["images"], data["labels"]
    except (OSError, KeyError, ValueError, EOFError):  # absent, stale format or damaged: decode again
        pass
    return None


def _write_cache(cache: Path, fingerprint: str, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    """Best effort: an unwritable cache directory only costs decoding again next time."""
    tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.tmp.npz")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, images=arrays[0], labels=arrays[1], fingerprint=np.asarray(fingerprint))
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)


def _decode(path: Path) -> np.ndarray:
    """One image as uint8 [H, W, 3]; a damaged file is refused with its path."""
    from zoo.data import check_pixels

    try:
        with Image.open(path) as image:
            check_pixels(path, image.size)
            return np.asarray(pil_to_rgb(image), dtype=np.uint8)
    except InvalidInput:
        raise
    except Exception as err:  # PIL raises many types for truncated or corrupt files
        raise InvalidInput(f"cannot read image {path} ({type(err).__name__}: {err}); fix or remove it") from None


def _size(path: Path, images: list[np.ndarray], files: list[tuple[int, Path]]) -> str:
    shape = images[[p for _, p in files].index(path)].shape
    return f"{shape[1]}x{shape[0]}"


def task_classes(folder: Path) -> list[str]:
    """Class order of a task folder: task.json's, else the sorted class folders of train/.

    The folder must be a split folder with a held-out split whose classes are train/'s.
    """
    folder = Path(folder)
    splits = split_folders(folder)
    if splits is None or len(splits) < 2:
        raise InvalidInput(
            f"{folder} has no train/ and test/ class folders; a task to evaluate on "
            f"needs both (layout: {folder}/train/<class>/*.png, {folder}/test/<class>/*.png; "
            "val/ may stand for test/)"
        )
    if (folder / "task.json").exists():
        try:
            classes = read_task(folder)["classes"]
        except (OSError, ValueError) as err:
            raise InvalidInput(f"cannot read {folder / 'task.json'} ({err}); fix the file") from None
        except (KeyError, TypeError):
            classes = None
        if not isinstance(classes, list) or not classes or not all(isinstance(c, (str, int)) for c in classes):
            raise InvalidInput(
                f'{folder / "task.json"} has no "classes" list of class folder names; '
                "add one (the class order), or delete task.json to use the sorted folders of train/"
            )
        return [str(c) for c in classes]
    return [p.name for p in class_folders(splits["train"])]


def to_tensor(images: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD, size: int | None = None):
    """uint8 [N, H, W, 3] -> normalised float tensor [N, 3, S, S]; see zoo.transfer.images_to_tensor."""
    return images_to_tensor(images, mean, std, size)
