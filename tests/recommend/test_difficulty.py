"""The prior at the query's difficulty: on the ci bench, a harder query (its probe head fits worse) gets higher
expected errors, moved by one logit offset for every expert, in the same order."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest


def _logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p / (1 - p))


def test_a_harder_query_gets_higher_expected_errors_in_the_same_order(ci_bench, tmp_path):
    from zoo.api import Zoo
    from zoo.api.ranking import RunTrust

    shutil.copy(ci_bench["url"][len("sqlite:///") :], tmp_path / "bench.db")
    with Zoo.open(f"sqlite:///{tmp_path / 'bench.db'}") as z:
        run = next(r for p in z.store.list_probes() for r in [_latest(z, p.name)] if r is not None)
        trust = RunTrust.load(z.store, run, *_task_space(z, run))
        assert trust.difficulty is not None and trust.difficulty.slope != 0.0
        task = run.hyperparams["excluded_tasks"][0]
        record = z.store.get_task_embedding(task, run.probe, run.method)
        recommender = z.recommender
        models = len(z.models())

        def at(accuracy):
            params = {**record.params, "head": {**record.params["head"], "train_accuracy": accuracy}}
            recommender._registered_embedding = lambda *a: dataclasses.replace(record, params=params)
            return recommender.recommend(task, k=models, probe=run.probe, method=run.method, progress=False)

        easy, hard = at(0.999), at(0.97)  # its tasks fit their probe heads almost perfectly
    assert [r.model for r in easy] == [r.model for r in hard]
    e = np.array([r.expected_error for r in easy])
    h = np.array([r.expected_error for r in hard])
    inside = (e > 0.01) & (e < 0.99) & (h > 0.01) & (h < 0.99)
    assert inside.sum() >= 2
    moved = _logit(h[inside]) - _logit(e[inside])
    np.testing.assert_allclose(moved, moved[0], atol=1e-9)  # one offset for every expert
    assert np.sign(moved[0]) == np.sign(trust.difficulty.slope)
    for r in hard:
        assert r.low <= r.expected_error <= r.high


def _latest(z, probe):
    from registry.errors import NotFound
    from zoo.embedding import DEFAULT_METHOD

    try:
        return z.store.latest_model2vec_run(probe, DEFAULT_METHOD)
    except NotFound:
        return None


def _task_space(z, run):
    tasks = z.indexes.tasks(run.probe, run.method)
    return tasks.names, tasks.vectors


def test_the_run_stores_its_difficulty_fit_and_an_older_run_refits_the_same(ci_bench):
    from zoo.api import Zoo
    from zoo.api.ranking import _run_difficulty

    with Zoo.open(ci_bench["url"]) as z:
        run = next(r for p in z.store.list_probes() for r in [_latest(z, p.name)] if r is not None)
        stored = run.hyperparams["shrinkage"]["difficulty"]
        seen = [*run.metrics["train_tasks"], *run.metrics["val_tasks"]]
        prior = {e.model: e.params["prior_error"] for e in z.store.list_model_embeddings(run.id) if e.trained}
        shrinkage = {k: v for k, v in run.hyperparams["shrinkage"].items() if k != "difficulty"}
        older = dataclasses.replace(run, hyperparams={**run.hyperparams, "shrinkage": shrinkage})
        refit = _run_difficulty(z.store, older, seen, prior)
    assert refit.slope == pytest.approx(stored["slope"], rel=1e-9)
    assert refit.centre == pytest.approx(stored["centre"], rel=1e-9)
