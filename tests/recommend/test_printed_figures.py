"""What recommend prints for each expert, recomputed by the formulas of docs/recommend.md from the stored
records alone (model vectors, shifts and priors; the run's alpha, error map, shrinkage and novelty reference;
the task embeddings and the query's head accuracy), one scalar at a time: the slow twin of the whole chain
(d_asym, the calibrated link, novelty, trust, the prior at the query's difficulty, the blend, the interval)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from zoo.api import Zoo
from zoo.demo import SHIPPED_ZOO
from zoo.embedding.distance import d_sym


def _logit(p):
    p = min(max(p, 0.005), 0.995)
    return math.log(p / (1 - p))


def _sigmoid(z):
    return 1 / (1 + math.exp(-z))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('printed') / 'zoo.db'}"
    with Zoo.open(url) as z:
        z.import_(SHIPPED_ZOO)
    return url


@pytest.mark.parametrize(
    "task", ["script-avestan", "emoji-heart", "fashion-pullo-dress-coat", "emoji-face-costume", "script-coptic"]
)
def test_every_printed_expected_error_and_interval_follows_from_the_stored_records(shipped, task):
    with Zoo.open(shipped) as z:
        store = z.store
        recs = {r.model: r for r in z.recommend(task, k=100, progress=False)}
        (probe,) = store.list_probes()  # the shipped zoo has one probe, one method and its latest run ranks
        run = store.latest_model2vec_run(probe.name, "montecarlo")
        h = run.hyperparams
        embeddings = {e.task: e for e in store.list_task_embeddings(probe=run.probe, method=run.method)}
        models = {e.model: e for e in store.list_model_embeddings(run.id)}
        results = store.list_transfer_results()
    query = embeddings[task]
    t = np.asarray(query.vector, dtype=np.float64)
    t0 = np.mean([np.asarray(e.prior, dtype=np.float64) for e in embeddings.values()], axis=0)
    alpha, (a, s) = h["alpha"], h["error_map"]

    # novelty: the nearest seen task's d_sym over the median of the seen tasks' own nearest-neighbour distances
    seen = [n for n in run.metrics["train_tasks"] + run.metrics["val_tasks"] if n in embeddings]
    nearest = min(d_sym(t, embeddings[n].vector) for n in seen)
    ratio = nearest / statistics.median(h["novelty_reference"])
    wa, wb = h["shrinkage"]["weight"]
    w = _sigmoid(wa - wb * math.log(max(ratio, 1e-12)))  # a ratio of 0 (a seen task) is floored as in trust_weight

    # the difficulty offset: least squares of logit(error) - logit(prior) on the seen tasks' difficulties
    def difficulty(e):
        return _logit(1 - e.params["head"]["train_accuracy"])

    prior = {m: e.params["prior_error"] for m, e in models.items() if e.trained and "prior_error" in e.params}
    xs, ys = [], []
    for r in results:
        if r.task in seen and r.model in prior and r.metric == h["metric"] and r.protocol == h["protocol"]:
            xs.append(difficulty(embeddings[r.task]))
            ys.append(_logit(r.value) - _logit(prior[r.model]))
    slope, _ = np.polyfit(xs, ys, 1)
    offset = slope * (difficulty(query) - sum(xs) / len(xs))

    # the interval is read at the ratio, but never below the least novel held-out task's
    median = statistics.median(h["novelty_reference"])
    floor = min(
        min(d_sym(embeddings[x].vector, embeddings[n].vector) for n in seen) / median for x in h["excluded_tasks"]
    )
    at = max(ratio, floor)
    lo0, lo1 = h["shrinkage"]["interval"]["low"]
    hi0, hi1 = h["shrinkage"]["interval"]["high"]
    down, up = min(lo0 + lo1 * math.log(at), 0.0), max(hi0 + hi1 * math.log(at), 0.0)
    assert len(recs) == len(prior) == 48
    for name, e in models.items():
        v = np.asarray(e.vector, dtype=np.float64)
        distance = d_sym(v, t) - alpha * d_sym(v, t0) + e.params.get("shift", 0.0)
        raw = _sigmoid(a + s * distance)
        base = _logit(prior[name]) + offset
        expected = _sigmoid(base + w * (_logit(raw) - base))
        rec = recs[name]
        assert rec.model2vec_error == pytest.approx(raw, rel=1e-6), name
        assert rec.expected_error == pytest.approx(expected, rel=1e-6), name
        assert rec.low == pytest.approx(min(max(expected + down, 0.0), 1.0), abs=1e-9), name
        assert rec.high == pytest.approx(min(max(expected + up, 0.0), 1.0), abs=1e-9), name
        assert rec.trust == pytest.approx(w, rel=1e-9) and rec.novelty.ratio == pytest.approx(ratio, rel=1e-9)
    if task == "script-coptic":  # a task the run learned from: its own nearest seen task, read at the floor
        assert ratio == 0.0 and at == floor > 0.3


def test_the_interval_floor_is_the_stored_one_else_the_least_novel_held_out_task(shipped):
    import dataclasses

    from zoo.api.ranking import RunTrust
    from zoo.shrinkage import Interval

    with Zoo.open(shipped) as z:
        (probe,) = z.store.list_probes()
        run = z.store.latest_model2vec_run(probe.name, "montecarlo")
        tasks = z.indexes.tasks(run.probe, run.method)
        older = RunTrust.load(z.store, run, tasks.names, tasks.vectors)  # the shipped run predates the floor
        stored = run.hyperparams["shrinkage"]
        h = dict(run.hyperparams, shrinkage=dict(stored, interval=dict(stored["interval"], floor=0.9)))
        newer = RunTrust.load(z.store, dataclasses.replace(run, hyperparams=h), tasks.names, tasks.vectors)
    assert "floor" not in stored["interval"]
    held = [tasks.names.index(t) for t in run.hyperparams["excluded_tasks"]]
    least = min(n.ratio for n in (older.novelty(tasks.vectors[i]) for i in held))
    assert older.shrinkage.interval.floor == pytest.approx(least) and 0.3 < least < 0.9
    assert newer.shrinkage.interval.floor == 0.9
    # the rest of the interval is the stored one
    assert dataclasses.replace(older.shrinkage.interval, floor=0.0) == Interval.from_dict(stored["interval"])
