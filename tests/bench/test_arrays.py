"""Decoded task splits: cached in the user cache directory, never in the data folder, rebuilt on change."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from registry.errors import InvalidInput
from zoo.bench.arrays import cache_directory, load_split


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))


def _task(root, size=8, classes=("a", "b")):
    for split in ("train", "test"):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((size, size, 3), 50 * c + i, np.uint8)).save(root / split / name / f"{i}.png")
    (root / "task.json").write_text(json.dumps({"name": root.name, "classes": list(classes)}))
    return root


def test_the_cache_lives_in_the_user_cache_dir_and_follows_the_images(tmp_path):
    root = _task(tmp_path / "data" / "t")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    images, labels = load_split(root, "test")
    assert images.shape == (4, 8, 8, 3) and labels.tolist() == [0, 0, 1, 1]
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written into the data
    assert str(cache_directory()).startswith(str(tmp_path / "cache-home")) and list(cache_directory().glob("*.npz"))
    replaced = root / "test" / "b" / "1.png"
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(replaced)
    stat = replaced.stat()
    os.utime(replaced, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    images, _ = load_split(root, "test")
    assert images[3].min() == 255  # the replaced image was read again
    assert len(list(cache_directory().glob("*.npz"))) == 1  # one cache per split, replaced in place


def test_a_task_json_without_classes_is_one_line_error(tmp_path):
    root = _task(tmp_path / "t")
    (root / "task.json").write_text(json.dumps({"name": "t"}))
    with pytest.raises(InvalidInput, match='no "classes"'):
        load_split(root, "train")


def test_a_truncated_png_is_named(tmp_path):
    root = _task(tmp_path / "t")
    png = root / "test" / "a" / "0.png"
    png.write_bytes(png.read_bytes()[:40])
    with pytest.raises(InvalidInput, match=r"cannot read image .*0\.png"):
        load_split(root, "test")


def test_one_image_of_another_size_is_named(tmp_path):
    root = _task(tmp_path / "t")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "test" / "b" / "1.png")
    with pytest.raises(InvalidInput, match=r"mixes image sizes: .*b/1\.png is 16x16"):
        load_split(root, "test")


@pytest.mark.parametrize("held_out", ["val", "valid", "validation"])
def test_test_reads_the_held_out_split_whatever_its_name(tmp_path, held_out):
    root = _task(tmp_path / "t")
    (root / "test").rename(root / held_out)
    images, labels = load_split(root, "test")
    assert images.shape == (4, 8, 8, 3) and labels.tolist() == [0, 0, 1, 1]
    (root / "task.json").unlink()  # without task.json: the sorted class folders of train/
    assert load_split(root, "test")[1].tolist() == [0, 0, 1, 1]


def test_splits_with_different_classes_are_refused(tmp_path):
    root = _task(tmp_path / "t")
    (root / "test" / "c").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "test" / "c" / "0.png")
    with pytest.raises(InvalidInput, match="test/ has class c that train/ lacks"):
        load_split(root, "train")


def test_a_folder_without_a_held_out_split_is_one_line_error(tmp_path):
    root = _task(tmp_path / "t")
    (root / "test").rename(root / "holdout")
    with pytest.raises(InvalidInput, match="holdout/"):  # a stray folder beside train/ is named
        load_split(root, "test")
    (root / "holdout").rename(root / ".holdout")
    with pytest.raises(InvalidInput, match="no train/ and test/ class folders"):
        load_split(root, "test")
