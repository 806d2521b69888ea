"""The Python API over the registry (zoo.connect) and the fixtures' CI rule."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from registry.errors import DependentRows, NotFound


def test_connect_register_list_alias_remove(store_url, tmp_path):
    with zoo.connect(store_url) as z:
        with pytest.raises(NotFound, match="task 'imagenet-1k' is not registered") as err:
            z.register_model("resnet34.a1_in1k", "timm:resnet34.a1_in1k", trained_on="imagenet-1k")
        assert "trained_on=" in str(err.value) and not z.models()  # refused, nothing registered
        model = z.register_model(
            "resnet34.a1_in1k",
            "timm:resnet34.a1_in1k",
            tags={"family": "resnet"},
            description="ResNet-34",
        )
        assert model.tags == {"family": "resnet"} and z.url == store_url
        z.register_model("vit_small.augreg", "timm:vit_small.augreg", tags={"family": "vit"})
        assert [m.name for m in z.models("resnet*")] == ["resnet34.a1_in1k"]
        assert [m.name for m in z.models(tags={"family": "vit"})] == ["vit_small.augreg"]
        assert z.alias("generic", "resnet34.a1_in1k").aliases == ("generic",)
        assert z.get_model("generic").name == "resnet34.a1_in1k"
        z.store.add_task("t", data_uri="/t", num_classes=2, num_samples=4, fingerprint="f")
        z.store.ensure_probe("p", arch="resnet18", weights_checksum="c", embedding_length=2, layers=["layer4"])
        z.store.put_task_embedding(
            "t", "p", "montecarlo", np.ones(2), sample_count=4, seed=0, params={}, package_version="0"
        )
        assert [t.name for t in z.tasks()] == ["t"] and z.get_task("t").num_classes == 2
        assert [e.method for e in z.task_embeddings("t")] == ["montecarlo"]
        with pytest.raises(NotFound):
            z.task_embeddings("nope")
        with pytest.raises(DependentRows):
            z.remove_task("t")
        counts = z.export(tmp_path / "out.jsonl")
        assert counts["model"] == 2
        assert z.remove_task("t", force=True)["task_embeddings"] == 1
        assert z.remove_model("vit_small.augreg") == {
            "models": 1,
            "transfer_results": 0,
            "model_embeddings": 0,
            "model_tags": 1,
            "model_aliases": 0,
        }
        current = z.db_current()
        assert current["revision"] == current["head"] and current["counts"]["models"] == 1


def test_postgres_fixture_fails_instead_of_skipping_in_ci(monkeypatch):
    import importlib.util
    from pathlib import Path

    # By path, so it works under any pytest import mode.
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("zoo_tests_conftest", path)
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        conftest._unavailable("no server")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        conftest._unavailable("no server")


def test_a_file_expert_takes_its_sidecars_arch_and_is_warned_about_without_an_input_size(store_url, tmp_path):
    import json
    import warnings

    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "copied.safetensors"
    save_file({"w": torch.zeros(2)}, str(weights))
    with zoo.connect(store_url) as z:
        with pytest.warns(UserWarning, match="no sidecar .* giving its input size") as caught:
            bare = z.register_model("bare", f"file:{weights}", arch="resnet10t")
        assert len(caught) == 1 and "\n" not in str(caught[0].message) and bare.arch == "resnet10t"
        weights.with_name("copied.safetensors.json").write_text(json.dumps({"arch": "resnet10t", "input_size": 32}))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            described = z.register_model("described", f"file:{weights}")
            named = z.register_model("named", f"file:{weights}", arch="resnet18")
        assert described.arch == "resnet10t" and named.arch == "resnet18"  # an explicit arch wins
