"""Slow twins of Model2Vec's training losses and of its read-out/calibration, on tiny inputs.

Each twin is written from the formulas in :mod:`zoo.model2vec.training` with plain Python loops and scalar
maths (``math``), or a generic least-squares solver, and shares no code with the routine it checks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.model2vec import expected_error
from zoo.model2vec import training as tr
from zoo.model2vec.inputs import SOURCE_FLOOR, Model2VecConfig, TrainingData

TOL = 1e-12


# ---------------------------------------------------------------------- scalar formulas
def d_sym(a, b) -> float:
    """1 - cos(r, 1 - r) with r = a / (a + b), filters where both are 0 left out; one pair, scalars."""
    u = [x / (x + y) for x, y in zip(a, b) if x + y > 0]
    v = [y / (x + y) for x, y in zip(a, b) if x + y > 0]
    dot = sum(p * q for p, q in zip(u, v))
    return 1.0 - dot / math.sqrt(sum(p * p for p in u) * sum(q * q for q in v))


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(e: float, clip: float = 0.005) -> float:
    e = min(max(e, clip), 1.0 - clip)
    return math.log(e / (1.0 - e))


def model_vector(source, beta, trained: bool) -> list[float]:
    """m_i = floor(F_i) * exp(beta_i) for a trained model (floor: SOURCE_FLOOR x the vector's mean), else F_i."""
    if not trained:
        return [float(f) for f in source]
    floor = SOURCE_FLOOR * sum(source) / len(source)
    return [max(float(f), floor) * math.exp(float(b)) for f, b in zip(source, beta)]


def twin_distances(p, model_shift: bool, rows) -> list[list[float]]:
    """d[t][i] = d_sym(t, m_i) - alpha d_sym(t0, m_i) (+ q_i for a trained model with the shift on)."""
    tasks, t0 = p.tasks.detach().tolist(), p.t0.detach().tolist()
    raw, beta = p.raw.detach().tolist(), p.beta.detach().tolist()
    trained = [bool(x) for x in p.trainable[:, 0].tolist()]
    shift = p.shift.detach().tolist()
    alpha = softplus(float(p.alpha_raw.detach()))
    models = [model_vector(raw[i], beta[i], trained[i]) for i in range(len(raw))]
    out = []
    for t in rows:
        row = []
        for i, m in enumerate(models):
            d = d_sym(tasks[t], m) - alpha * d_sym(t0, m)
            if model_shift and trained[i]:
                d += shift[i]
            row.append(d)
        out.append(row)
    return out


def twin_loss(p, config: Model2VecConfig, rows, train_rows, errors) -> float:
    """Per task, cross-entropy (log-sum-exp over the measured models) against the lowest-error model;
    the regression's mean squared error of a + softplus(s) d over the measured pairs, over the variance of
    the training rows' measured errors; weighted and summed."""
    d = twin_distances(p, config.model_shift, rows)
    tau = math.exp(float(p.log_tau.detach()))
    ce, squares = [], []
    a, slope = float(p.intercept.detach()), softplus(float(p.slope_raw.detach()))
    for k, t in enumerate(rows):
        measured = [i for i in range(errors.shape[1]) if not math.isnan(errors[t, i])]
        best = min(measured, key=lambda i: errors[t, i])
        z = {i: -d[k][i] / tau for i in measured}
        top = max(z.values())
        ce.append(top + math.log(sum(math.exp(v - top) for v in z.values())) - z[best])
        squares += [(a + slope * d[k][i] - errors[t, i]) ** 2 for i in measured]
    observed = [errors[t, i] for t in train_rows for i in range(errors.shape[1]) if not math.isnan(errors[t, i])]
    mean = sum(observed) / len(observed)
    variance = sum((e - mean) ** 2 for e in observed) / len(observed)
    total = 0.0
    if config.objective in ("ce", "both"):
        total += config.ce_weight * sum(ce) / len(ce)
    if config.objective in ("regression", "both"):
        total += config.regression_weight * sum(squares) / len(squares) / variance
    return total


# ---------------------------------------------------------------------- (a) the losses
def tiny_problem(seed: int = 1, T: int = 5, M: int = 4, D: int = 6):
    """T tasks, M models (the last never measured: untrained; one source filter 0: floored), NaN errors."""
    rng = np.random.default_rng(seed)
    errors = rng.uniform(0.05, 0.6, (T, M))
    errors[rng.random((T, M)) < 0.25] = np.nan
    errors[:, M - 1] = np.nan
    for t in range(T):  # at least two measured models per task, as training requires
        if np.isfinite(errors[t]).sum() < 2:
            errors[t, :2] = rng.uniform(0.05, 0.6, 2)
    sources = np.exp(rng.normal(size=(M, D)))
    sources[0, 2] = 0.0  # below the floor: trained from SOURCE_FLOOR x its mean
    sources[M - 1, 1] = 0.0  # untrained: kept as F_i, zero included
    data = TrainingData(
        tuple(f"t{i}" for i in range(T)),
        np.exp(rng.normal(size=(T, D))),
        tuple(f"m{i}" for i in range(M)),
        sources,
        errors,
        np.exp(rng.normal(size=D)),
    )
    return data, errors, rng


@pytest.mark.parametrize("objective", ["both", "ce", "regression"])
@pytest.mark.parametrize("model_shift", [True, False])
def test_loss_and_distances_match_scalar_twins(objective, model_shift):
    data, errors, rng = tiny_problem()
    config = Model2VecConfig(objective=objective, model_shift=model_shift, ce_weight=0.7, regression_weight=1.3)
    train_idx = [0, 1, 2, 3]
    trained_mask = np.isfinite(errors[train_idx]).any(axis=0)
    assert not trained_mask[-1] and trained_mask[:-1].all()
    p = tr._prepare(data, errors, train_idx, trained_mask, config)
    with torch.no_grad():  # move every parameter off its initial value
        p.beta.copy_(torch.tensor(rng.normal(scale=0.4, size=p.beta.shape)))
        p.shift.copy_(torch.tensor(rng.normal(scale=0.1, size=p.shift.shape)))
        p.alpha_raw.fill_(-0.7)
        p.log_tau.fill_(math.log(0.05))
        p.intercept.fill_(0.31)
        p.slope_raw.fill_(0.4)
    for rows in ([0, 1, 2, 3, 4], [1, 2, 4]):
        d, models = tr._distances(p, config, rows)
        want = twin_distances(p, model_shift, rows)
        np.testing.assert_allclose(d.detach().numpy(), want, rtol=0, atol=TOL)
        got = tr._loss(p, config, rows, d).item()
        assert got == pytest.approx(twin_loss(p, config, rows, train_idx, errors), rel=TOL, abs=TOL)
    full, _ = tr._distances(p, config)
    np.testing.assert_allclose(full.detach().numpy(), twin_distances(p, model_shift, range(5)), rtol=0, atol=TOL)


# ---------------------------------------------------------------------- (b) read-out and calibration
def ridge_by_lstsq(d, errors, rows, prior: float):
    """min sum (logit e - a - s d - c_i)^2 + prior sum c_i^2 over the measured pairs of ``rows``, as one
    augmented least-squares problem (a generic solver, not the normal equations): (a, s, [c_i])."""
    M = len(d[0])
    lines, target = [], []
    for t in rows:
        for i in range(M):
            if not math.isnan(errors[t, i]):
                lines.append([1.0, d[t][i]] + [1.0 if j == i else 0.0 for j in range(M)])
                target.append(logit(errors[t, i]))
    for i in range(M):
        lines.append([0.0, 0.0] + [math.sqrt(prior) if j == i else 0.0 for j in range(M)])
        target.append(0.0)
    theta = np.linalg.lstsq(np.array(lines), np.array(target), rcond=None)[0]
    return float(theta[0]), float(theta[1]), [float(c) for c in theta[2:]]


def test_readout_and_calibration_match_a_scalar_recomputation(monkeypatch):
    """After a short run: every (task, model) expected error recomputed from the trained parameters, with the
    calibration's per-model offset c_i / s folded into the shift of trained models only, as the run reports."""
    rng = np.random.default_rng(3)
    T, M, D = 10, 4, 5
    tasks = np.exp(rng.normal(size=(T, D)))
    sources = tasks[[0, 3, 5, 7]]
    hidden = sources * np.exp(rng.normal(size=sources.shape))
    t0 = np.ones(D)
    errors = np.array([[0.2 + d_sym(t, h) - 0.15 * d_sym(t0, h) for h in hidden] for t in tasks])
    errors += rng.normal(scale=0.01, size=errors.shape)
    val_tasks = ["t7", "t8", "t9"]
    errors[:7, 3] = np.nan  # model 3: no training result (untrained), but measured on validation tasks
    errors[1, 0] = errors[4, 2] = errors[8, 1] = np.nan
    errors[2, 1] = 0.001  # below the logit clip
    data = TrainingData(tuple(f"t{i}" for i in range(T)), tasks, tuple(f"m{i}" for i in range(M)), sources, errors, t0)
    config = Model2VecConfig(epochs=15, lr=0.05, model_shift=True, seed=0)

    captured = {}
    original = tr._readout

    def spy(p, *args, **kwargs):
        captured["p"] = p
        captured["readout"] = original(p, *args, **kwargs)
        return captured["readout"]

    monkeypatch.setattr(tr, "_readout", spy)
    result = tr.train_model2vec(data, config, val_tasks=val_tasks, progress=False)
    p, readout = captured["p"], captured["readout"]
    train_rows, val_rows = list(range(7)), [7, 8, 9]
    assert list(result.train_tasks) == [f"t{i}" for i in train_rows]
    trained = [True, True, True, False]
    np.testing.assert_array_equal(result.trained, trained)

    d = twin_distances(p, True, range(T))  # trained distances with the learned shift q_i
    a, s, c = ridge_by_lstsq(d, errors, train_rows, config.calibration_prior)
    assert s > 1e-3  # the free fit: the slope floor is not in play
    extra = [c[i] / s if trained[i] else 0.0 for i in range(M)]
    q = p.shift.detach().tolist()
    alpha = softplus(float(p.alpha_raw.detach()))

    assert result.alpha == pytest.approx(alpha, rel=TOL)
    assert result.error_link == "logit"
    assert result.error_map[0] == pytest.approx(a, rel=1e-10, abs=TOL)
    assert result.error_map[1] == pytest.approx(s, rel=1e-10, abs=TOL)
    np.testing.assert_allclose(result.shift, [q[i] + extra[i] if trained[i] else 0.0 for i in range(M)], atol=TOL)
    distance = [[d[t][i] + extra[i] for i in range(M)] for t in range(T)]
    np.testing.assert_allclose(readout.distance, distance, rtol=0, atol=TOL)
    cold = config.alpha_init  # the untrained read-out: raw F_i, alpha at its initial value, no shift
    untrained = [[d_sym(tasks[t], sources[i]) - cold * d_sym(t0, sources[i]) for i in range(M)] for t in range(T)]
    np.testing.assert_allclose(readout.untrained, untrained, rtol=0, atol=TOL)

    expected = [[sigmoid(a + s * distance[t][i]) for i in range(M)] for t in range(T)]
    np.testing.assert_allclose(
        expected_error(readout.distance, result.error_map, result.error_link), expected, rtol=0, atol=TOL
    )
    for name, rows in (("training", train_rows), ("validation", val_rows)):
        gaps = [abs(expected[t][i] - errors[t, i]) for t in rows for i in range(M) if not math.isnan(errors[t, i])]
        mae = 100.0 * sum(gaps) / len(gaps)
        assert result.metrics[name]["error_mae_points"] == pytest.approx(mae, rel=1e-10, abs=1e-10)

    vectors = [model_vector(sources[i], p.beta[i].detach().tolist(), trained[i]) for i in range(M)]
    np.testing.assert_allclose(result.vectors, vectors, rtol=1e-6)
    np.testing.assert_array_equal(result.bias[3], np.zeros(D, dtype=np.float32))
