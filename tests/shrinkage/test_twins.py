"""Slow twins of the shrinkage's searches and summaries: plain loops over pairs, no call into the code under test
(an audit found them checked only through their own helpers, or by one-sided bounds)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from zoo import shrinkage as sh
from zoo.shrinkage import interval as si
from zoo.shrinkage import trust as st


def _logit(p):
    p = min(max(p, 0.005), 0.995)
    return math.log(p / (1 - p))


def _sigmoid(z):
    return 1 / (1 + math.exp(-z))


def _examples(rng, n, models=5):
    """Queries with random expected errors, priors, truths (some unmeasured), novelty ratios and offsets."""
    prior = rng.uniform(0.1, 0.6, models)
    out = []
    for k in range(n):
        truth = rng.uniform(0.02, 0.9, models)
        truth[rng.random(models) < 0.2] = np.nan
        example = sh.FoldExample(
            f"q{k}", rng.uniform(0.02, 0.9, models), prior, truth, float(rng.uniform(0.3, 6.0)), bool(k % 2)
        )
        out.append(sh.FoldExample(**{**vars(example), "offset": float(rng.normal(0, 0.5))}))
    return out


def _ranking_error(ex, w, i, offset=0.0):
    """One pair's blended expected error, by the formula: the prior at the difficulty, moved w of the way."""
    base = _logit(ex.prior[i]) + offset
    return _sigmoid(base + w * (_logit(ex.expected[i]) - base))


def _trust(ratio, a, b):
    return _sigmoid(a - b * math.log(max(ratio, 1e-12)))


def fit_weight_reference(examples, grid_a, grid_b, tolerance):
    """Every grid point's mean top-pick gap, one example and one pair at a time; the least trusting of the ties."""
    scored = []
    for a in grid_a:
        for b in grid_b:
            gaps, weights = [], []
            for ex in examples:
                w = _trust(ex.ratio, a, b)
                weights.append(w)
                measured = [i for i in range(ex.truth.size) if not math.isnan(ex.truth[i])]
                if len(measured) < 2:
                    continue
                pick = min(measured, key=lambda i: (_ranking_error(ex, w, i), i))
                gaps.append(100 * (ex.truth[pick] - min(ex.truth[i] for i in measured)))
            scored.append((sum(gaps) / len(gaps), sum(weights) / len(weights), a, b))
    best = min(gap for gap, _, _, _ in scored)
    ties = [(w, -b, a) for gap, w, a, b in scored if gap <= best + tolerance]
    _, minus_b, a = min(ties)
    return a, -minus_b


def test_fit_weight_matches_a_grid_search_by_hand(monkeypatch):
    grid_a, grid_b = (-2.0, 0.0, 2.0, 4.0), (0.0, 1.5, 3.0)
    monkeypatch.setattr(st, "A_GRID", grid_a)
    monkeypatch.setattr(st, "B_GRID", grid_b)
    for seed in range(6):
        examples = _examples(np.random.default_rng(seed), 7)
        for tolerance in (0.0, sh.GAP_TOLERANCE, 5.0):
            want = fit_weight_reference(examples, grid_a, grid_b, tolerance)
            assert sh.fit_weight(examples, tolerance) == want


def test_top_pick_gap_is_the_measured_gap_of_the_lowest_score_ties_by_position():
    truth = np.array([0.30, np.nan, 0.10, 0.20])
    assert st.top_pick_gap(np.array([0.5, 0.0, 0.2, 0.2]), truth) == pytest.approx(0.0)  # 2 before 3 on the tie
    assert st.top_pick_gap(np.array([0.1, 0.0, 0.2, 0.2]), truth) == pytest.approx(20.0)  # the unmeasured 1 skipped
    assert math.isnan(st.top_pick_gap(np.array([0.1, 0.0, np.nan, np.nan]), truth))  # one scored and measured


def pinball_reference(x, y, c0, c1, q):
    return sum(max(q * r, (q - 1) * r) for r in (yi - c0 - c1 * xi for xi, yi in zip(x, y, strict=True)))


@pytest.mark.parametrize("q", [0.1, 0.5, 0.8, 0.9])
def test_quantile_line_attains_the_best_line_through_two_points(q):
    """A linear quantile fit has an optimum through two of the points: the exhaustive search over those lines
    gives the optimal pinball loss, and the solver's line must attain it (not merely beat a coarse grid)."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 2, 12)
        y = 0.3 * x + rng.normal(0, 0.2, 12)
        best = min(
            pinball_reference(x, y, y[i] - (y[j] - y[i]) / (x[j] - x[i]) * x[i], (y[j] - y[i]) / (x[j] - x[i]), q)
            for i, j in itertools.combinations(range(12), 2)
        )
        c0, c1 = si._quantile_line(x, y, q)
        assert pinball_reference(x, y, c0, c1, q) == pytest.approx(best, abs=1e-9)


def test_mean_abs_error_is_the_mean_gap_over_measured_pairs_of_the_offset_estimate():
    examples = _examples(np.random.default_rng(9), 6)
    weight = (1.0, 1.5)
    gaps = []
    for ex in examples:
        w = _trust(ex.ratio, *weight)
        gaps += [
            abs(ex.truth[i] - _ranking_error(ex, w, i, ex.offset))
            for i in range(ex.truth.size)
            if not math.isnan(ex.truth[i])
        ]
    assert sh.mean_abs_error(examples, weight) == pytest.approx(100 * sum(gaps) / len(gaps), rel=1e-12)
