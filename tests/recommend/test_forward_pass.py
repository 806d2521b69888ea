"""--verify and the scorer baselines, with the expert networks replaced by feature stubs.

The stubs stand in for timm networks: expert ``GOOD`` yields features that
separate the classes, every other expert yields noise, so LogME/LEEP must put
``GOOD`` first. Only the wiring is under test here; the scorers themselves are
tested against their slow twins in tests/scorers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import METHOD, PROBE

GOOD = "expert3"


class _Images:
    def __init__(self, n=60, classes=3):
        self.labels = [i % classes for i in range(n)]

    def __len__(self):
        return len(self.labels)


class _Network:
    def __init__(self, source):
        self.source = source
        self.head = torch.nn.Linear(4, 5)
        torch.nn.init.normal_(self.head.weight, std=3.0)

    def get_classifier(self):
        return self.head


def _features(network, images, progress=True):
    labels = np.asarray(images.labels)
    rng = np.random.default_rng(abs(hash(network.source)) % 2**32)
    noise = rng.normal(size=(len(labels), 4))
    if network.source.endswith("synthetic3"):
        return (np.eye(4)[labels] * 6.0 + 0.3 * noise).astype(np.float32)
    return noise.astype(np.float32)


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    import zoo.data
    import zoo.networks

    loaded = []
    monkeypatch.setattr(zoo.networks, "load_network", lambda source, **kw: loaded.append(source) or _Network(source))
    monkeypatch.setattr(zoo.networks, "extract_features", _features)
    monkeypatch.setattr(zoo.data, "load_labelled", lambda path, **kw: _Images())
    return loaded


def test_verify_reranks_the_top_k_by_logme(synthetic_zoo, stubbed, tmp_path):
    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    vector = truth["tasks"][0]
    monkey_embed = type(
        "E", (), {"vector": vector, "params": {}, "method": METHOD, "probe": type("P", (), {"name": PROBE})()}
    )
    zoo.embeddings.embed = lambda data, **kw: monkey_embed
    recs = zoo.recommend(str(tmp_path), k=len(truth["model_names"]), verify=len(truth["model_names"]), progress=False)
    assert len(stubbed) == len(truth["model_names"])  # one forward pass per verified expert
    verified = {r.model: r.verified_rank for r in recs}
    assert verified[GOOD] == 1
    assert [r.rank for r in recs] == list(range(1, len(recs) + 1))  # Model2Vec order kept, both rankings reported
    assert all(r.logme is not None for r in recs)


def test_the_verified_shortlist_always_holds_the_generic_pick(synthetic_zoo, stubbed, tmp_path):
    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    run = zoo.store.latest_model2vec_run(PROBE, METHOD)
    prior = {e.model: e.params["prior_error"] for e in zoo.store.list_model_embeddings(run.id) if e.trained}
    generic = min(prior, key=lambda m: (prior[m], m))
    monkey_embed = type(
        "E",
        (),
        {"vector": truth["tasks"][0], "params": {}, "method": METHOD, "probe": type("P", (), {"name": PROBE})()},
    )
    zoo.embeddings.embed = lambda data, **kw: monkey_embed
    plain = zoo.recommend(str(tmp_path), k=len(truth["model_names"]), progress=False)
    recs = zoo.recommend(str(tmp_path), k=1, verify=2, progress=False)
    assert len(stubbed) == 2 and len(recs) == 1  # two forward passes, k recommendations back
    verified = zoo.recommend(str(tmp_path), k=3, verify=2, progress=False)
    shortlist = {r.model for r in verified if r.logme is not None}
    assert shortlist == {plain[0].model, generic} if plain[0].model != generic else {plain[0].model, plain[1].model}


def test_evaluate_selection_runs_scorers_on_every_expert(synthetic_zoo, stubbed):
    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, val_fraction=0.25, progress=False)
    report = zoo.evaluate_selection(
        probe=PROBE, method=METHOD, tasks=["task00", "task01"], scorers=("logme", "leep"), progress=False
    )
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["logme"]["forward_passes_per_task"] == len(truth["model_names"])
    assert rows["Model2Vec"]["forward_passes_per_task"] == 1
    assert rows["logme"]["tasks"] == 2 and "| leep |" in report["markdown"]
    assert rows["Model2Vec + LogME top-3"]["forward_passes_per_task"] == 3  # the verified rankings, as recommend
    assert 0 <= rows["Model2Vec + LogME auto"]["forward_passes_per_task"] <= 5
    assert len(stubbed) == 2 * len(truth["model_names"])  # each scorer loads each expert once


def test_scorer_matrix_reads_each_task_once_per_chunk_and_equals_a_per_model_loop(synthetic_zoo, stubbed, monkeypatch):
    import math

    import zoo.api.judge as judge_module
    import zoo.data
    import zoo.networks
    from zoo.api.judge import scorer_value

    z, truth = synthetic_zoo
    tasks = truth["task_names"][:3]
    models = z.store.list_models()
    reads = []
    monkeypatch.setattr(zoo.data, "load_labelled", lambda path, **kw: reads.append(path) or _Images())
    monkeypatch.setattr(judge_module, "SCORER_CHUNK", 2)
    got = z.judge.scorer_matrix("logme", tasks, models, None, device="cpu")
    want = [[-scorer_value("logme", zoo.networks.load_network(m.source), _Images()) for m in models] for _ in tasks]
    np.testing.assert_allclose(got, np.array(want), rtol=1e-12)
    assert len(reads) == len(tasks) * math.ceil(len(models) / 2)  # once per task and chunk, not per model
