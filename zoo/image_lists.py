"""Image folders and manifests read into image paths and labels (the leaf under :mod:`zoo.data`).

An ImageFolder-style folder gives one class per subfolder (directory symlinks
are never followed); a CSV (header ``path,label``) or JSON Lines manifest is
UTF-8 (a leading BOM is accepted) and every row needs a path and a non-empty
label. Every bad input raises a one-line :class:`registry.errors.InvalidInput`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from registry.errors import InvalidInput
from zoo.splits import class_folders

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def files_fingerprint(classes: Sequence[str], paths: Iterable[Path]) -> str:
    """sha256 of the class order and each file's path, size and modification time: it changes when an image is
    added, removed or replaced, and reads none of them (OSError for a file that is gone)."""
    digest = hashlib.sha256(json.dumps(list(classes)).encode())
    for path in paths:
        stat = Path(path).stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def image_files(folder: Path) -> list[Path]:
    """Regular image files under ``folder``, sorted; directory symlinks are not followed."""
    found = []
    for root, _, names in os.walk(folder, followlinks=False):
        found.extend(
            Path(root) / n
            for n in names
            if Path(n).suffix.lower() in IMAGE_SUFFIXES and os.path.isfile(os.path.join(root, n))
        )
    return sorted(found)


#: how many skipped symlinked class folders a message names
SHOWN_LINKS = 3


def symlinked_class_folders(folder: Path) -> list[Path]:
    """The sorted subfolders of ``folder`` left out as classes because they are directory symlinks (never
    followed: a link out of the folder would read what the folder does not hold). A link to the folder itself
    or above it (``loop -> .``) is a loop, not a class, and is not listed."""
    folder = Path(folder)
    here = folder.resolve()
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_symlink() and p.is_dir() and not p.name.startswith(".") and not here.is_relative_to(p.resolve())
    )


def symlinks_skipped(folder: Path, links: Sequence[Path]) -> str:
    """``links`` (symlinked class folders of ``folder``) counted and named, the first few, with how to include
    them: '' when there are none."""
    if not links:
        return ""
    names = ", ".join(p.name for p in links[:SHOWN_LINKS]) + (", ..." if len(links) > SHOWN_LINKS else "")
    return (
        f"skipped {len(links)} symlinked class folder(s) in {folder} ({names}): directory symlinks are never "
        "followed; copy them in (cp -rL) or list their images in a CSV/JSONL manifest (path,label)"
    )


def scan_folder(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """An ImageFolder-style folder -> (image paths [N], labels [N] in 0..C-1, class names [C]).

    Symlinked class folders are left out (:func:`symlinked_class_folders`); the caller says so
    (:func:`zoo.data.load_labelled` warns), and the error for a folder with no class left names them.
    """
    class_dirs = class_folders(folder)
    if not class_dirs:
        links = symlinks_skipped(folder, symlinked_class_folders(folder))
        loose = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        if loose:
            raise InvalidInput(
                f"{folder} holds images but no class subfolders: put each class's images in its own subfolder"
                + (f"; {links}" if links else "")
            )
        if links:
            raise InvalidInput(f"no class folders in {folder}; {links}")
        raise InvalidInput(f"no images in {folder}: expected one subfolder of images per class")
    paths: list[Path] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        files = image_files(class_dir)
        if not files:
            raise InvalidInput(f"class folder {class_dir} has no images: add images or remove the folder")
        paths.extend(files)
        labels.extend([label] * len(files))
    return paths, labels, [d.name for d in class_dirs]


def read_manifest(path: Path) -> tuple[list[Path], list[Any]]:
    """A CSV or JSON Lines manifest -> (image paths [N], raw labels [N]); relative paths from its folder."""
    rows: list[tuple[str, Any]] = []
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
                reader = csv.DictReader(handle)
                if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
                    raise InvalidInput(f"{path} needs a header line with columns path,label")
                for r in reader:
                    rows.append(_manifest_row(path, reader.line_num, r.get("path"), r.get("label")))
        else:
            with open(path, encoding="utf-8-sig") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                        pair = (row["path"], row["label"])
                    except (ValueError, KeyError, TypeError) as err:
                        raise InvalidInput(f"{path} line {number} is not a JSON object with path and label") from err
                    rows.append(_manifest_row(path, number, *pair))
    except UnicodeDecodeError as err:
        raise InvalidInput(f"manifest {path} is not UTF-8 text (byte {err.start}): save it as UTF-8") from None
    except OSError as err:
        raise InvalidInput(f"cannot read manifest {path}: {err}") from err
    if not rows:
        raise InvalidInput(f"no images in manifest {path}: add lines of path,label")
    base = path.parent
    paths = [Path(p) if Path(p).is_absolute() else base / p for p, _ in rows]
    return paths, [label for _, label in rows]


def _manifest_row(path: Path, number: int, image: Any, label: Any) -> tuple[str, Any]:
    """One manifest row, refused (with file and line) when its path or label is missing or empty."""
    if not isinstance(image, str) or not image.strip():
        raise InvalidInput(f"{path} line {number} has no image path: give every row a path")
    if label is None or (isinstance(label, str) and not label.strip()):
        raise InvalidInput(f"{path} line {number} has no label: give every row a label")
    if not isinstance(label, (str, int, float)) or isinstance(label, bool):
        raise InvalidInput(f"{path} line {number}: label {label!r} is not a class name or index")
    return image, label


def index_labels(raw: Sequence[Any], source: str, classes: Sequence[str] | None = None) -> tuple[list[int], list[str]]:
    """Map raw labels to 0..C-1; integer labels must lie in range, and no class may be empty."""

    def as_int(value):
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if hasattr(value, "item") and not isinstance(value, str):
            value = value.item()
            return value if isinstance(value, int) else None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return None

    ints = [as_int(v) for v in raw]
    if all(v is not None for v in ints):
        num = len(classes) if classes is not None else max(ints) + 1
        bad = [v for v in ints if not 0 <= v < num]
        if bad:
            raise InvalidInput(f"label {bad[0]} in {source} is out of range 0..{num - 1}: labels must be class indices")
        names = list(classes) if classes is not None else [str(i) for i in range(num)]
        labels = ints
    else:
        if classes is not None:
            raise InvalidInput(f"labels in {source} must be integer class indices")
        names = sorted({str(v) for v in raw})
        lookup = {name: i for i, name in enumerate(names)}
        labels = [lookup[str(v)] for v in raw]
    counts = [0] * len(names)
    for y in labels:
        counts[y] += 1
    empty = [names[i] for i, c in enumerate(counts) if c == 0]
    if empty:
        raise InvalidInput(f"class {empty[0]!r} in {source} has no images: add images or drop the class")
    return labels, names
