"""The prior at the query's difficulty: a harder query (its probe head fits worse) gets higher expected errors,
moved by one logit offset for every expert, in the same order; a registry too small to fit that offset (the
ci bench's four seen tasks) gets none."""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pytest


def _logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p / (1 - p))


def test_a_harder_query_gets_higher_expected_errors_in_the_same_order(ci_bench, tmp_path, monkeypatch):
    from zoo.api import Zoo
    from zoo.api.ranking import RunTrust
    from zoo.shrinkage import trust as trust_module

    monkeypatch.setattr(trust_module, "MIN_DIFFICULTY_TASKS", 2)

    shutil.copy(ci_bench["url"][len("sqlite:///") :], tmp_path / "bench.db")
    with Zoo.open(f"sqlite:///{tmp_path / 'bench.db'}") as z:
        run = next(r for p in z.store.list_probes() for r in [_latest(z, p.name)] if r is not None)
        # the ci bench is too small to fit the offset (the next test); this one is about how a fitted one acts
        typical = _logit(1 - np.mean([0.999, 0.97]))
        h = {
            **run.hyperparams,
            "shrinkage": {**run.hyperparams["shrinkage"], "difficulty": {"slope": 0.8, "centre": typical}},
        }
        run = dataclasses.replace(run, hyperparams=h)
        z.store.latest_model2vec_run = lambda *a, **k: run
        trust = RunTrust.load(z.store, run, *_task_space(z, run))
        assert trust.difficulty is not None and trust.difficulty.slope == 0.8
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


def test_a_four_task_registry_fits_no_offset_and_a_hard_query_keeps_its_errors(ci_bench, tmp_path):
    """The offset needs MIN_DIFFICULTY_TASKS seen tasks of distinct difficulty; the ci bench's run has four (three
    of them fit their heads perfectly). Before the guard a query whose head missed 3% got +3 logits there."""
    from zoo.api import Zoo
    from zoo.api.ranking import RunTrust
    from zoo.shrinkage import MIN_DIFFICULTY_TASKS, Difficulty

    shutil.copy(ci_bench["url"][len("sqlite:///") :], tmp_path / "bench.db")
    with Zoo.open(f"sqlite:///{tmp_path / 'bench.db'}") as z:
        run = next(r for p in z.store.list_probes() for r in [_latest(z, p.name)] if r is not None)
        assert len(run.metrics["train_tasks"]) + len(run.metrics["val_tasks"]) < MIN_DIFFICULTY_TASKS
        assert run.hyperparams["shrinkage"]["difficulty"] == {"slope": 0.0, "centre": 0.0}
        assert RunTrust.load(z.store, run, *_task_space(z, run)).difficulty == Difficulty()
        # a run stored before the guard, with an offset fitted on these four tasks, is read without it
        h = {
            **run.hyperparams,
            "shrinkage": {**run.hyperparams["shrinkage"], "difficulty": {"slope": 1.7, "centre": -5}},
        }
        older = dataclasses.replace(run, hyperparams=h)
        assert RunTrust.load(z.store, older, *_task_space(z, run)).difficulty == Difficulty()
        task = run.hyperparams["excluded_tasks"][0]
        record = z.store.get_task_embedding(task, run.probe, run.method)
        recommender = z.recommender

        def at(accuracy):
            params = {**record.params, "head": {**record.params["head"], "train_accuracy": accuracy}}
            recommender._registered_embedding = lambda *a: dataclasses.replace(record, params=params)
            recs = recommender.recommend(task, k=len(z.models()), probe=run.probe, method=run.method, progress=False)
            return {r.model: (r.expected_error, r.difficulty_offset) for r in recs}

        easy, hard = at(0.999), at(0.6)
    assert easy == hard and all(offset == 0.0 for _, offset in hard.values())


def test_the_run_stores_its_difficulty_fit_and_an_older_run_refits_the_same(ci_bench, monkeypatch):
    """A run stored before the offset existed refits it on its seen tasks' recorded errors, its metric and
    protocol, as training does: the same zero offset on the ci bench, and, with the guard lowered to let its
    four tasks through, the per-pair least-squares line recomputed here from the stored records."""
    from zoo.api import Zoo, ranking
    from zoo.shrinkage import trust as trust_module

    with Zoo.open(ci_bench["url"]) as z:
        run = next(r for p in z.store.list_probes() for r in [_latest(z, p.name)] if r is not None)
        stored = run.hyperparams["shrinkage"]["difficulty"]
        seen = [*run.metrics["train_tasks"], *run.metrics["val_tasks"]]
        prior = {e.model: e.params["prior_error"] for e in z.store.list_model_embeddings(run.id) if e.trained}
        shrinkage = {k: v for k, v in run.hyperparams["shrinkage"].items() if k != "difficulty"}
        older = dataclasses.replace(run, hyperparams={**run.hyperparams, "shrinkage": shrinkage})
        refit = ranking._run_difficulty(z.store, older, seen, prior)
        monkeypatch.setattr(ranking, "_REFITTED", {})
        monkeypatch.setattr(trust_module, "MIN_DIFFICULTY_TASKS", 2)
        lowered = ranking._run_difficulty(z.store, older, seen, prior)
        heads = {
            e.task: e.params["head"]["train_accuracy"]
            for e in z.store.list_task_embeddings(probe=run.probe)
            if e.method == run.method
        }
        results = z.store.list_transfer_results()
    assert (refit.slope, refit.centre) == (stored["slope"], stored["centre"]) == (0.0, 0.0)

    def clipped_logit(p):
        p = min(max(p, 0.005), 0.995)
        return math.log(p / (1 - p))

    xs, ys = [], []
    for r in results:
        if r.task in seen and r.model in prior and r.metric == run.hyperparams["metric"]:
            if r.protocol == run.hyperparams["protocol"]:
                xs.append(clipped_logit(1 - heads[r.task]))
                ys.append(clipped_logit(r.value) - clipped_logit(prior[r.model]))
    slope, _ = np.polyfit(xs, ys, 1)
    assert len(set(xs)) >= 2 and slope != 0.0
    assert lowered.slope == pytest.approx(slope, rel=1e-9)
    assert lowered.centre == pytest.approx(float(np.mean(xs)), rel=1e-9)
