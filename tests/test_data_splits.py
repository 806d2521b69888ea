"""Split-aware folders: DIR/train/<class> with a held-out test/ (or val/, valid/, validation/) is one task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from registry.errors import InvalidInput
from zoo import data
from zoo.splits import split_to_read


def _images(folder: Path, classes: dict[str, int], *, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / name / f"{i}.png")
    return folder


def _split_task(root: Path, held_out: str = "test", *, train=None, other=None) -> Path:
    _images(root / "train", train or {"cat": 3, "dog": 3, "fox": 3})
    _images(root / held_out, other or {"cat": 2, "dog": 2, "fox": 2}, seed=1)
    return root


def test_a_split_folder_is_one_task_of_the_train_classes(tmp_path):
    root = _split_task(tmp_path / "pets")
    train = data.load_labelled(root)
    assert train.classes == ["cat", "dog", "fox"]  # never the two "classes" train and test
    assert len(train) == 9 and all("/train/" in str(p) for p in train.items)
    test = data.load_labelled(root, split="test")
    assert test.classes == train.classes and len(test) == 6 and all("/test/" in str(p) for p in test.items)
    assert data.held_out_split(root) == root / "test"


@pytest.mark.parametrize("held_out", ["val", "valid", "validation"])
def test_val_works_like_test(tmp_path, held_out):
    root = _split_task(tmp_path / "pets", held_out)
    assert data.load_labelled(root).classes == ["cat", "dog", "fox"]
    assert data.held_out_split(root) == root / held_out
    assert len(data.load_labelled(root, split="test")) == 6  # "test" asks for the held-out split, whichever
    assert len(data.load_labelled(root, split=held_out)) == 6


def test_test_is_preferred_over_val_and_each_can_be_named(tmp_path):
    root = _split_task(tmp_path / "pets")
    _images(root / "val", {"cat": 1, "dog": 1, "fox": 1}, seed=2)
    assert data.held_out_split(root) == root / "test"
    assert len(data.load_labelled(root, split="val")) == 3


def test_a_task_json_split_folder_still_reads_train_and_its_description(tmp_path):
    root = _split_task(tmp_path / "pets", "val")
    (root / "task.json").write_text(json.dumps({"name": "pets", "taxonomy": "animals"}))
    assert len(data.load_labelled(root)) == 9
    assert data.task_description(root)["taxonomy"] == "animals"
    assert len(data.load_labelled(root, split="test")) == 6


def test_splits_with_different_classes_are_one_line_errors_naming_them(tmp_path):
    root = _split_task(tmp_path / "more", "val", other={"cat": 1, "dog": 1, "fox": 1, "owl": 1, "yak": 1})
    with pytest.raises(InvalidInput) as err:
        data.load_labelled(root)
    assert "val/ has classes owl, yak that train/ lacks" in str(err.value) and "\n" not in str(err.value)
    fewer = _split_task(tmp_path / "fewer", other={"cat": 1, "dog": 1})
    with pytest.raises(InvalidInput, match="test/ lacks class fox that train/ has"):
        data.load_labelled(fewer)
    with pytest.raises(InvalidInput, match="test/ lacks class fox"):
        data.held_out_split(fewer)


def test_class_folders_beside_train_are_named(tmp_path):
    root = _split_task(tmp_path / "mixed")
    _images(root, {"owl": 2, "yak": 2})
    with pytest.raises(InvalidInput) as err:
        data.load_labelled(root)
    message = str(err.value)
    assert "owl/, yak/" in message and "train/" in message and "\n" not in message


def test_plain_class_folders_are_unchanged(tmp_path):
    root = _images(tmp_path / "plain", {"b": 2, "a": 2})
    assert data.load_labelled(root).classes == ["a", "b"]
    assert data.held_out_split(root) is None
    with pytest.raises(InvalidInput, match="no held-out split"):
        data.load_labelled(root, split="test")
    # a class called "train" (loose images) beside other classes is a class, not a split
    vehicles = _images(tmp_path / "vehicles", {"bus": 2, "car": 2, "train": 2})
    assert data.load_labelled(vehicles).classes == ["bus", "car", "train"]


def test_splits_of_loose_images_are_refused_not_read_as_classes(tmp_path):
    root = tmp_path / "loose"
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / split / "0.png")
    with pytest.raises(InvalidInput, match="holds no class folders"):
        data.load_labelled(root)


def test_hidden_folders_and_symlinks_are_not_splits_or_strays(tmp_path):
    root = _split_task(tmp_path / "pets")
    (root / ".cache").mkdir()
    (root / "link").symlink_to(root / "train")
    assert data.load_labelled(root).classes == ["cat", "dog", "fox"]


def test_the_fingerprint_covers_what_is_embedded(tmp_path):
    root = _split_task(tmp_path / "pets")
    before = data.fingerprint(data.load_labelled(root))
    _images(root / "test", {"cat": 1}, seed=7)  # the held-out split is not embedded
    assert data.fingerprint(data.load_labelled(root)) == before
    _images(root / "train", {"cat": 1}, seed=7)
    assert data.fingerprint(data.load_labelled(root)) != before


def test_split_needs_a_folder_and_a_known_name(tmp_path):
    root = _split_task(tmp_path / "pets")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n")
    with pytest.raises(InvalidInput, match="needs a folder"):
        data.load_labelled(manifest, split="test")
    with pytest.raises(InvalidInput, match="unknown split 'dev'"):
        split_to_read(root, "dev")
    assert split_to_read(root, "train") == root / "train"
