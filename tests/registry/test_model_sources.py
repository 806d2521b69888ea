"""Moving a model's weights: set_model_source and relocate_sources check the files and change all or nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry.errors import InvalidInput, NotFound
from registry.validation import file_sha256


def _weights(path: Path, payload: bytes = b"\x00" * 16) -> Path:
    """A minimal safetensors file (8-byte little-endian header length, JSON header, data)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [len(payload) // 4], "data_offsets": [0, len(payload)]}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + payload)
    return path


def _register(store, name: str, path: Path, **kwargs):
    return store.add_model(
        name, f"file:{path}", arch="resnet18", checksum=hashlib.sha256(path.read_bytes()).hexdigest(), **kwargs
    )


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    path = _weights(tmp_path / "a.safetensors", b"\x01" * 4096)
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_set_source_to_the_moved_file_keeps_everything_else(store, tmp_path):
    old = _weights(tmp_path / "old" / "a.safetensors")
    before = _register(store, "a", old, tags={"k": "v"})
    store.set_alias("alias-a", "a")
    new = tmp_path / "new" / "a.safetensors"
    new.parent.mkdir()
    new.write_bytes(old.read_bytes())
    moved = store.set_model_source("alias-a", f"file:{new}")  # an alias names the model too
    assert moved.name == "a" and moved.source == f"file:{new}"
    assert (moved.checksum, moved.tags, moved.aliases, moved.arch) == (
        before.checksum,
        {"k": "v"},
        ("alias-a",),
        "resnet18",
    )
    assert store.get_model("a").source == f"file:{new}"


def test_set_source_to_a_missing_file_is_one_line_and_changes_nothing(store, tmp_path):
    old = _weights(tmp_path / "a.safetensors")
    _register(store, "a", old)
    token = store.revision_token("models")
    with pytest.raises(InvalidInput) as err:
        store.set_model_source("a", f"file:{tmp_path / 'gone.safetensors'}")
    assert "does not exist" in str(err.value) and "\n" not in str(err.value)
    assert store.get_model("a").source == f"file:{old}"
    assert store.revision_token("models") == token
    # without the check a path that is not there yet is accepted (no checksum to compare)
    assert store.set_model_source("a", f"file:{tmp_path / 'later.safetensors'}", check=False).source.endswith(
        "later.safetensors"
    )


def test_set_source_refuses_other_weights_naming_both_checksums(store, tmp_path):
    old = _weights(tmp_path / "a.safetensors")
    registered = _register(store, "a", old)
    other = _weights(tmp_path / "b.safetensors", b"\x07" * 16)
    with pytest.raises(InvalidInput) as err:
        store.set_model_source("a", f"file:{other}")
    message = str(err.value)
    assert registered.checksum[:12] in message and file_sha256(other)[:12] in message, message
    assert "not the registered weights" in message and "\n" not in message
    assert store.get_model("a").source == f"file:{old}"
    # check=False is the caller knowingly accepting other weights (the checksum stays the registered one)
    accepted = store.set_model_source("a", f"file:{other}", check=False)
    assert (accepted.source, accepted.checksum) == (f"file:{other}", registered.checksum)


def test_set_source_checks_the_source_like_registration(store, tmp_path):
    _register(store, "a", _weights(tmp_path / "a.safetensors"))
    with pytest.raises(InvalidInput, match="bad source"):
        store.set_model_source("a", "ftp://elsewhere/a.safetensors")
    with pytest.raises(InvalidInput, match="is a directory"):
        store.set_model_source("a", f"file:{tmp_path}")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    with pytest.raises(InvalidInput, match="safetensors header"):
        store.set_model_source("a", f"file:{junk}")
    with pytest.raises(NotFound):
        store.set_model_source("nobody", f"file:{tmp_path / 'a.safetensors'}")
    # a model without a stored checksum takes any loadable file; a timm source is not a file
    store.add_model("b", "timm:resnet18.a1_in1k")
    assert store.set_model_source("b", f"file:{tmp_path / 'a.safetensors'}").source.startswith("file:")
    assert store.set_model_source("b", "timm:resnet34.a1_in1k").source == "timm:resnet34.a1_in1k"


def test_relocate_moves_every_source_under_the_folder(store, tmp_path):
    old_root, new_root = tmp_path / "old", tmp_path / "new"
    paths = [
        _weights(old_root / "x.safetensors", b"\x01" * 16),
        _weights(old_root / "sub" / "y.safetensors", b"\x02" * 16),
    ]
    elsewhere = _weights(tmp_path / "old-but-not-under" / "z.safetensors", b"\x03" * 16)
    for name, path in zip(("x", "y", "z"), (*paths, elsewhere)):
        _register(store, name, path)
    store.add_model("t", "timm:resnet18.a1_in1k")
    for path in paths:
        target = new_root / path.relative_to(old_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    moved = store.relocate_sources(old_root, new_root)
    assert [(m.name, m.source) for m in moved] == [
        ("x", f"file:{new_root / 'x.safetensors'}"),
        ("y", f"file:{new_root / 'sub' / 'y.safetensors'}"),
    ]
    assert store.get_model("z").source == f"file:{elsewhere}"  # a sibling folder sharing the prefix stays
    assert store.get_model("t").source == "timm:resnet18.a1_in1k"
    with pytest.raises(NotFound, match="no model has a file: source under"):
        store.relocate_sources(old_root, new_root)


@pytest.mark.parametrize("fault", ["missing", "different"])
def test_relocate_is_all_or_nothing(store, tmp_path, fault):
    old_root, new_root = tmp_path / "old", tmp_path / "new"
    for name, byte in (("a", 1), ("b", 2), ("c", 3)):
        _register(store, name, _weights(old_root / f"{name}.safetensors", bytes([byte]) * 16))
    new_root.mkdir()
    for name in ("a", "c"):  # b is absent from, or different in, the new folder
        (new_root / f"{name}.safetensors").write_bytes((old_root / f"{name}.safetensors").read_bytes())
    if fault == "different":
        _weights(new_root / "b.safetensors", b"\x09" * 16)
    token = store.revision_token("models")
    with pytest.raises(InvalidInput) as err:
        store.relocate_sources(str(old_root), f"file:{new_root}")
    message = str(err.value)
    assert "'b'" in message and "nothing was moved" in message and "\n" not in message
    assert [store.get_model(n).source for n in "abc"] == [f"file:{old_root / n}.safetensors" for n in "abc"]
    assert store.revision_token("models") == token
