"""A model's source as stored: a relative ``file:`` path made absolute (register and set-source), ``bench:``,
``timm:`` and ``hf-hub:`` kept as typed, import keeping what the file says; re-pointing a model takes the
architecture its new source names; wrong argument types are one-line InvalidInput."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import zoo
from registry.errors import InvalidInput, ZooError
from registry.store import Store


def _weights(path: Path, sidecar: dict | None = None) -> Path:
    """A minimal safetensors file (8-byte header length, JSON header, data), with ``PATH.json`` when given."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + b"\x00" * 16)
    if sidecar is not None:
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
    return path


def test_a_relative_file_source_is_stored_absolute_and_others_as_typed(store, tmp_path, monkeypatch):
    weights = _weights(tmp_path / "work" / "w" / "e0.safetensors")
    monkeypatch.chdir(tmp_path / "work")
    assert store.add_model("e0", "file:w/e0.safetensors").source == f"file:{weights}"
    assert store.add_model("dots", "file:./w/../w/e0.safetensors").source == f"file:{weights}"
    monkeypatch.setenv("HOME", str(tmp_path / "work"))
    assert store.add_model("home", "file:~/w/e0.safetensors").source == f"file:{weights}"
    kept = {
        "bench": "bench:experts/e0.safetensors",  # relative to the bench data root by design
        "timm": "timm:resnet18.a1_in1k",
        "hub": "hf-hub:org/model",
        "abs": f"file:{weights}",
    }
    for name, source in kept.items():
        assert store.add_model(name, source, check=False).source == source
    monkeypatch.chdir(tmp_path)  # another folder: the stored source still names the file
    assert Path(store.get_model("e0").source.removeprefix("file:")).is_file()


def test_set_source_stores_a_relative_file_absolute(store, tmp_path, monkeypatch):
    store.add_model("e0", "timm:resnet18.a1_in1k")
    weights = _weights(tmp_path / "w" / "e0.safetensors")
    monkeypatch.chdir(tmp_path)
    assert store.set_model_source("e0", "file:w/e0.safetensors").source == f"file:{weights}"
    assert store.get_model("e0").source == f"file:{weights}"


def test_the_api_reads_the_sidecar_of_a_relative_file_source(sqlite_url, tmp_path, monkeypatch):
    _weights(tmp_path / "w" / "e0.safetensors", {"arch": "resnet10t", "input_size": 32})
    monkeypatch.chdir(tmp_path)
    with zoo.connect(sqlite_url) as z:
        model = z.register_model("e0", "file:w/e0.safetensors")
    assert (model.source, model.arch) == (f"file:{tmp_path / 'w' / 'e0.safetensors'}", "resnet10t")


def test_export_and_import_keep_a_source_as_the_file_says(store, tmp_path):
    store.add_model("e0", "timm:resnet18.a1_in1k")
    path = tmp_path / "export.jsonl"
    store.export_jsonl(path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    lines[0].pop("sha256", None)  # edited by hand below; the counts are still checked
    for line in lines:
        if line.get("kind") == "model":
            line["source"] = "file:w/e0.safetensors"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with Store.open(f"sqlite:///{tmp_path / 'fresh.db'}") as fresh:
        fresh.import_jsonl(path)
        assert fresh.get_model("e0").source == "file:w/e0.safetensors"
        again = tmp_path / "again.jsonl"
        fresh.export_jsonl(again)
    assert '"source": "file:w/e0.safetensors"' in again.read_text(encoding="utf-8")


def test_set_source_to_another_timm_architecture_updates_arch_and_forgets_the_param_count(store):
    registered = store.add_model("t", "timm:resnet18.a1_in1k", num_params=11_689_512, checksum="ab" * 32)
    assert registered.arch == "resnet18"
    same = store.set_model_source("t", "timm:resnet18.a2_in1k")  # the same architecture: nothing else changes
    assert (same.arch, same.num_params, same.checksum) == ("resnet18", 11_689_512, "ab" * 32)
    moved = store.set_model_source("t", "timm:resnet34")
    # the count was resnet18's; the checksum stays (it names the registered weights, see set_model_source)
    assert (moved.source, moved.arch, moved.num_params) == ("timm:resnet34", "resnet34", None)
    assert moved.checksum == "ab" * 32 and store.get_model("t").arch == "resnet34"
    kept = store.set_model_source("t", "hf-hub:org/model")  # names no architecture: arch kept, said nothing
    assert kept.arch == "resnet34"


def test_set_source_to_a_file_takes_its_sidecars_arch(store, tmp_path):
    store.add_model("t", "timm:resnet18.a1_in1k", num_params=11_689_512)
    bare = _weights(tmp_path / "bare.safetensors")
    assert store.set_model_source("t", f"file:{bare}").arch == "resnet18"  # no sidecar: kept
    described = _weights(tmp_path / "e1.safetensors", {"arch": "resnet10t", "input_size": 32})
    moved = store.set_model_source("t", f"file:{described}")
    assert (moved.arch, moved.num_params) == ("resnet10t", None)
    stem = _weights(tmp_path / "e2.safetensors")
    stem.with_suffix(".json").write_text(json.dumps({"arch": "resnet50"}))  # <stem>.json, as the bench writes
    assert store.set_model_source("t", f"file:{stem}").arch == "resnet50"
    broken = _weights(tmp_path / "e3.safetensors")
    broken.with_suffix(".json").write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot read .*e3.json") as err:
        store.set_model_source("t", f"file:{broken}")
    assert "\n" not in str(err.value) and store.get_model("t").arch == "resnet50"


def test_moving_a_folder_keeps_each_arch(store, tmp_path):
    old = _weights(tmp_path / "old" / "a.safetensors")
    store.add_model("a", f"file:{old}", arch="resnet18", num_params=5)
    _weights(tmp_path / "new" / "a.safetensors", {"arch": "resnet50"})
    [moved] = store.relocate_sources(tmp_path / "old", tmp_path / "new")
    assert (moved.arch, moved.num_params) == ("resnet18", 5)


def _one_line(err: ZooError) -> str:
    message = str(err)
    assert "\n" not in message, message
    return message


def test_tags_as_the_command_line_gives_them_or_one_string(sqlite_url):
    with zoo.connect(sqlite_url) as z:
        one = z.register_model("a", "timm:resnet18", tags="family=resnet")
        listed = z.register_model("b", "timm:resnet34", tags=["family=resnet", ("size", "m"), " note = x=y"])
        z.register_model("c", "timm:vit_small", tags={"family": "vit"})
        assert one.tags == {"family": "resnet"}
        assert listed.tags == {"family": "resnet", "size": "m", "note": " x=y"}
        assert [m.name for m in z.models(tags="family=resnet")] == ["a", "b"]
        assert [m.name for m in z.models(tags=[("family", "resnet"), "size=m"])] == ["b"]


WRONG_TYPES = [
    (lambda z: z.register_model("a", None), "source must be a string"),
    (lambda z: z.register_model("a", 5), "source must be a string"),
    (lambda z: z.register_model("a", "timm:x", arch=5), "arch must be a string"),
    (lambda z: z.register_model("a", "timm:x", description=5), "description must be a string"),
    (lambda z: z.register_model("a", "timm:x", tags=5), "tags must be a mapping, a 'KEY=VALUE' string"),
    (lambda z: z.register_model("a", "timm:x", tags="family"), "bad tag 'family'"),
    (lambda z: z.register_model("a", "timm:x", trained_on=5), "bad task name 5"),
    (lambda z: z.register_model("a", "file:nowhere", check="no"), "check must be True or False"),
    (lambda z: z.models(tags=5), "tags must be a mapping"),
    (lambda z: z.models(tags=["family"]), "bad tag 'family'"),
    (lambda z: z.models(5), "pattern must be a glob string"),
    (lambda z: z.tasks(["a"]), "pattern must be a glob string"),
    (lambda z: z.remove_model("m", force="yes"), "force must be True or False"),
    (lambda z: z.remove_task("t", force=1), "force must be True or False"),
    (lambda z: z.set_model_source("m", None), "source must be a string"),
    (lambda z: z.set_model_source("m", "timm:x", check="no"), "check must be True or False"),
    (lambda z: z.relocate_sources(None, "/x"), "old_folder=OLD must be a folder path"),
    (lambda z: z.relocate_sources("/x", 5), "new_folder=NEW must be a folder path"),
    (lambda z: z.similar_tasks("script-ogham", k="3"), "k=K must be a whole number (an int), got '3'"),
    (lambda z: z.similar_tasks("script-ogham", k=2.5), "k=K must be a whole number"),
]


@pytest.mark.parametrize("call, fragment", WRONG_TYPES)
def test_an_argument_of_the_wrong_type_is_one_line_invalid_input(sqlite_url, call, fragment):
    with zoo.connect(sqlite_url) as z:
        z.register_model("m", "timm:resnet18")
        with pytest.raises(InvalidInput) as err:
            call(z)
        assert fragment in _one_line(err.value)
        assert [m.name for m in z.models()] == ["m"] and z.get_model("m").source == "timm:resnet18"
