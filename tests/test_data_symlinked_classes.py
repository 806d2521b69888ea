"""Symlinked class folders are never followed (GUARANTEES.md), and never dropped in silence: a warning counts and
names them, and the single-class and no-class errors name them too."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from registry.errors import InvalidInput
from zoo import data


def _shapes(root, classes=("c000", "c001", "c002"), n=3):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8, 3), 40 * c + i, np.uint8)).save(root / name / f"{i}.png")
    return root


def _mixed(tmp_path, real, linked):
    """A folder with copies of the ``real`` classes of shapes/ and symlinks to the ``linked`` ones."""
    shapes = _shapes(tmp_path / "shapes")
    folder = tmp_path / "d"
    folder.mkdir()
    for name in real:
        shutil.copytree(shapes / name, folder / name)
    for name in linked:
        (folder / name).symlink_to(f"../shapes/{name}")
    return folder


def _load(folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = data.load_labelled(folder)
    return loaded, [str(w.message) for w in caught]


def test_a_symlinked_class_folder_is_left_out_with_a_warning_naming_it(tmp_path):
    folder = _mixed(tmp_path, ["c000", "c001"], ["c002"])
    loaded, messages = _load(folder)
    assert loaded.classes == ["c000", "c001"]
    assert messages == [
        f"skipped 1 symlinked class folder(s) in {folder} (c002): directory symlinks are never followed; "
        "copy them in (cp -rL) or list their images in a CSV/JSONL manifest (path,label)"
    ]


def test_the_warning_names_the_first_three_of_many(tmp_path):
    shapes = _shapes(tmp_path / "shapes", classes=[f"c{i}" for i in range(7)], n=1)
    folder = tmp_path / "d"
    folder.mkdir()
    for name in ("c0", "c1"):
        shutil.copytree(shapes / name, folder / name)
    for i in range(2, 7):
        (folder / f"c{i}").symlink_to(shapes / f"c{i}")
    _, messages = _load(folder)
    assert len(messages) == 1 and "skipped 5 symlinked class folder(s)" in messages[0]
    assert "(c2, c3, c4, ...)" in messages[0]


def test_a_single_real_class_beside_symlinked_ones_names_them_in_the_error(tmp_path):
    folder = _mixed(tmp_path, ["c002"], ["c000", "c001"])
    with pytest.raises(InvalidInput) as caught:
        data.load_labelled(folder)
    assert str(caught.value) == (
        f"{folder} has a single class ('c002'): a task needs at least two classes; skipped 2 symlinked class "
        f"folder(s) in {folder} (c000, c001): directory symlinks are never followed; copy them in (cp -rL) or "
        "list their images in a CSV/JSONL manifest (path,label)"
    )


def test_only_symlinked_classes_say_so_instead_of_no_images(tmp_path):
    folder = _mixed(tmp_path, [], ["c000", "c001"])
    with pytest.raises(InvalidInput, match=r"no class folders in .*; skipped 2 symlinked class folder\(s\)"):
        data.load_labelled(folder)


def test_a_split_folders_symlinked_classes_are_named_too(tmp_path):
    shapes = _shapes(tmp_path / "shapes")
    task = tmp_path / "task"
    for split in ("train", "test"):
        for name in ("c000", "c001"):
            shutil.copytree(shapes / name, task / split / name)
    (task / "train" / "c002").symlink_to(shapes / "c002")
    loaded, messages = _load(task)
    assert loaded.classes == ["c000", "c001"]
    assert len(messages) == 1 and f"in {task / 'train'} (c002)" in messages[0]


def test_a_manifest_through_the_symlink_includes_the_class(tmp_path):
    folder = _mixed(tmp_path, ["c000", "c001"], ["c002"])
    manifest = tmp_path / "m.csv"
    rows = [f"{p},{p.parent.name}" for name in ("c000", "c001", "c002") for p in sorted((folder / name).glob("*"))]
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    loaded, messages = _load(manifest)
    assert loaded.classes == ["c000", "c001", "c002"] and messages == []


def test_a_folder_without_symlinks_warns_nothing(tmp_path):
    loaded, messages = _load(_shapes(tmp_path / "shapes"))
    assert len(loaded.classes) == 3 and messages == []


def test_a_loop_to_the_folder_or_above_is_no_class_and_no_warning(tmp_path):
    root = _shapes(tmp_path / "shapes", classes=("c000", "c001"))
    (root / "loop").symlink_to(root)
    (root / "up").symlink_to(tmp_path)
    loaded, messages = _load(root)
    assert loaded.classes == ["c000", "c001"] and messages == []
