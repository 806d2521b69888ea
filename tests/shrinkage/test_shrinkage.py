"""Shrinkage toward the prior as a query moves away from the evidence; novelty; calibrated intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo import shrinkage as sh


def _logit(p):
    p = min(max(p, 0.005), 0.995)
    return math.log(p / (1 - p))


def blend_reference(expected, prior, ratio, weight):
    """One (task, model) at a time, straight from the formula in the module docstring."""
    a, b = weight
    out = np.empty_like(expected)
    for t in range(expected.shape[0]):
        w = 1 / (1 + math.exp(-(a - b * math.log(ratio[t]))))
        for i in range(expected.shape[1]):
            z = _logit(prior[i]) + w * (_logit(expected[t, i]) - _logit(prior[i]))
            out[t, i] = 1 / (1 + math.exp(-z))
    return out


def test_blend_matches_the_per_pair_formula():
    rng = np.random.default_rng(0)
    expected, prior = rng.uniform(0.01, 0.9, (5, 7)), rng.uniform(0.01, 0.9, 7)
    ratio = rng.uniform(0.2, 6.0, 5)
    np.testing.assert_allclose(
        sh.blend(expected, prior, ratio, (1.3, 2.1)), blend_reference(expected, prior, ratio, (1.3, 2.1)), rtol=1e-12
    )


def test_zero_weight_ranks_like_the_prior_and_full_weight_like_model2vec():
    rng = np.random.default_rng(1)
    expected, prior = rng.uniform(0.05, 0.9, (4, 6)), rng.uniform(0.05, 0.9, 6)
    ratio = np.ones(4)
    none = sh.blend(expected, prior, ratio, (-40.0, 0.0))
    full = sh.blend(expected, prior, ratio, (40.0, 0.0))
    assert (none.argmin(axis=1) == prior.argmin()).all()
    np.testing.assert_allclose(full, expected, rtol=1e-9)


def test_novelty_ratio_and_percentile_against_a_loop():
    rng = np.random.default_rng(2)
    train = rng.uniform(0.1, 1.0, (6, 6))
    train = (train + train.T) / 2
    ref = sh.nn_distances(train)
    for s in range(6):
        assert ref[s] == min(train[s, j] for j in range(6) if j != s)
    query = rng.uniform(0.05, 1.5, (3, 6))
    out = sh.novelty(query, ref, names=[f"t{j}" for j in range(6)])
    median = float(np.median(ref))
    for q, n in zip(query, out):
        assert n.distance == q.min() and n.nearest == f"t{int(q.argmin())}"
        assert n.ratio == pytest.approx(q.min() / median)
        assert n.percentile == pytest.approx(100 * sum(r <= q.min() for r in ref) / 6)


def _examples(rng, n, ratio, informative):
    """Queries whose truth follows Model2Vec's prediction when ``informative``, else is unrelated to it."""
    out = []
    prior = np.linspace(0.2, 0.4, 8)
    for k in range(n):
        expected = rng.uniform(0.05, 0.8, 8)
        truth = expected + rng.normal(0, 0.01, 8) if informative else prior + rng.normal(0, 0.02, 8)
        out.append(sh.FoldExample(f"q{k}", expected, prior, np.clip(truth, 0, 1), ratio, not informative))
    return out


def test_fitted_weight_trusts_model2vec_near_the_evidence_and_the_prior_far_from_it():
    rng = np.random.default_rng(3)
    examples = _examples(rng, 30, 0.8, True) + _examples(rng, 30, 5.0, False)
    weight = sh.fit_weight(examples)
    near, far = (
        sh.blend(np.array([[0.1, 0.5]]), np.array([0.5, 0.1]), np.array([0.8]), weight),
        sh.blend(np.array([[0.1, 0.5]]), np.array([0.5, 0.1]), np.array([5.0]), weight),
    )
    assert near[0].argmin() == 0  # Model2Vec's pick near the evidence
    assert far[0].argmin() == 1  # the prior's pick far from it
    # within the tie tolerance of the grid's best gap, and the least trusting of those ties
    ratios = np.array([e.ratio for e in examples])

    def mean_weight(a, b):
        return float(np.mean(1 / (1 + np.exp(-(a - b * np.log(ratios))))))

    grid = {(a, b): sh._mean_gap(examples, (a, b)) for a in sh.A_GRID for b in sh.B_GRID}
    best = min(grid.values())
    assert grid[weight] <= best + sh.GAP_TOLERANCE
    assert all(
        mean_weight(*weight) <= mean_weight(a, b) + 1e-12
        for (a, b), gap in grid.items()
        if gap <= best + sh.GAP_TOLERANCE
    )


def test_quantile_line_minimises_the_pinball_loss():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 2, 200)
    y = 0.3 * x + rng.normal(0, 0.1 + 0.05 * (x + 1), 200)

    def pinball(c0, c1, q):
        r = y - c0 - c1 * x
        return float(np.sum(np.maximum(q * r, (q - 1) * r)))

    for q in (0.1, 0.9):
        c0, c1 = sh._quantile_line(x, y, q)
        best_grid = min(pinball(a, b, q) for a in np.linspace(-1, 1, 41) for b in np.linspace(-0.5, 1, 31))
        assert pinball(c0, c1, q) <= best_grid + 1e-9
        assert abs(np.mean(y < c0 + c1 * x) - q) < 0.03


def test_interval_covers_about_its_nominal_share_on_fresh_data_from_the_same_law():
    rng = np.random.default_rng(5)
    fit = _examples(rng, 60, 1.0, True) + _examples(rng, 60, 4.0, False)
    fresh = _examples(rng, 60, 1.0, True) + _examples(rng, 60, 4.0, False)
    shrink = sh.fit_shrinkage(fit, ["a", "b"])
    assert 0.72 <= sh.coverage(fresh, shrink.weight, shrink.interval) <= 0.88
    assert sh.Shrinkage.from_dict(shrink.as_dict()) == shrink


def test_no_examples_gives_the_documented_default():
    assert sh.fit_weight([]) == sh.DEFAULT_WEIGHT
    assert sh.Shrinkage.from_dict(None).weight == sh.DEFAULT_WEIGHT
