"""Hostile and careless data input: missing labels, symlink loops, huge images, FIFOs, encodings."""

from __future__ import annotations

import json
import os
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from registry.errors import InvalidInput
from zoo import data


def _folder(root, classes=("a", "b"), n=3, size=8):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((size, size, 3), 40 * c + i, np.uint8)).save(root / name / f"{i}.png")
    return root


def _files(root):
    return sorted(root.rglob("*.png"))


# 6. missing labels
def test_a_csv_row_without_a_label_names_the_file_and_line(tmp_path):
    files = _files(_folder(tmp_path / "imgs"))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + f"{files[0]},a\n{files[1]}\n{files[2]},\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"m\.csv line 3 has no label"):
        data.load_labelled(manifest)


def test_a_jsonl_null_label_names_the_file_and_line(tmp_path):
    files = _files(_folder(tmp_path / "imgs"))
    manifest = tmp_path / "m.jsonl"
    rows = [{"path": str(f), "label": "x"} for f in files]
    rows[2]["label"] = None
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InvalidInput, match=r"m\.jsonl line 3 has no label"):
        data.load_labelled(manifest)


# 7. directory symlinks are not followed
def test_a_symlink_loop_in_an_image_folder_adds_no_class(tmp_path):
    root = _folder(tmp_path / "imgs")
    os.symlink(root, root / "loop")
    os.symlink(root / "a", root / "b" / "nested")
    loaded = data.load_labelled(root)
    assert loaded.classes == ["a", "b"] and len(loaded) == 6


# 8. pixel limit and skipped-file report
def test_an_image_over_the_pixel_limit_is_refused_with_its_size(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs")
    Image.new("RGB", (300, 200)).save(root / "a" / "huge.png")
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 300 * 200 - 1)
    with pytest.raises(InvalidInput, match=r"huge\.png has 300x200 .* over the limit"):
        data.load_labelled(root)


def test_skipped_images_are_reported_by_count_and_first_path(tmp_path):
    root = _folder(tmp_path / "imgs", n=20)
    (root / "a" / "0broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = data.load_labelled(root)
    assert loaded.skipped == 1
    assert any("skipped 1 unreadable" in str(w.message) and "0broken.png" in str(w.message) for w in caught)


# 9. regular files only
def test_a_manifest_naming_a_fifo_does_not_block(tmp_path):
    files = _files(_folder(tmp_path / "imgs", n=10))
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + "".join(f"{f},{f.parent.name}\n" for f in files) + f"{fifo},a\n")
    result = {}

    def load():
        with warnings.catch_warnings(record=True) as caught:  # the skip is said as a warning: kept, checked below
            warnings.simplefilter("always")
            result.update(loaded=data.load_labelled(manifest), warned=[str(w.message) for w in caught])

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # unblock the reader so the test process can exit
        with open(fifo, "wb"):
            pass
        pytest.fail("loading a manifest that names a FIFO blocked")
    assert result["loaded"].skipped == 1 and len(result["loaded"]) == 20
    assert any("skipped 1 unreadable" in w and "pipe.png" in w for w in result["warned"])


def test_a_fifo_given_as_the_manifest_is_refused(tmp_path):
    fifo = tmp_path / "m.csv"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        data.load_labelled(fifo)


# 10/11. encodings
def test_a_latin1_manifest_is_one_line_error(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes("path,label\ncafé.png,é\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        data.load_labelled(manifest)


def test_a_csv_with_a_utf8_bom_is_accepted(tmp_path):
    files = _files(_folder(tmp_path / "imgs"))
    manifest = tmp_path / "m.csv"
    manifest.write_text("\ufeffpath,label\n" + "".join(f"{f},{f.parent.name}\n" for f in files), encoding="utf-8")
    assert data.load_labelled(manifest).classes == ["a", "b"]
