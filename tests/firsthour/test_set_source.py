"""`zoo models set-source`: one model or a folder of weights, checked against the stored checksums."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from zoo.cli import main


def weights(path, value: float):
    """A tiny safetensors file; returns its sha256."""
    import torch
    from safetensors.torch import save_file

    from zoo.networks import weights_checksum

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": torch.full((4,), value)}, str(path), metadata={"arch": "resnet10t"})
    return weights_checksum(path)


@pytest.fixture
def registry(tmp_path):
    """A registry with two models whose weights lie in old/; the files moved to new/."""
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    for name, value in (("a", 1.0), ("b", 2.0)):
        checksum = weights(tmp_path / "old" / f"{name}.safetensors", value)
        result = CliRunner().invoke(
            main,
            [
                "--db",
                url,
                "register-model",
                name,
                "--source",
                f"file:{tmp_path / 'old' / (name + '.safetensors')}",
                "--arch",
                "resnet10t",
                "--checksum",
                checksum,
            ],
        )
        assert result.exit_code == 0, result.output
    shutil.move(tmp_path / "old", tmp_path / "new")
    return url


def run(url, *args):
    return CliRunner().invoke(main, ["--db", url, "models", "set-source", *args])


def test_one_model_and_a_folder(registry, tmp_path):
    one = run(registry, "a", f"file:{tmp_path / 'new' / 'a.safetensors'}")
    assert one.exit_code == 0, one.output
    assert one.stdout.strip() == f"a -> file:{tmp_path / 'new' / 'a.safetensors'}"
    bulk = run(registry, "--from-dir", str(tmp_path / "old"), "--to-dir", str(tmp_path / "new"), "--json")
    assert bulk.exit_code == 0, bulk.output
    import json

    assert [(m["name"], m["source"]) for m in json.loads(bulk.stdout)] == [
        ("b", f"file:{tmp_path / 'new' / 'b.safetensors'}")
    ]


def test_a_missing_file_or_other_weights_is_refused(registry, tmp_path, assert_one_line_error):
    assert_one_line_error(run(registry, "a", f"file:{tmp_path / 'nowhere.safetensors'}"), None, "nowhere.safetensors")
    other = f"file:{tmp_path / 'new' / 'b.safetensors'}"
    assert_one_line_error(run(registry, "a", other), None, "not the registered weights")
    from registry.store import Store

    with Store.open(registry) as store:
        assert store.get_model("a").source == f"file:{tmp_path / 'old' / 'a.safetensors'}"  # unchanged


def test_one_form_at_a_time(registry, tmp_path, assert_one_line_error):
    assert_one_line_error(run(registry, "a"), 2, "NAME and URI", "--from-dir OLD")
    assert_one_line_error(run(registry, "a", "file:x", "--from-dir", "x", "--to-dir", "y"), 2, "--from-dir OLD")
    assert_one_line_error(run(registry, "--from-dir", "x"), 2, "--to-dir NEW")


def test_bench_sources_resolve_under_the_bench_root(registry, tmp_path, monkeypatch):
    root = tmp_path / "bench-root"
    shutil.copytree(tmp_path / "new", root / "experts")
    monkeypatch.setenv("ZOO_BENCH_ROOT", str(root))
    result = run(registry, "a", "bench:experts/a.safetensors")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "a -> bench:experts/a.safetensors"
