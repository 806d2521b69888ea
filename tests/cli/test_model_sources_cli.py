"""`zoo register-model` and `zoo models set-source` store a relative file: path absolute and say so;
re-pointing a model at another architecture says how its arch changed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.registry.test_model_source_paths import _weights
from zoo.cli import main


@pytest.fixture
def zoo(sqlite_url):
    def run(*args: str):
        return CliRunner().invoke(main, ["--db", sqlite_url, *args], catch_exceptions=False)

    return run


def test_register_model_stores_a_relative_file_absolute_and_says_so(zoo, tmp_path, monkeypatch):
    weights = _weights(tmp_path / "work" / "w" / "e0.safetensors", {"arch": "resnet10t", "input_size": 32})
    monkeypatch.chdir(tmp_path / "work")
    result = zoo("register-model", "e0", "--source", "file:w/e0.safetensors")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Registered model e0 (file:{weights}, made absolute from file:w/e0.safetensors)"
    typed = zoo("register-model", "same", "--source", f"file:{weights}")
    assert typed.stdout.strip() == f"Registered model same (file:{weights})"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    shown = zoo("models", "show", "e0")
    assert f"source:      file:{weights}\n" in shown.stdout and "arch:        resnet10t\n" in shown.stdout


def test_set_source_stores_a_relative_file_absolute(zoo, tmp_path, monkeypatch):
    weights = _weights(tmp_path / "w" / "e0.safetensors")
    assert zoo("register-model", "e0", "--source", "timm:resnet10t.a1_in1k").exit_code == 0
    monkeypatch.chdir(tmp_path)
    result = zoo("models", "set-source", "e0", "file:w/e0.safetensors")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"e0 -> file:{weights}"  # no sidecar: the arch stays, and nothing is said


def test_set_source_to_another_architecture_updates_and_says_it(zoo, tmp_path):
    registered = zoo("register-model", "t", "--source", "timm:resnet18.a1_in1k", "--num-params", "11689512")
    assert registered.exit_code == 0, registered.output
    result = zoo("models", "set-source", "t", "timm:resnet34")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "t -> timm:resnet34 (arch resnet18 -> resnet34, params 11689512 -> unknown)"
    shown = json.loads(zoo("models", "show", "t", "--json").stdout)
    assert (shown["arch"], shown["num_params"]) == ("resnet34", None)
    assert [m["name"] for m in json.loads(zoo("models", "list", "--json").stdout) if m["arch"] == "resnet18"] == []
    sidecar = _weights(tmp_path / "e1.safetensors", {"arch": "resnet10t"})
    moved = zoo("models", "set-source", "t", f"file:{sidecar}")
    assert moved.stdout.strip() == f"t -> file:{sidecar} (arch resnet34 -> resnet10t)"
    assert zoo("models", "set-source", "t", "hf-hub:org/m").stdout.strip() == "t -> hf-hub:org/m"
