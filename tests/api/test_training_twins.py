"""Slow twins of what a fitted Model2Vec run computes for the registry layer, on tiny hand-built runs.

:class:`zoo.api.training.Fitted` (its priors and expected errors) and
:meth:`zoo.api.folds.FoldContext.examples` against plain loops and scalar formulas. The run and the space
are built directly (no registry, no training): the methods read only their fields.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from zoo.api.folds import FoldContext, FoldRun
from zoo.api.space import EmbeddingSpace
from zoo.api.training import Fitted, Prepared
from zoo.model2vec import Model2VecConfig, Model2VecResult

TOL = 1e-12
NAN = math.nan


def d_sym(a, b) -> float:
    """1 - cos(r, 1 - r), r = a / (a + b) over the filters not 0 in both; one pair, scalars."""
    u = [x / (x + y) for x, y in zip(a, b) if x + y > 0]
    v = [y / (x + y) for x, y in zip(a, b) if x + y > 0]
    dot = sum(p * q for p, q in zip(u, v))
    return 1.0 - dot / math.sqrt(sum(p * p for p in u) * sum(q * q for q in v))


def logit(p: float, clip: float = 0.005) -> float:
    p = min(max(p, clip), 1.0 - clip)
    return math.log(p / (1.0 - p))


def median(values) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def tiny_fitted(*, link: str = "logit", shift: bool = True, seed: int = 0) -> Fitted:
    """6 tasks, 4 models (model 2 untrained, with a stray vector and shift the run must ignore); tasks t4, t5
    unseen (t5 measured for model 3, which no seen task measured)."""
    rng = np.random.default_rng(seed)
    T, M, D = 6, 4, 5
    names = [f"t{i}" for i in range(T)]
    space = EmbeddingSpace(
        probe="p",
        method="m",
        task_names=names,
        task_vectors=np.exp(rng.normal(size=(T, D))),
        t0=np.exp(rng.normal(size=D)),
        models=[SimpleNamespace(name=f"m{i}", trained_on=None) for i in range(M)],
        sources=np.exp(rng.normal(size=(M, D))),
    )
    errors = rng.uniform(0.05, 0.7, (T, M))
    errors[[0, 1, 2, 3], 3] = NAN  # model 3: measured only on the unseen task t5
    errors[[1, 4], 0] = NAN
    errors[2, 1] = NAN
    result = Model2VecResult(
        model_names=tuple(m.name for m in space.models),
        bias=np.zeros((M, D), dtype=np.float32),
        vectors=np.exp(rng.normal(size=(M, D))).astype(np.float32),
        trained=np.array([True, True, False, True]),
        alpha=0.23,
        tau=0.02,
        error_map=(-0.2, 3.0) if link == "identity" else (-1.1, 2.5),
        train_tasks=("t0", "t2", "t3"),
        val_tasks=("t1",),
        metrics={},
        shift=rng.normal(scale=0.1, size=M) if shift else None,
        error_link=link,
    )
    return Fitted(result, Prepared(space, None, errors, Model2VecConfig(), False))


def test_prior_errors_are_each_models_mean_finite_error_over_the_seen_tasks():
    fitted = tiny_fitted()
    seen = [fitted.space.task_names.index(t) for t in ["t0", "t2", "t3", "t1"]]
    want = []
    for i in range(4):
        values = [fitted.errors[t, i] for t in seen if not math.isnan(fitted.errors[t, i])]
        want.append(sum(values) / len(values) if values else NAN)
    assert math.isnan(want[3])  # measured only on an unseen task
    np.testing.assert_allclose(fitted.prior_errors(), want, rtol=0, atol=TOL)


def test_prior_errors_without_seen_tasks_are_nan():
    fitted = tiny_fitted()
    from dataclasses import replace

    empty = Fitted(replace(fitted.result, train_tasks=(), val_tasks=()), fitted.prepared)
    assert np.isnan(empty.prior_errors()).all() and empty.prior_errors().shape == (4,)


@pytest.mark.parametrize("link,shift", [("logit", True), ("identity", True), ("logit", False)])
def test_expected_errors_match_a_pair_at_a_time(link, shift):
    """d_sym(v, t) - alpha d_sym(v, t0) + shift, then the link; an untrained model takes its source vector
    and no shift, whatever the run holds for it."""
    fitted = tiny_fitted(link=link, shift=shift)
    r, space = fitted.result, fitted.space
    a, s = r.error_map
    want = []
    for t in space.task_vectors:
        row = []
        for i in range(len(r.model_names)):
            trained = bool(r.trained[i])
            v = [float(x) for x in (r.vectors[i] if trained else space.sources[i])]
            q = float(r.shift[i]) if (trained and r.shift is not None) else 0.0
            line = a + s * (d_sym(v, t) - r.alpha * d_sym(v, space.t0) + q)
            row.append(1.0 / (1.0 + math.exp(-line)) if link == "logit" else min(max(line, 0.0), 1.0))
        want.append(row)
    got = fitted.expected_errors()
    if link == "identity":
        flat = [x for row in want for x in row]
        assert 0.0 in flat or 1.0 in flat  # the clip is exercised
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_fold_context_examples_match_loops(monkeypatch):
    """Each measured task of ``tasks`` the fold never saw: its row of the fold's expected errors, the prior, its
    truth, its nearest seen task's d_sym over the median of the fold's reference, whether its collection was
    left out, and the difficulty offset slope * (d_t - centre) of a least-squares line fitted on the seen
    tasks' logit(error) - logit(prior)."""
    monkeypatch.setattr(
        "zoo.shrinkage.trust.MIN_DIFFICULTY_TASKS", 2
    )  # four seen tasks here; the guard: test_shrinkage
    rng = np.random.default_rng(4)
    T, M = 8, 3
    names = [f"t{i}" for i in range(T)]
    collection = {n: ("a" if i < 3 else "b" if i < 6 else "c") for i, n in enumerate(names)}
    truth = rng.uniform(0.02, 0.9, (T, M))
    truth[6] = NAN  # t6: never measured
    truth[0, 1] = truth[4, 2] = NAN
    truth[1, 0] = 0.001  # below the logit clip
    dsym = rng.uniform(0.05, 0.6, (T, T))
    dsym = (dsym + dsym.T) / 2.0
    np.fill_diagonal(dsym, 0.0)
    difficulty = rng.normal(size=T)
    difficulty[4] = NAN  # an unseen task without a difficulty: offset 0
    difficulty[2] = NAN  # a seen task without one: left out of the fit

    context = FoldContext.__new__(FoldContext)  # the fields examples() reads, without a registry
    context.base = SimpleNamespace(space=SimpleNamespace(task_names=names))
    context.row = {n: i for i, n in enumerate(names)}
    context.measured = [n for i, n in enumerate(names) if np.isfinite(truth[i]).any()]
    context.collection, context.truth, context.dsym, context.difficulty = collection, truth, dsym, difficulty
    seen = (0, 1, 2, 5)
    fold = FoldRun(
        left_out=("b",),
        fitted=None,
        expected=rng.uniform(0.05, 0.9, (T, M)),
        prior=np.array([0.3, 0.45, NAN]),  # model 2 without a prior: out of the fit
        reference=np.array([0.12, 0.3, 0.2, 0.5]),
        seen=seen,
    )
    tasks = ["t7", "t3", "t0", "t6", "zz", "t4"]  # t0 seen, t6 unmeasured, zz unknown: skipped

    xs, ys = [], []
    for t in seen:
        for i in range(M):
            if not math.isnan(truth[t, i]) and not math.isnan(difficulty[t]) and not math.isnan(fold.prior[i]):
                xs.append(difficulty[t])
                ys.append(logit(truth[t, i]) - logit(fold.prior[i]))
    centre, ybar = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - centre) * (y - ybar) for x, y in zip(xs, ys)) / sum((x - centre) ** 2 for x in xs)
    assert abs(slope) > 1e-3

    got = context.examples(fold, tasks)
    assert [e.task for e in got] == ["t7", "t3", "t4"]
    for e in got:
        r = names.index(e.task)
        np.testing.assert_array_equal(e.expected, fold.expected[r])
        np.testing.assert_array_equal(e.prior, fold.prior)
        np.testing.assert_array_equal(e.truth, truth[r])
        nearest = min(dsym[r][j] for j in seen)
        assert e.ratio == pytest.approx(nearest / median(fold.reference), rel=TOL)
        assert e.novel == (collection[e.task] == "b")
        want = 0.0 if math.isnan(difficulty[r]) else slope * (difficulty[r] - centre)
        assert e.offset == pytest.approx(want, rel=1e-10, abs=TOL)
    assert context.examples(fold, ["t0", "t6"]) == []
