"""A synthetic registry whose transfer errors follow a hidden rule the trainer must recover."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PROBE = "synthprobe@0123456789ab"
METHOD = "montecarlo"
DIM = 6


def fill_registry(store, *, num_tasks: int = 40, num_models: int = 6, seed: int = 0) -> dict:
    """Tasks with positive embeddings, models trained on some of them, errors = 0.2 + d_asym(hidden m_i -> t)."""
    from zoo.embedding.distance import d_asym_matrix

    rng = np.random.default_rng(seed)
    store.ensure_probe(
        PROBE,
        arch="resnet_synth",
        weights_checksum="0123456789ab" * 5,
        embedding_length=DIM,
        layers=tuple(f"layer{i}" for i in range(DIM)),
    )
    tasks = np.exp(rng.normal(size=(num_tasks, DIM)))
    t0 = np.full(DIM, 0.05)
    task_names = [f"task{i:02d}" for i in range(num_tasks)]
    for name, vec in zip(task_names, tasks):
        store.add_task(name, data_uri=f"file:///nowhere/{name}", num_classes=5, num_samples=100, fingerprint=name)
        store.put_task_embedding(
            name,
            PROBE,
            METHOD,
            vec.astype(np.float32),
            prior=t0.astype(np.float32),
            sample_count=100,
            seed=0,
            params={"seconds": 0.5},
            package_version="test",
        )
    source_idx = rng.choice(num_tasks, size=num_models, replace=False)
    hidden = tasks[source_idx] * np.exp(rng.normal(size=(num_models, DIM)))
    errors = 0.2 + d_asym_matrix(hidden, tasks, t0, 0.15).T  # [T, M]
    model_names = [f"expert{j}" for j in range(num_models)]
    for j, name in enumerate(model_names):
        store.add_model(name, f"timm:resnet18.synthetic{j}", arch="resnet18", trained_on=task_names[source_idx[j]])
        for i, task in enumerate(task_names):
            store.add_transfer_result(
                name,
                task,
                metric="error",
                value=float(errors[i, j]),
                protocol="linear",
                protocol_params={},
                train_size=50,
                test_size=50,
            )
    return {"tasks": tasks, "task_names": task_names, "model_names": model_names, "errors": errors, "t0": t0}


@pytest.fixture(scope="session")
def _template_zoo(tmp_path_factory):
    """One filled registry file per session; each test gets a copy (filling costs ~2 s of small writes)."""
    from registry.store import Store

    path = tmp_path_factory.mktemp("template") / "zoo.db"
    store = Store.open(f"sqlite:///{path}")
    truth = fill_registry(store)
    store.close()
    return path, truth


@pytest.fixture
def synthetic_zoo(_template_zoo, tmp_path):
    import shutil

    from zoo.api import Zoo

    template, truth = _template_zoo
    for suffix in ("", "-wal", "-shm"):
        if Path(str(template) + suffix).exists():
            shutil.copy(str(template) + suffix, str(tmp_path / "zoo.db") + suffix)
    zoo = Zoo.open(f"sqlite:///{tmp_path / 'zoo.db'}")
    yield zoo, truth
    zoo.close()
