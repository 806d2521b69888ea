"""``device``: ``auto`` is the CPU here and gives the CPU's results exactly; CUDA where there is none is one line."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from registry.errors import InvalidInput
from tests.embedding.conftest import write_task_folder
from tests.jobs.conftest import _write_expert
from zoo.api import Zoo
from zoo.cli import main
from zoo.networks import resolve_device

NO_GPU = not torch.cuda.is_available()
#: CUDA against the CPU (TF32 convolutions): features to ~1e-3 relative; what docs/cluster.md states
CUDA_TOLERANCE = 2e-3


@pytest.fixture
def zoo_url(tmp_path, sqlite_url):
    weights = tmp_path / "expert.safetensors"
    _write_expert(weights, seed=0)
    write_task_folder(tmp_path / "task" / "train", per_class=4, seed=1)
    write_task_folder(tmp_path / "task" / "test", per_class=4, seed=2)
    with Zoo.open(sqlite_url) as zoo:
        zoo.store.add_model("expert", f"file:{weights}", arch="resnet18")
        zoo.store.add_task("task", data_uri=str(tmp_path / "task"), num_classes=3, num_samples=12, fingerprint="t")
    return sqlite_url


def test_auto_is_the_cpu_here_and_gives_identical_results(zoo_url):
    with Zoo.open(zoo_url) as zoo:
        cpu = zoo.evaluate("expert", "task", save=False, device="cpu")
        auto = zoo.evaluate("expert", "task", save=False, device="auto")
        model = zoo.store.get_model("expert")
        scores = {
            device: [
                zoo.judge.scorer_matrix(scorer, ["task"], [model], None, device=device)[0, 0]
                for scorer in ("logme", "leep")
            ]
            for device in ("cpu", "auto")
        }
    if NO_GPU:
        assert resolve_device("auto") == "cpu"
        assert auto == cpu
        assert scores["auto"] == scores["cpu"]
    else:  # a GPU machine: the stated tolerance
        assert abs(auto["value"] - cpu["value"]) <= 2 / cpu["test_size"]
        for got, expected in zip(scores["auto"], scores["cpu"]):
            assert abs(got - expected) <= CUDA_TOLERANCE * max(1.0, abs(expected))


@pytest.mark.skipif(not NO_GPU, reason="torch sees a GPU here")
def test_cuda_without_a_gpu_is_one_line(zoo_url, assert_one_line_error):
    with pytest.raises(InvalidInput) as err:
        resolve_device("cuda")
    assert "device=cpu" in str(err.value) and "\n" not in str(err.value)
    for args in (["evaluate", "-m", "expert", "-t", "task"], ["evaluate", "--all"]):
        result = CliRunner().invoke(main, ["--db", zoo_url, *args, "--device", "cuda", "--quiet"])
        assert_one_line_error(result, None, "no CUDA GPU", "--device cpu")


def test_an_unknown_device_is_refused():
    with pytest.raises(InvalidInput, match="device="):
        resolve_device("tpu")
