"""Labelled image data: folders, manifests, torch Datasets, balanced subsampling, transforms.

Accepted inputs (:func:`load_labelled`):

- an ImageFolder-style directory, one subfolder per class;
- a split folder ``DIR/train/<class>/`` with a held-out ``DIR/{test,val,valid,validation}/<class>/``
  (with or without ``task.json``, as the bench writes them): ONE task whose
  ``train`` split is read, or its held-out split with ``split="test"``; split
  names are never classes, and splits whose classes differ, or class folders
  beside ``train/``, are refused (the rule: :mod:`zoo.splits`);
- a CSV (header ``path,label``) or JSON Lines (``{"path": ..., "label": ...}``)
  manifest; relative paths are relative to the manifest's folder;
- from Python, any torch Dataset of ``(image, label)`` (PIL image, array or tensor).

Every bad input raises a one-line :class:`registry.errors.InvalidInput` that says
what to fix. Unreadable images are skipped with a warning that gives their count
and the first one's path, or refused when more than
:data:`MAX_UNREADABLE_FRACTION` of the selection is unreadable.

Rules: only regular files are read (a FIFO or a device named by a manifest is
skipped as unreadable, never opened); directory symlinks inside an image folder
are never followed (a file symlink is read; a symlinked class folder is left
out with a warning that names it); manifests are UTF-8 (a leading BOM is
accepted) and every row needs a non-empty label; an image over
:data:`MAX_IMAGE_PIXELS` pixels is refused with its size.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from registry.errors import InvalidInput, arg
from zoo.batches import rgb_image as _to_pil
from zoo.batches import tensor_batches, transform_for  # re-exported: their home is zoo.batches
from zoo.image_lists import (  # IMAGE_SUFFIXES re-exported
    IMAGE_SUFFIXES,
    index_labels,
    read_manifest,
    scan_folder,
    symlinked_class_folders,
    symlinks_skipped,
)
from zoo.splits import class_folders, held_out_split, split_folders, split_to_read  # noqa: F401 - re-exported

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_UNREADABLE_FRACTION",
    "MAX_IMAGE_PIXELS",
    "check_pixels",
    "LabelledImages",
    "load_labelled",
    "held_out_split",
    "split_folders",
    "task_description",
    "balanced_indices",
    "fingerprint",
    "transform_for",
    "tensor_batches",
]

#: above this fraction of unreadable images in the selection, loading fails.
MAX_UNREADABLE_FRACTION = 0.1
#: images with more pixels than this are refused (decoding one takes width*height*3 bytes, and more)
MAX_IMAGE_PIXELS = 64_000_000

try:  # a real torch Dataset when torch is importable; plain object otherwise
    from torch.utils.data import Dataset as _DatasetBase
except ImportError:  # pragma: no cover - torch is a dependency
    _DatasetBase = object


class LabelledImages(_DatasetBase):
    """A Dataset of ``(PIL RGB image, int label)``.

    Attributes: ``classes`` (list of class names, label i is ``classes[i]``),
    ``labels`` (list[int], one per item), ``source`` (where the data came from),
    ``skipped`` (unreadable images left out), ``items`` (file paths, or indices
    into the wrapped Dataset).
    """

    def __init__(
        self,
        items: Sequence[Any],
        labels: Sequence[int],
        classes: Sequence[str],
        source: str,
        *,
        base=None,
        skipped: int = 0,
    ) -> None:
        self.items = list(items)
        self.labels = [int(y) for y in labels]
        self.classes = [str(c) for c in classes]
        self.source = source
        self.base = base
        self.skipped = skipped

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, keep: Sequence[int]) -> LabelledImages:
        """The images at positions ``keep``, with the same classes, source and base."""
        return LabelledImages(
            [self.items[i] for i in keep],
            [self.labels[i] for i in keep],
            self.classes,
            self.source,
            base=self.base,
            skipped=self.skipped,
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __getitem__(self, index: int):
        return self.image(index), self.labels[index]

    def image(self, index: int):
        """The ``index``-th image as a PIL RGB image, by the one rule of :func:`zoo.batches.pil_to_rgb`."""
        item = self.items[index]
        if self.base is None:
            from PIL import Image

            with Image.open(item) as img:
                return _to_pil(img)
        return _to_pil(self.base[item][0])


def local_path(uri: str) -> Path:
    """The local path a task's ``data_uri`` names: ``file://PATH``, ``file:PATH``, ``bench:REL`` (under the
    bench data root, see registry.locations) or a plain path."""
    if uri.startswith("bench:"):
        from registry.locations import resolve_bench_uri

        return resolve_bench_uri(uri)
    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return Path(uri[len(prefix) :]).expanduser()
    return Path(uri).expanduser()


def task_description(path: str | Path) -> dict[str, Any] | None:
    """The ``task.json`` of a bench task folder (one with ``train/`` and ``task.json``), else None."""
    folder = Path(path)
    desc = folder / "task.json"
    if folder.is_dir() and desc.is_file() and (folder / "train").is_dir():
        try:
            return json.loads(desc.read_text())
        except (OSError, ValueError) as err:
            raise InvalidInput(f"cannot read {desc}: {err}; fix the file") from err
    return None


def balanced_indices(labels: Sequence[int], max_samples: int | None, seed: int) -> list[int]:
    """Class-balanced subset of indices, at most ``max_samples``, fixed by ``seed``.

    Each class gets an equal share; shares a small class cannot use go to the
    others (water filling). Within a class, images are drawn by a seeded
    permutation. Returned in ascending order.
    """
    import numpy as np

    if max_samples is None or max_samples >= len(labels):
        return list(range(len(labels)))
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    sizes = {c: len(v) for c, v in by_class.items()}
    quota = {c: 0 for c in by_class}
    left = max_samples
    open_classes = sorted(by_class)
    while left > 0 and open_classes:
        share, extra = divmod(left, len(open_classes))
        for rank, c in enumerate(open_classes):
            take = min(share + (1 if rank < extra else 0), sizes[c] - quota[c])
            quota[c] += take
            left -= take
        open_classes = [c for c in open_classes if quota[c] < sizes[c]]
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for c in sorted(by_class):
        order = rng.permutation(len(by_class[c]))[: quota[c]]
        chosen.extend(by_class[c][j] for j in order)
    return sorted(chosen)


def _readable(path: Path) -> bool:
    """Whether ``path`` is a regular file PIL decodes; an image over :data:`MAX_IMAGE_PIXELS` is refused."""
    from PIL import Image

    if not os.path.isfile(path):  # a FIFO would block in Image.open; a device never ends
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                check_pixels(path, img.size)
                img.load()
        return True
    except Image.DecompressionBombError:
        check_pixels(path, None)
        return False
    except InvalidInput:
        raise
    except Exception:  # PIL raises many types for truncated/corrupt/missing files
        return False


def check_pixels(path: Path, size: tuple[int, int] | None) -> None:
    """Refuse an image of ``size`` (width, height; None: too large to say) over :data:`MAX_IMAGE_PIXELS`."""
    if size is None or size[0] * size[1] > MAX_IMAGE_PIXELS:
        shown = "too many" if size is None else f"{size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} million"
        raise InvalidInput(
            f"image {path} has {shown} pixels, over the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} "
            "million (zoo.data.MAX_IMAGE_PIXELS): downscale it or remove it"
        )


def load_labelled(
    path_or_dataset, *, max_samples: int | None = None, seed: int = 0, progress: bool = False, split: str | None = None
) -> LabelledImages:
    """Load labelled images from a folder, a manifest or a Dataset (see module doc).

    ``max_samples`` keeps a class-balanced subset fixed by ``seed``. ``progress``
    shows a bar while image files are checked for readability. ``split`` picks a
    split of a split folder: None or "train" the training split (all of a plain
    class folder), "test" (or "val", "valid", "validation") the held-out one.
    """
    if max_samples is not None and max_samples < 2:
        raise InvalidInput(f"{arg('max_samples', str(max_samples))} is too small: give at least 2 (one per class)")
    if split not in (None, "train") and not (
        isinstance(path_or_dataset, (str, Path)) and Path(path_or_dataset).expanduser().is_dir()
    ):
        raise InvalidInput(
            f"split {split!r} needs a folder laid out as DIR/train/<class>/ and DIR/test/<class>/; "
            "give such a folder, or leave split out"
        )
    if isinstance(path_or_dataset, LabelledImages):
        return path_or_dataset.subset(balanced_indices(path_or_dataset.labels, max_samples, seed))
    if not isinstance(path_or_dataset, (str, Path)):
        return _from_dataset(path_or_dataset, max_samples, seed)
    path = Path(path_or_dataset).expanduser()
    if not path.exists():
        raise InvalidInput(f"data path {path} does not exist: give an image folder or a CSV/JSONL manifest")
    links = ""
    if path.is_dir():
        folder = split_to_read(path, split)
        paths, labels, classes = scan_folder(folder)
        links = symlinks_skipped(folder, symlinked_class_folders(folder))
        if links and len(classes) >= 2:
            warnings.warn(links, stacklevel=2)  # the caller of load_labelled
    elif not path.is_file():
        raise InvalidInput(f"{path} is not a regular file: give an image folder or a CSV/JSONL manifest")
    elif path.suffix.lower() in (".csv", ".jsonl", ".json"):
        paths, raw = read_manifest(path)
        labels, classes = index_labels(raw, str(path))
    else:
        raise InvalidInput(f"{path} is neither a folder nor a .csv/.jsonl manifest")
    if len(classes) < 2:
        raise InvalidInput(
            f"{path} has a single class ({classes[0]!r}): a task needs at least two classes"
            + (f"; {links}" if links else "")
        )
    keep = balanced_indices(labels, max_samples, seed)
    good = _readable_subset(path, paths, keep, progress)
    counts = [0] * len(classes)
    for i in good:
        counts[labels[i]] += 1
    if any(c == 0 for c in counts):
        raise InvalidInput(f"class {classes[counts.index(0)]!r} in {path} has no readable images: fix them")
    return LabelledImages(
        [paths[i] for i in good], [labels[i] for i in good], classes, str(path), skipped=len(keep) - len(good)
    )


def _readable_subset(path: Path, paths: Sequence[Path], keep: list[int], progress: bool) -> list[int]:
    """The indices in ``keep`` whose images are readable; warns about (or refuses) the unreadable rest."""
    from tqdm.auto import tqdm

    good = [i for i in tqdm(keep, desc="checking images", unit="img", disable=not progress) if _readable(paths[i])]
    skipped = len(keep) - len(good)
    if skipped:
        kept = set(good)
        first = next(paths[i] for i in keep if i not in kept)
        if skipped > MAX_UNREADABLE_FRACTION * len(keep):
            raise InvalidInput(
                f"{skipped} of {len(keep)} images in {path} are unreadable (e.g. {first}): fix or remove them"
            )
        warnings.warn(
            f"skipped {skipped} unreadable image(s) of {len(keep)} in {path} (first: {first})", stacklevel=3
        )  # the caller of load_labelled
    return good


def _from_dataset(dataset, max_samples: int | None, seed: int) -> LabelledImages:
    try:
        size = len(dataset)
    except TypeError as err:
        raise InvalidInput("the data set has no length: give a map-style torch Dataset of (image, label)") from err
    if size == 0:
        raise InvalidInput("the data set is empty: give at least two classes of images")
    raw = getattr(dataset, "targets", None)
    if raw is None or len(raw) != size:
        raw = [dataset[i][1] for i in range(size)]
    declared = getattr(dataset, "classes", None)
    source = f"<{type(dataset).__name__}>"
    labels, classes = index_labels(list(raw), source, list(declared) if declared is not None else None)
    if len(classes) < 2:
        raise InvalidInput(f"the data set {source} has a single class: a task needs at least two classes")
    keep = balanced_indices(labels, max_samples, seed)
    return LabelledImages(keep, [labels[i] for i in keep], classes, source, base=dataset)


def fingerprint(labelled: LabelledImages) -> str:
    """sha256 over the content: class names, and each item's label and image bytes, in order."""
    digest = hashlib.sha256()
    digest.update(json.dumps(labelled.classes).encode())
    for index, label in enumerate(labelled.labels):
        digest.update(str(label).encode())
        item = labelled.items[index]
        if labelled.base is None:
            digest.update(Path(item).read_bytes())
        else:
            image = labelled.image(index)
            digest.update(str(image.size).encode())
            digest.update(image.tobytes())
    return digest.hexdigest()
