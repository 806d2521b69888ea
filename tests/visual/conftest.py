"""A tiny synthetic registry (three task families, four experts) and the report built from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

PROBE, METHOD, DIM = "tiny-probe", "montecarlo", 16
FAMILIES = {"scripts/brahmic/north": 4, "scripts/latin": 4, "emoji/faces": 4}
ODD_TASK = 'x<script>alert("t")</script>&y'  # must show up escaped, never as markup
ODD_MODEL = 'm<b>"bold"</b>&co'


def fill_registry(store) -> dict:
    """Tasks in planted families (embeddings near a family centre), models, results, a Model2Vec run."""
    rng = np.random.default_rng(0)
    store.ensure_probe(
        PROBE, arch="resnet18", weights_checksum="0" * 64, embedding_length=DIM, layers=("layer3", "layer4")
    )
    tasks: dict[str, str] = {}
    for f, (taxonomy, count) in enumerate(FAMILIES.items()):
        centre = np.full(DIM, 0.05)
        centre[f * 5 : (f + 1) * 5] = 1.0
        for i in range(count):
            name = ODD_TASK if (f, i) == (2, 3) else f"{taxonomy.split('/')[-1]}_{i}"
            tasks[name] = taxonomy
            store.add_task(
                name,
                data_uri=f"/data/{name}",
                num_classes=5 + i,
                num_samples=100 + 10 * i,
                fingerprint=f"fp{f}{i}",
                taxonomy=f"{taxonomy}/{name}",
            )
            vector = centre * rng.uniform(0.8, 1.2, DIM)
            store.put_task_embedding(
                name,
                PROBE,
                METHOD,
                vector.astype(np.float32),
                sample_count=50,
                seed=0,
                params={},
                package_version="test",
            )
    # one task embedded with another method only: the default pair is still montecarlo
    store.put_task_embedding(
        "latin_0",
        PROBE,
        "expected",
        np.ones(DIM, np.float32),
        sample_count=50,
        seed=0,
        params={},
        package_version="test",
    )
    models = {"north_expert": "north_0", "latin_expert": "latin_0", ODD_MODEL: None, "generalist": None}
    for name, trained_on in models.items():
        store.add_model(
            name,
            f"file:/weights/{name}.safetensors",
            arch="resnet18",
            num_params=11_000_000,
            trained_on=trained_on,
            tags={"family": trained_on or "all"},
            check=False,
        )
    store.set_alias("best", "latin_expert")
    for m, model in enumerate(models):
        for t, task in enumerate(tasks):
            store.add_transfer_result(
                model,
                task,
                metric="test_error",
                value=0.05 + 0.1 * ((m + t) % 5),
                protocol="linear-probe",
                protocol_params={"epochs": 1},
                train_size=50,
                test_size=50,
            )
    store.add_model2vec_run(
        PROBE,
        METHOD,
        hyperparams={"epochs": 1},
        metrics={"val_top1": 0.5},
        embeddings={
            name: (np.zeros(DIM, np.float32), np.full(DIM, 0.3 + 0.1 * i, np.float32)) for i, name in enumerate(models)
        },
    )
    return {"tasks": tasks, "models": list(models)}


@pytest.fixture(scope="session")
def synthetic() -> dict:
    """The names the synthetic registry is built from."""
    return {"probe": PROBE, "method": METHOD, "families": FAMILIES, "odd_task": ODD_TASK, "odd_model": ODD_MODEL}


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory) -> str:
    from registry.store import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'zoo.db'}"
    with Store.open(url) as store:
        fill_registry(store)
    return url


@pytest.fixture(scope="module")
def selection_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("selection") / "evaluation.json"
    path.write_text(
        json.dumps(
            {
                "held_out_tasks": 12,
                "probe": PROBE,
                "methods": [
                    {"method": "model2vec", "relative_error": 12.5, "top1": 0.5},
                    {"method": "<chance>", "relative_error": 80.0, "top1": 0.1},
                ],
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def built_report(registry_url, selection_file, tmp_path_factory):
    """The report written once for the module: (ReportFiles, output dir)."""
    from zoo.api import Zoo

    out = tmp_path_factory.mktemp("site")
    with Zoo.open(registry_url, create=False) as zoo:
        files = zoo.report(out, selection=selection_file)
    return files, out
