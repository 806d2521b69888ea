"""A tiny zoo to fill (tiny experts as safetensors files, tiny PNG tasks) and one Ray cluster per session.

``jobs_data``   session: three tiny resnet experts (``file:`` weights with a
                JSON sidecar) and four tasks (folders of ``train/`` and
                ``test/`` PNGs), made once.
``fill``        registers them in a registry: ``fill(url)`` -> the store.
``ray_cluster`` session: a Ray head and one worker node on this machine (one
                CPU each; Ray's own choice of the host's address, which the
                driver can reach), this process connected as the driver; shut
                down at the end. Without Ray the tests skip, except under ``$CI``, where they fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.embedding.conftest import TINY_RESNET, write_task_folder

MODELS, TASKS = 2, 3


def _write_expert(path: Path, seed: int) -> None:
    """A tiny resnet with seeded weights and BatchNorm statistics moved off init (16 px inputs)."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model("resnet18", num_classes=3, **TINY_RESNET)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 16, 16))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(
        json.dumps({"arch": "resnet18", "model_args": TINY_RESNET, "input_size": [3, 16, 16], "crop_pct": 1.0})
    )


@pytest.fixture(scope="session")
def jobs_data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("jobs-data")
    experts = {}
    for i in range(MODELS):
        path = root / f"expert{i}.safetensors"
        _write_expert(path, seed=i)
        experts[f"expert{i}"] = f"file:{path}"
    tasks = {}
    for j in range(TASKS):
        folder = root / f"task{j}"
        write_task_folder(folder / "train", per_class=4, seed=j, shift=j)
        write_task_folder(folder / "test", per_class=4, seed=100 + j, shift=j)
        tasks[f"task{j}"] = folder
    return {"experts": experts, "tasks": tasks}


@pytest.fixture
def fill(jobs_data: dict):
    """``fill(url)``: a registry at ``url`` holding the tiny experts and tasks (no results yet)."""
    from registry.store import Store
    from zoo.data import fingerprint, load_labelled

    opened = []

    def make(url: str) -> Store:
        store = Store.open(url)
        opened.append(store)
        for name, source in jobs_data["experts"].items():
            store.add_model(name, source, arch="resnet18")
        for name, folder in jobs_data["tasks"].items():  # the content fingerprint an embedding checks against
            images = load_labelled(folder)
            store.add_task(
                name, data_uri=str(folder), num_classes=3, num_samples=len(images), fingerprint=fingerprint(images)
            )
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def ray_cluster():
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError as err:
        if os.environ.get("CI"):
            pytest.fail(f"Ray is required in CI ({err}); install the extra: pip install -e '.[ray]'")
        pytest.skip(f"Ray unavailable: {err}")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4},
        },
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="warning", log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
