"""Split-aware task folders: ``DIR/train/<class>/`` with a held-out ``DIR/{test,val,valid,validation}/<class>/``.

The rule, the same wherever data is loaded (:func:`zoo.data.load_labelled`,
and through it ``embed-task``, ``recommend`` and the scorers;
:func:`zoo.bench.arrays.load_split` for ``zoo evaluate``):

- ``DIR`` is a *split folder* when ``DIR/train`` is a folder and it holds class
  folders, or ``DIR`` has a ``task.json``, or every subfolder of ``DIR`` is a
  split name. (A ``train`` folder of loose images beside other class folders is
  a class called "train", and ``DIR`` a plain class folder.)
- A split folder is ONE task: its classes are train/'s class folders, and
  ``train`` is what is embedded, recommended for and trained on; the held-out
  split, what ``zoo evaluate`` measures on, is ``test``, else ``val``,
  ``valid``, ``validation`` (the first present). Split names are never classes.
- Every split present must have exactly train/'s class folders: a difference
  is a one-line :class:`InvalidInput` naming it.
- Nothing but splits may sit beside ``train/``: a folder with ``train/`` and,
  say, ``cat/`` and ``dog/`` is refused with the stray folders named (they
  would silently be left out of the task).

Hidden folders (``.name``) and directory symlinks are never classes or splits,
as in plain class folders.
"""

from __future__ import annotations

from pathlib import Path

from registry.errors import InvalidInput

#: the folder names of splits: the training split, then the held-out ones in order of preference
SPLITS = ("train", "test", "val", "valid", "validation")
HELD_OUT = SPLITS[1:]


def class_folders(folder: Path) -> list[Path]:
    """The sorted subfolders of ``folder`` that can be classes: real directories, not hidden."""
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def is_split_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is laid out as splits (see the module doc for the rule)."""
    folder = Path(folder)
    train = folder / "train"
    if not folder.is_dir() or not train.is_dir() or train.is_symlink():
        return False
    if class_folders(train) or (folder / "task.json").is_file():
        return True
    return all(p.name in SPLITS for p in class_folders(folder))


def split_folders(folder: str | Path) -> dict[str, Path] | None:
    """``{split name: folder}`` of a split folder (train first), checked; None when ``folder`` is not one.

    Raises InvalidInput for stray folders beside the splits and for splits
    whose class folders differ from train/'s.
    """
    folder = Path(folder)
    if not is_split_folder(folder):
        return None
    subfolders = class_folders(folder)
    stray = [p.name for p in subfolders if p.name not in SPLITS]
    if stray:
        raise InvalidInput(
            f"{folder} has train/ and also {_listed(stray)} beside it: a folder with train/ holds only the splits "
            f"{', '.join(SPLITS)}; move {_listed(stray)} into train/ (and test/) or out of {folder}"
        )
    splits = {p.name: p for p in sorted(subfolders, key=lambda p: SPLITS.index(p.name))}
    train = {p.name for p in class_folders(splits["train"])}
    if not train:
        raise InvalidInput(
            f"{splits['train']} holds no class folders: put each class's images in {splits['train']}/<class>/"
        )
    for name, path in splits.items():
        classes = {p.name for p in class_folders(path)}
        extra, missing = sorted(classes - train), sorted(train - classes)
        if extra:
            raise InvalidInput(
                f"{name}/ has {_classes(extra)} that train/ lacks in {folder}: give every split the same class folders"
            )
        if missing and classes:
            raise InvalidInput(
                f"{name}/ lacks {_classes(missing)} that train/ has in {folder}: "
                "give every split the same class folders"
            )
        if missing:
            raise InvalidInput(
                f"{folder / name} holds no class folders: put its images in "
                f"{folder / name}/<class>/, with the class folders of train/"
            )
    return splits


def held_out_split(folder: str | Path) -> Path | None:
    """The held-out split of a split folder (``test/``, else ``val/``, ``valid/``, ``validation/``); else None."""
    splits = split_folders(folder)
    return None if splits is None else _first_held_out(splits)


def _first_held_out(splits: dict[str, Path]) -> Path | None:
    return next((splits[name] for name in HELD_OUT if name in splits), None)


def split_to_read(folder: str | Path, split: str | None) -> Path:
    """The folder of classes that ``split`` of ``folder`` names.

    ``split`` None or "train": train/ of a split folder, else ``folder`` itself
    (all of a plain class folder is training data). A held-out name ("test",
    "val", "valid", "validation"): that split if present, else the held-out
    split the folder has; InvalidInput when it has none.
    """
    folder = Path(folder)
    if split is not None and split not in SPLITS:
        raise InvalidInput(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    splits = split_folders(folder)
    if split in (None, "train"):
        return folder if splits is None else splits["train"]
    chosen = None if splits is None else splits.get(split) or _first_held_out(splits)
    if chosen is None:
        raise InvalidInput(
            f"{folder} has no held-out split: lay it out as {folder}/train/<class>/ with "
            f"{folder}/test/<class>/ (or val/) holding the same classes"
        )
    return chosen


def _listed(names: list[str]) -> str:
    shown = ", ".join(f"{n}/" for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _classes(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"class{'es' if len(names) > 1 else ''} {shown}"


__all__ = ["HELD_OUT", "SPLITS", "class_folders", "held_out_split", "is_split_folder", "split_folders", "split_to_read"]
