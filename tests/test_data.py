"""zoo.data: folders, manifests, Datasets, balanced subsampling and every bad input of issue 3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from registry.errors import InvalidInput
from zoo import data


def _write_images(folder: Path, classes: dict[str, int], *, size: int = 8, mode: str = "RGB") -> None:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).convert(mode).save(folder / name / f"{i}.png")


def test_image_folder_loads_classes_and_rgb(tmp_path):
    _write_images(tmp_path, {"b": 3, "a": 2}, mode="L")
    ds = data.load_labelled(tmp_path)
    assert ds.classes == ["a", "b"]
    assert sorted(ds.labels) == [0, 0, 1, 1, 1]
    image, label = ds[0]
    assert image.mode == "RGB" and label == 0


def test_bench_task_folder_uses_train_split(tmp_path):
    _write_images(tmp_path / "train", {"x": 2, "y": 2})
    _write_images(tmp_path / "test", {"x": 5, "y": 5})
    (tmp_path / "task.json").write_text(json.dumps({"name": "t", "taxonomy": "scripts/latin"}))
    ds = data.load_labelled(tmp_path)
    assert len(ds) == 4
    assert data.task_description(tmp_path)["taxonomy"] == "scripts/latin"


def test_balanced_subsampling_is_balanced_and_seeded(tmp_path):
    _write_images(tmp_path, {"a": 10, "b": 10, "c": 2})
    first = data.load_labelled(tmp_path, max_samples=12, seed=3)
    again = data.load_labelled(tmp_path, max_samples=12, seed=3)
    other = data.load_labelled(tmp_path, max_samples=12, seed=4)
    assert first.items == again.items
    assert first.items != other.items
    counts = np.bincount(first.labels, minlength=3)
    assert counts.tolist() == [5, 5, 2]  # the small class's unused share goes to the others


def test_balanced_indices_exact_count():
    labels = [0] * 7 + [1] * 3 + [2] * 9
    for n in range(2, 20):
        assert len(data.balanced_indices(labels, n, 0)) == n


def test_csv_and_jsonl_manifests(tmp_path):
    _write_images(tmp_path / "img", {"a": 2, "b": 2})
    files = sorted((tmp_path / "img").rglob("*.png"))
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,label\n" + "".join(f"img/{f.parent.name}/{f.name},{f.parent.name}\n" for f in files))
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text("".join(json.dumps({"path": str(f), "label": int(f.parent.name == "b")}) + "\n" for f in files))
    a = data.load_labelled(csv_path)
    b = data.load_labelled(jsonl)
    assert a.classes == ["a", "b"] and b.classes == ["0", "1"]
    assert a.labels == b.labels == [0, 0, 1, 1]


class _Tensors:
    classes = ["zero", "one"]

    def __init__(self, labels):
        import torch

        self.images = torch.rand(len(labels), 3, 8, 8)
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def test_torch_dataset_wrapped_and_fingerprinted():
    ds = data.load_labelled(_Tensors([0, 1, 0, 1]))
    image, label = ds[1]
    assert image.mode == "RGB" and image.size == (8, 8) and label == 1
    assert data.fingerprint(ds) == data.fingerprint(data.load_labelled(ds))
    assert data.fingerprint(ds) != data.fingerprint(data.load_labelled(_Tensors([0, 1, 0, 1])))


def test_fingerprint_depends_on_content(tmp_path):
    _write_images(tmp_path, {"a": 2, "b": 2})
    before = data.fingerprint(data.load_labelled(tmp_path))
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "0.png")
    assert data.fingerprint(data.load_labelled(tmp_path)) != before


def test_missing_path(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        data.load_labelled(tmp_path / "nope")


def test_no_images(tmp_path):
    with pytest.raises(InvalidInput, match="no images"):
        data.load_labelled(tmp_path)


def test_single_class(tmp_path):
    _write_images(tmp_path, {"only": 3})
    with pytest.raises(InvalidInput, match="single class"):
        data.load_labelled(tmp_path)


def test_empty_class(tmp_path):
    _write_images(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "c").mkdir()
    with pytest.raises(InvalidInput, match="has no images"):
        data.load_labelled(tmp_path)


def test_corrupt_files_skipped_with_warning(tmp_path):
    _write_images(tmp_path, {"a": 10, "b": 10})
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        ds = data.load_labelled(tmp_path)
    assert len(ds) == 20 and ds.skipped == 1


def test_too_many_corrupt_files_is_an_error(tmp_path):
    _write_images(tmp_path, {"a": 2, "b": 2})
    for i in range(3):
        (tmp_path / "b" / f"bad{i}.png").write_bytes(b"garbage")
    with pytest.raises(InvalidInput, match="unreadable"):
        data.load_labelled(tmp_path)


def test_labels_out_of_range():
    with pytest.raises(InvalidInput, match="out of range"):
        data.load_labelled(_Tensors([0, 1, 2]))
    with pytest.raises(InvalidInput, match="out of range"):
        data.load_labelled(_Tensors([0, -1]))


def test_declared_class_without_images():
    with pytest.raises(InvalidInput, match="has no images"):
        data.load_labelled(_Tensors([0, 0, 0]))


def test_error_messages_are_one_line(tmp_path):
    for bad in (tmp_path / "nope", tmp_path):
        with pytest.raises(InvalidInput) as err:
            data.load_labelled(bad)
        assert "\n" not in str(err.value)
