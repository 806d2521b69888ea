"""Shrinkage toward the prior as a query moves away from the evidence; novelty; calibrated intervals."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from zoo import shrinkage as sh
from zoo.shrinkage import interval as si
from zoo.shrinkage import trust as st


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

    grid = {(a, b): st._mean_gap(examples, (a, b)) for a in sh.A_GRID for b in sh.B_GRID}
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
        c0, c1 = si._quantile_line(x, y, q)
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
    assert shrink.interval.floor == min(ex.ratio for ex in fit)  # read no lower than the least novel example
    older = dict(shrink.as_dict(), interval={k: v for k, v in shrink.as_dict()["interval"].items() if k != "floor"})
    assert sh.Shrinkage.from_dict(older).interval.floor == 0.0  # a run stored before the floor


def test_below_its_floor_an_interval_is_read_at_the_floor():
    line = sh.Interval((-0.05, -0.1), (0.05, 0.1))  # zero width at r = e^-0.5 and below
    floored = dataclasses.replace(line, floor=0.9)
    expected = np.array([[0.3, 0.6]])
    for ratio in (0.0, 0.2, 0.9):
        np.testing.assert_array_equal(
            floored.bounds(expected, np.array([ratio])), line.bounds(expected, np.array([0.9]))
        )
        assert floored.half_width(np.array([ratio]))[0] == line.half_width(np.array([0.9]))[0] > 0.0
    assert line.half_width(np.array([0.0]))[0] == 0.0  # without a floor the line reaches zero width
    np.testing.assert_array_equal(floored.bounds(expected, np.array([2.0])), line.bounds(expected, np.array([2.0])))


def test_the_symmetric_interval_is_the_absolute_residuals_quantile_line():
    rng = np.random.default_rng(6)
    fit = _examples(rng, 60, 1.0, True) + _examples(rng, 60, 4.0, False)
    weight = sh.fit_weight(fit)
    x, y = [], []
    for ex in fit:  # the residuals the fit reads, by hand
        ok = np.isfinite(ex.truth)
        y += list(ex.truth[ok] - sh.blend(ex.expected[None], ex.prior, np.array([ex.ratio]), weight)[0][ok])
        x += [np.log(ex.ratio)] * int(ok.sum())
    symmetric = sh.fit_interval(fit, weight)
    assert symmetric.high == pytest.approx(si._quantile_line(np.array(x), np.abs(np.array(y)), 0.8))
    assert symmetric.low == pytest.approx(tuple(-c for c in symmetric.high))
    signed = sh.fit_interval(fit, weight, shape="signed")
    assert signed.low == pytest.approx(si._quantile_line(np.array(x), np.array(y), 0.1))
    assert signed.high == pytest.approx(si._quantile_line(np.array(x), np.array(y), 0.9))


def test_the_logit_interval_is_the_quantile_line_of_the_logit_residual_and_maps_back_by_hand():
    rng = np.random.default_rng(16)
    fit = _examples(rng, 60, 1.0, True) + _examples(rng, 60, 4.0, False)
    weight = sh.fit_weight(fit)
    x, z = [], []
    for ex in fit:  # the logit residuals the fit reads, by hand
        ok = np.isfinite(ex.truth)
        y = sh.blend(ex.expected[None], ex.prior, np.array([ex.ratio]), weight)[0]
        for t, e in zip(ex.truth[ok], y[ok], strict=True):
            t, e = min(max(t, 0.005), 0.995), min(max(e, 0.005), 0.995)
            z.append(math.log(t / (1 - t)) - math.log(e / (1 - e)))
            x.append(math.log(ex.ratio))
    interval = sh.fit_interval(fit, weight, shape="logit")
    assert interval.scale == "logit"
    assert interval.high == pytest.approx(si._quantile_line(np.array(x), np.abs(np.array(z)), 0.8))
    assert interval.low == pytest.approx(tuple(-c for c in interval.high))
    assert sh.Shrinkage.from_dict(sh.Shrinkage(interval=interval).as_dict()).interval == interval
    # the bounds, one value at a time: sigmoid(logit(e) -+ q(r)); narrower near 0 than at 0.5
    expected, ratio = np.array([[0.02, 0.5, 0.97]]), np.array([2.0])
    low, high = interval.bounds(expected, ratio)
    q = interval.high[0] + interval.high[1] * math.log(2.0)
    for j, e in enumerate(expected[0]):
        centre = math.log(e / (1 - e))
        assert low[0, j] == pytest.approx(1 / (1 + math.exp(-(centre - q))))
        assert high[0, j] == pytest.approx(1 / (1 + math.exp(-(centre + q))))
    assert high[0, 0] - low[0, 0] < high[0, 1] - low[0, 1]
    np.testing.assert_allclose(interval.half_width(ratio, np.array([0.5])), (high[0, 1] - low[0, 1]) / 2, rtol=1e-12)
    with pytest.raises(ValueError, match="expected error"):
        interval.half_width(ratio)
    with pytest.raises(ValueError, match="unknown interval shape"):
        sh.fit_interval(fit, weight, shape="wide")


def monotone_quantile_reference(x, y, q):
    """The least pinball loss over every nondecreasing assignment of observed values to the distinct x (an
    isotonic quantile fit has an optimum among the observed values), by exhaustive search."""
    import itertools

    knots = sorted(set(x))
    best = math.inf
    for values in itertools.combinations_with_replacement(sorted(set(y)), len(knots)):
        fit = {k: v for k, v in zip(knots, values)}
        r = [yi - fit[xi] for xi, yi in zip(x, y)]
        best = min(best, sum(max(q * ri, (q - 1) * ri) for ri in r))
    return best


def test_monotone_quantile_reaches_the_exhaustive_optimum_and_never_falls():
    rng = np.random.default_rng(21)
    for trial in range(12):
        x = rng.choice([-0.5, 0.0, 0.3, 1.1], size=9)
        y = np.round(rng.uniform(0, 0.4, 9) - 0.2 * (x if trial % 2 else -x), 3)  # rising, then falling trends
        for q in (0.5, 0.8):
            knots, widths = si._monotone_quantile(x, y, q)
            assert list(knots) == sorted(set(x))
            assert np.all(np.diff(widths) >= 0)
            fit = dict(zip(knots, widths))
            loss = sum(max(q * r, (q - 1) * r) for r in (y - np.array([fit[v] for v in x])))
            assert loss == pytest.approx(monotone_quantile_reference(list(x), list(y), q), abs=1e-9)
    knots, widths = si._monotone_quantile(np.zeros(5), np.arange(5.0), 0.8)  # one distinct x: a plain quantile
    assert list(knots) == [0.0] and monotone_quantile_reference([0.0] * 5, list(np.arange(5.0)), 0.8) == (
        pytest.approx(sum(max(0.8 * r, -0.2 * r) for r in np.arange(5.0) - widths[0]))
    )


def test_the_monotone_interval_interpolates_its_steps_and_stays_flat_beyond_them():
    rng = np.random.default_rng(22)
    prior = np.linspace(0.2, 0.4, 8)  # Model2Vec agrees with the prior: the residual is the noise, whatever the weight
    fit = [
        sh.FoldExample(f"q{k}", prior, prior, np.clip(prior + rng.normal(0, sd, 8), 0, 1), ratio, ratio > 1)
        for k, (ratio, sd) in enumerate([(1.0, 0.01)] * 30 + [(3.0, 0.05)] * 30 + [(8.0, 0.05)] * 30)
    ]
    weight = sh.fit_weight(fit)
    x, y = [], []
    for ex in fit:  # the residuals the fit reads, by hand (the symmetric shape's)
        ok = np.isfinite(ex.truth)
        y += list(ex.truth[ok] - sh.blend(ex.expected[None], ex.prior, np.array([ex.ratio]), weight)[0][ok])
        x += [np.log(ex.ratio)] * int(ok.sum())
    interval = sh.fit_interval(fit, weight, shape="monotone")
    knots, widths = si._monotone_quantile(np.array(x), np.abs(np.array(y)), 0.8)
    assert interval.steps == (tuple(knots), tuple(widths)) and interval.scale == "error"
    assert widths[1] > 2 * widths[0] and widths[2] == pytest.approx(widths[1], rel=0.3)  # the noise's steps
    # the ends, one ratio at a time: the width at a knot, halfway between two, and flat beyond both ends
    expected = np.full((5, 1), 0.5)
    ratio = np.exp([knots[0] - 1.0, knots[0], (knots[0] + knots[1]) / 2, knots[-1], knots[-1] + 2.0])
    q = [widths[0], widths[0], (widths[0] + widths[1]) / 2, widths[-1], widths[-1]]
    low, high = interval.bounds(expected, ratio)
    np.testing.assert_allclose(high[:, 0] - 0.5, q, rtol=1e-9)
    np.testing.assert_allclose(0.5 - low[:, 0], q, rtol=1e-9)
    np.testing.assert_allclose(interval.half_width(ratio), q, rtol=1e-9)
    shrink = sh.Shrinkage(weight, interval)
    assert sh.Shrinkage.from_dict(shrink.as_dict()) == shrink
    # unlike the line, it does not widen past the most novel evidence
    line = sh.fit_interval(fit, weight)
    far = np.array([np.exp(knots[-1] + 3.0)])
    assert interval.half_width(far)[0] == pytest.approx(widths[-1])
    assert line.half_width(far)[0] > line.half_width(np.exp(knots[-1:]))[0]


def test_the_novel_interval_is_the_quantile_of_the_novel_tasks_offset_residuals_pair_by_pair():
    rng = np.random.default_rng(23)
    seen = _examples(rng, 30, 1.0, True)  # novel=False: small residuals, left out of the width
    novel = [sh.FoldExample(**{**vars(e), "offset": 0.3}) for e in _examples(rng, 30, 4.0, False)]
    weight = sh.fit_weight(seen + novel)
    gaps = []
    for ex in novel:  # one measured pair at a time, the expected error as recommend reports it
        for i in range(ex.truth.size):
            a, b = weight
            w = 1 / (1 + math.exp(-(a - b * math.log(ex.ratio))))
            base = _logit(ex.prior[i]) + 0.3  # the prior taken at the query's difficulty
            z = base + w * (_logit(ex.expected[i]) - base)
            gaps.append(abs(ex.truth[i] - 1 / (1 + math.exp(-z))))
    interval = sh.fit_interval(seen + novel, weight, shape="novel")
    q = float(np.quantile(gaps, 0.8))
    assert interval.high == pytest.approx((q, 0.0), rel=1e-6) and interval.low == pytest.approx((-q, 0.0), rel=1e-6)
    np.testing.assert_allclose(interval.half_width(np.array([0.5, 1.0, 40.0])), q, rtol=1e-6)  # any novelty
    assert sh.coverage(novel, weight, interval) == pytest.approx(0.8, abs=0.01)
    # without a novel example, every example counts
    everyone = sh.fit_interval(seen, weight, shape="novel")
    assert 0 < everyone.high[0] < q


def test_the_capped_interval_is_the_narrower_of_the_symmetric_and_novel_bands_pair_by_pair():
    """Slow twin: each pair's bounds against the two shapes' own bounds, the inner ends taken by hand."""
    rng = np.random.default_rng(24)
    prior = np.linspace(0.2, 0.4, 8)  # Model2Vec agrees with the prior: the residual is the noise, whatever the weight
    fit = [
        sh.FoldExample(f"q{k}", prior, prior, np.clip(prior + rng.normal(0, sd, 8), 0, 1), ratio, ratio > 1, offset)
        for k, (ratio, sd, offset) in enumerate([(1.0, 0.01, 0.0)] * 30 + [(3.0, 0.05, 0.1)] * 30)
    ]
    weight = sh.fit_weight(fit)
    capped = sh.fit_interval(fit, weight, shape="capped")
    line = sh.fit_interval(fit, weight, shape="symmetric")
    flat = sh.fit_interval(fit, weight, shape="novel")
    assert line.high[1] > 0 and line.half_width(np.array([1.0]))[0] < flat.high[0]  # the cap binds somewhere only
    ratios = np.exp(np.linspace(-3.0, 6.0, 37))
    assert line.half_width(ratios)[-1] > flat.high[0]
    expected = rng.uniform(0.0, 1.0, (ratios.size, 5))
    low, high = capped.bounds(expected, ratios)
    for t, r in enumerate(ratios):
        for m in range(5):
            lo_a, hi_a = line.bounds(expected[t : t + 1, m : m + 1], np.array([r]))
            lo_b, hi_b = flat.bounds(expected[t : t + 1, m : m + 1], np.array([r]))
            assert low[t, m] == pytest.approx(max(lo_a[0, 0], lo_b[0, 0]), abs=1e-12)
            assert high[t, m] == pytest.approx(min(hi_a[0, 0], hi_b[0, 0]), abs=1e-12)
    # the margin is half its width, and it survives the run's record
    np.testing.assert_allclose(capped.half_width(ratios), np.minimum(line.half_width(ratios), flat.high[0]), atol=1e-12)
    shrink = sh.Shrinkage(weight, capped)
    assert sh.Shrinkage.from_dict(shrink.as_dict()) == shrink
    # a line that falls with novelty is kept where it is below the cap, and never goes below zero
    for c0, c1, cap in [(0.15, -0.05, 0.1), (0.3, 0.0, 0.2), (-0.1, 0.1, 0.2), (0.25, 0.01, 0.2)]:
        fallen = si._capped(sh.Interval((-c0, -c1), (c0, c1)), cap)
        by_hand = [min(max(c0 + c1 * math.log(r), 0.0), cap) for r in ratios]
        np.testing.assert_allclose(fallen.half_width(ratios), by_hand, atol=1e-12)


def test_no_examples_gives_the_documented_default():
    assert sh.fit_weight([]) == sh.DEFAULT_WEIGHT
    assert sh.Shrinkage.from_dict(None).weight == sh.DEFAULT_WEIGHT


# ---------------------------------------------------------------------- difficulty offset
def fit_difficulty_reference(difficulty, errors, prior):
    """The slope and centre from the measured pairs listed one by one, by numpy's polyfit."""
    xs, ys = [], []
    for s in range(errors.shape[0]):
        for m in range(errors.shape[1]):
            if math.isfinite(errors[s, m]) and math.isfinite(difficulty[s]) and math.isfinite(prior[m]):
                xs.append(difficulty[s])
                ys.append(_logit(errors[s, m]) - _logit(prior[m]))
    slope, _ = np.polyfit(xs, ys, 1)
    return slope, float(np.mean(xs))


def test_fit_difficulty_matches_a_per_pair_least_squares():
    rng = np.random.default_rng(5)
    difficulty = rng.normal(-2.0, 1.5, 14)
    prior = rng.uniform(0.05, 0.6, 6)
    errors = 1 / (1 + np.exp(-(np.log(prior / (1 - prior))[None, :] + 0.7 * difficulty[:, None])))
    errors = np.clip(errors + rng.normal(0, 0.03, errors.shape), 0.01, 0.99)
    errors[2, 3] = errors[5, 0] = np.nan  # unmeasured pairs take no part
    difficulty[7] = np.nan  # a task without a recorded head takes no part
    prior[4] = np.nan  # a model without a prior takes no part
    got = sh.fit_difficulty(difficulty, errors, prior)
    slope, centre = fit_difficulty_reference(difficulty, errors, prior)
    assert got.slope == pytest.approx(slope, rel=1e-9) and got.centre == pytest.approx(centre, rel=1e-12)
    assert 0.4 < got.slope < 1.0  # it recovers the slope the errors were made with


def test_fit_difficulty_without_spread_or_pairs_is_no_offset():
    prior = np.array([0.2, 0.3])
    assert sh.fit_difficulty(np.array([1.0, 1.0]), np.full((2, 2), 0.4), prior) == sh.Difficulty()
    assert sh.fit_difficulty(np.array([np.nan, 2.0]), np.full((2, 2), np.nan), prior) == sh.Difficulty()
    assert sh.Difficulty(2.0, 1.0).offset(np.array([np.nan, 3.0])).tolist() == [0.0, 4.0]


def test_fit_difficulty_needs_enough_tasks_of_distinct_difficulty():
    prior = np.array([0.2, 0.3])
    n = sh.MIN_DIFFICULTY_TASKS

    def errors(d):
        return 1 / (1 + np.exp(-(np.log(prior / (1 - prior))[None, :] + 0.5 * d[:, None])))

    enough = np.linspace(-3.0, 1.0, n)
    assert sh.fit_difficulty(enough, errors(enough), prior).slope == pytest.approx(0.5)
    short = enough[1:]
    assert sh.fit_difficulty(short, errors(short), prior) == sh.Difficulty()
    # as many tasks, but repeated difficulties (heads that fit perfectly all read the same) do not count
    repeated = np.concatenate([short, short[:1]])
    assert sh.fit_difficulty(repeated, errors(repeated), prior) == sh.Difficulty()
    # nor does a task without any measured pair
    unmeasured = errors(enough)
    unmeasured[0] = np.nan
    assert sh.fit_difficulty(enough, unmeasured, prior) == sh.Difficulty()


def test_difficulty_is_the_logit_of_the_probe_heads_training_error():
    assert sh.difficulty_of({"head": {"train_accuracy": 0.75}}) == pytest.approx(math.log(0.25 / 0.75))
    assert math.isfinite(sh.difficulty_of({"head": {"train_accuracy": 1.0}}))  # clipped, not -inf
    assert math.isnan(sh.difficulty_of({})) and math.isnan(sh.difficulty_of(None))


def test_the_offset_moves_every_expected_error_and_never_the_order():
    rng = np.random.default_rng(6)
    expected, prior = rng.uniform(0.02, 0.9, (6, 8)), rng.uniform(0.02, 0.9, 8)
    ratio, offset = rng.uniform(0.3, 5.0, 6), rng.normal(0, 1.5, 6)
    plain = sh.blend(expected, prior, ratio, (1.0, 2.0))
    moved = sh.blend(expected, prior, ratio, (1.0, 2.0), offset)
    assert (np.argsort(plain, axis=1) == np.argsort(moved, axis=1)).all()
    assert (np.sign(moved - plain) == np.sign(offset)[:, None]).all()
    # at zero weight the estimate is the prior taken at the query's difficulty
    far = sh.blend(expected, prior, np.full(6, 1e6), (0.0, 50.0), offset)
    np.testing.assert_allclose(far, 1 / (1 + np.exp(-(np.log(prior / (1 - prior))[None, :] + offset[:, None]))))
    # at half weight (a = b = 0: w = 1/2 at every novelty), pair by pair: the blend runs from the prior taken at
    # the difficulty to Model2Vec's error, so the offset's share shrinks with the trust
    half = sh.blend(expected, prior, ratio, (0.0, 0.0), offset)
    for t in range(6):
        for m in range(8):
            base = math.log(prior[m] / (1 - prior[m])) + offset[t]
            z = base + 0.5 * (math.log(expected[t, m] / (1 - expected[t, m])) - base)
            assert half[t, m] == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-12)


def test_coverage_places_the_interval_around_the_offset_estimate():
    prior = np.array([0.2, 0.3, 0.4])
    harder = 1 / (1 + np.exp(-(np.log(prior / (1 - prior)) + 2.0)))
    example = sh.FoldExample("t", prior.copy(), prior, harder, ratio=100.0, novel=True, offset=2.0)
    narrow = sh.Interval((-0.01, 0.0), (0.01, 0.0))
    assert sh.coverage([example], (0.0, 50.0), narrow) == 1.0
    assert sh.coverage([sh.FoldExample("t", prior, prior, harder, 100.0, True)], (0.0, 50.0), narrow) == 0.0
    assert sh.mean_abs_error([example], (0.0, 50.0)) == pytest.approx(0.0, abs=1e-9)


# ---------------------------------------------------------------------- the generic pick held first
def hold_reference(scores, generic, margin):
    """One task at a time: the generic pick goes first when nobody beats it by more than the margin."""
    out = scores.copy()
    for t in range(scores.shape[0]):
        g = int(generic[t])
        if g < 0 or math.isnan(scores[t, g]):
            continue
        best = min(v for v in scores[t] if not math.isnan(v))
        if scores[t, g] - best <= margin[t]:
            out[t, g] = best - 1e-9
    return out


def test_hold_generic_matches_a_per_task_loop_and_keeps_every_other_order():
    rng = np.random.default_rng(7)
    scores = rng.uniform(0.05, 0.6, (40, 6))
    scores[3, 2] = np.nan
    generic = rng.integers(-1, 6, 40)
    margin = rng.uniform(0.0, 0.3, 40)
    got = sh.hold_generic(scores, generic, margin)
    np.testing.assert_array_equal(got, hold_reference(scores, generic, margin))
    held = 0
    for t in range(40):
        g = int(generic[t])
        others = [i for i in range(6) if i != g]
        assert list(np.argsort(got[t, others])) == list(np.argsort(scores[t, others]))
        if g >= 0 and np.nanargmin(got[t]) == g and np.nanargmin(scores[t]) != g:
            held += 1
            assert scores[t, g] - np.nanmin(scores[t]) <= margin[t]
    assert held > 0  # the draw does exercise the rule


def test_a_margin_is_half_the_interval_and_zero_margin_never_holds_a_worse_pick():
    interval = sh.Interval((-0.1, -0.05), (0.2, 0.1))
    np.testing.assert_allclose(interval.half_width(np.array([1.0, math.e])), [0.15, 0.225])
    assert not sh.held_first(np.array([0.3, 0.2]), 0, 0.0)
    assert sh.held_first(np.array([0.3, 0.2]), 0, 0.1) and sh.held_first(np.array([0.2, 0.3]), 0, 0.0)
    assert not sh.held_first(np.array([0.2, 0.3]), -1, 1.0)


# ---------------------------------------------------------------------- coverage over resampled tasks
def coverage_spread_reference(examples, weight, interval, level, draws, seed):
    """The same draws, one resample at a time: pool the drawn tasks' pairs and count those inside."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(examples), size=(draws, len(examples)))
    shares = []
    for row in pick:
        inside = total = 0
        for i in row:
            ex = examples[i]
            y = sh.blend(ex.expected[None], ex.prior, np.array([ex.ratio]), weight, np.array([ex.offset]))
            lo, hi = interval.bounds(y, np.array([ex.ratio]))
            for j, t in enumerate(ex.truth):
                if not math.isnan(t):
                    total += 1
                    inside += int(lo[0, j] <= t <= hi[0, j])
        if total:
            shares.append(inside / total)
    tail = (1 - level) / 2
    return float(np.quantile(shares, tail)), float(np.quantile(shares, 1 - tail))


def test_coverage_spread_matches_a_resample_at_a_time_and_brackets_the_coverage():
    rng = np.random.default_rng(17)
    examples = _examples(rng, 12, 1.0, True) + _examples(rng, 12, 3.0, False)
    examples[0].truth[1] = np.nan
    interval = sh.Interval((-0.08, 0.0), (0.08, 0.0))
    weight = (1.0, 2.0)
    got = sh.coverage_spread(examples, weight, interval, 0.9, 300, 3)
    assert got == pytest.approx(coverage_spread_reference(examples, weight, interval, 0.9, 300, 3), abs=1e-12)
    assert got[0] <= sh.coverage(examples, weight, interval) <= got[1] and got[0] < got[1]
    assert all(math.isnan(v) for v in sh.coverage_spread([], weight, interval))


def test_coverage_of_shown_pairs_counts_those_pairs_alone():
    """Against a pair-at-a-time count; a mask of every expert gives the plain coverage, and the spread's
    resamples count the shown pairs alone too."""
    rng = np.random.default_rng(23)
    examples = _examples(rng, 10, 1.0, True) + _examples(rng, 10, 3.0, False)
    examples[2].truth[0] = np.nan
    interval = sh.Interval((-0.06, 0.0), (0.06, 0.0))
    weight = (1.0, 2.0)
    shown = rng.random((len(examples), examples[0].truth.size)) < 0.5
    inside = total = 0
    for ex, row in zip(examples, shown, strict=True):
        y = sh.blend(ex.expected[None], ex.prior, np.array([ex.ratio]), weight, np.array([ex.offset]))
        lo, hi = interval.bounds(y, np.array([ex.ratio]))
        for j, t in enumerate(ex.truth):
            if row[j] and not math.isnan(t):
                total += 1
                inside += int(lo[0, j] <= t <= hi[0, j])
    assert sh.coverage(examples, weight, interval, shown) == pytest.approx(inside / total, abs=1e-12)
    every = np.ones_like(shown)
    assert sh.coverage(examples, weight, interval, every) == sh.coverage(examples, weight, interval)
    low, high = sh.coverage_spread(examples, weight, interval, 0.9, 200, 1, shown=shown)
    assert low <= inside / total <= high
    assert sh.coverage_spread(examples, weight, interval, 0.9, 200, 1, shown=every) == sh.coverage_spread(
        examples, weight, interval, 0.9, 200, 1
    )


# ---------------------------------------------------------------------- plausible experts
def plausible_reference(expected, generic, margin):
    """One expert at a time: within the margin of the generic pick's expected error."""
    out = np.zeros(expected.shape, dtype=bool)
    for t in range(expected.shape[0]):
        g = int(generic[t])
        base = expected[t, g] if g >= 0 else math.nan
        for m in range(expected.shape[1]):
            if math.isnan(expected[t, m]):
                continue
            out[t, m] = math.isnan(base) or m == g or expected[t, m] - base <= margin[t]
    return out


def test_plausible_matches_an_expert_at_a_time_and_always_keeps_the_generic_pick():
    rng = np.random.default_rng(18)
    expected = rng.uniform(0.05, 0.9, (50, 7))
    expected[4, 3] = np.nan
    expected[5, 2] = np.nan
    generic = rng.integers(-1, 7, 50)
    generic[5] = 2  # a generic pick without an expected error: every finite expert stays
    margin = rng.uniform(0.0, 0.3, 50)
    got = sh.plausible(expected, generic, margin)
    np.testing.assert_array_equal(got, plausible_reference(expected, generic, margin))
    assert got[5].sum() == 6 and not got[4, 3]
    assert 0 < got.sum() < np.isfinite(expected).sum()  # the draw exercises both sides
    # zero margin: only experts no worse than the generic pick
    flat = sh.plausible(np.array([[0.3, 0.2, 0.31]]), np.array([0]), np.array([0.0]))
    np.testing.assert_array_equal(flat, [[True, True, False]])


def plausible_architectures_reference(expected, generic, margin, architectures):
    """One task and one architecture at a time."""
    out = np.zeros(expected.shape, dtype=bool)
    for t in range(expected.shape[0]):
        g = int(generic[t])
        base = expected[t, g] if g >= 0 else math.nan
        for m in range(expected.shape[1]):
            if math.isnan(expected[t, m]):
                continue
            if math.isnan(base) or architectures[m] == architectures[g]:
                out[t, m] = True
                continue
            same = [expected[t, j] for j in range(expected.shape[1]) if architectures[j] == architectures[m]]
            best = min(v for v in same if not math.isnan(v))
            out[t, m] = best - base <= margin[t]
    return out


def test_plausible_architectures_matches_a_loop_and_keeps_a_whole_architecture_together():
    rng = np.random.default_rng(19)
    architectures = ["r", "r", "l", "l", "l", "t", "solo"]
    expected = rng.uniform(0.05, 0.9, (60, 7))
    expected[7, 2] = np.nan
    generic = rng.integers(-1, 7, 60)
    margin = rng.uniform(0.0, 0.3, 60)
    got = sh.plausible_architectures(expected, generic, margin, architectures)
    np.testing.assert_array_equal(got, plausible_architectures_reference(expected, generic, margin, architectures))
    assert 0 < got.sum() < np.isfinite(expected).sum()
    # a weak expert of a plausible architecture stays; a strong-looking architecture's whole set goes together
    e = np.array([[0.30, 0.80, 0.70, 0.95]])
    got = sh.plausible_architectures(e, np.array([0]), np.array([0.1]), ["r", "r", "l", "l"])
    np.testing.assert_array_equal(got, [[True, True, False, False]])
    assert sh.verify_candidates("all", e, np.array([0]), np.array([0.1]), ["r"] * 4) is None
    np.testing.assert_array_equal(
        sh.verify_candidates("plausible", e, np.array([0]), np.array([0.1]), ["r"] * 4), [[True, False, False, False]]
    )
    with pytest.raises(ValueError, match="unknown verification pool"):
        sh.verify_candidates("some", e, np.array([0]), np.array([0.1]), ["r"] * 4)
