"""The interval around each expected error: its shapes, their fit on left-out examples, and its coverage
(:mod:`zoo.shrinkage` says why the residuals are those of the blend without the difficulty offset)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zoo.shrinkage.trust import FoldExample, _logit, blend, sigmoid

#: the nominal coverage of the interval (quantiles (1 - c) / 2 and (1 + c) / 2 of the residuals)
NOMINAL_COVERAGE = 0.8


@dataclass(frozen=True)
class Interval:
    """Residual quantiles against log r for the low and high ends, on ``scale``: "error" (error units, added to
    the expected error) or "logit" (added to the expected error's logit, then mapped back by the sigmoid, so a
    band of fixed size is narrower near 0 or 1 than near 0.5).

    Each end is a line ``q(r) = c0 + c1 * log r`` (``low``, ``high``), unless ``steps`` is given: then the
    interval is +-q(r) with q the curve through the points ``steps = (log r values ascending, widths)``,
    interpolated linearly between them and constant beyond the first and the last (shapes "monotone", a
    nondecreasing curve, and "capped" of :func:`fit_interval`).

    ``floor``: the least novelty ratio the interval is read at (a smaller ratio is read there). A run's
    interval gets the least novel example it was fitted on (:func:`zoo.shrinkage.fit_shrinkage`): below the
    evidence the lines would extrapolate to a zero width, which a query as close to a seen task as a
    registered training task (ratio 0) reached. 0: no floor (an interval stored before it)."""

    low: tuple[float, float]
    high: tuple[float, float]
    nominal: float = NOMINAL_COVERAGE
    scale: str = "error"
    steps: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    floor: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> Interval:
        """The interval stored as ``dataclasses.asdict`` wrote it (older runs: without ``scale``, ``steps`` or
        ``floor``)."""
        steps = data.get("steps")
        return cls(
            tuple(data.get("low", (-0.2, 0.0))),
            tuple(data.get("high", (0.2, 0.0))),
            float(data.get("nominal", NOMINAL_COVERAGE)),
            str(data.get("scale", "error")),
            (tuple(float(v) for v in steps[0]), tuple(float(v) for v in steps[1])) if steps else None,
            float(data.get("floor", 0.0)),
        )

    def _log_ratio(self, ratio: np.ndarray) -> np.ndarray:
        """log of the novelty ratios ``ratio`` as the interval reads them: never below :attr:`floor`."""
        return np.log(np.maximum(np.asarray(ratio, dtype=np.float64), max(self.floor, 1e-12)))

    def _ends(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(down <= 0, up >= 0) offsets of the two ends at log ratios ``x`` (any shape)."""
        if self.steps is not None:
            up = np.maximum(np.interp(x, np.asarray(self.steps[0]), np.asarray(self.steps[1])), 0.0)
            return -up, up
        return np.minimum(self.low[0] + self.low[1] * x, 0.0), np.maximum(self.high[0] + self.high[1] * x, 0.0)

    def half_width(self, ratio: np.ndarray, expected: np.ndarray | None = None) -> np.ndarray:
        """``[T]`` half the interval's width (error units) at novelty ratios ``[T]``: the margin by which
        another expert's expected error must beat the generic pick's to displace it (:func:`hold_generic`). On
        the logit scale the width depends on where it sits: ``expected`` ``[T]`` is the generic pick's expected
        error (required there)."""
        ratio = np.asarray(ratio, dtype=np.float64)
        if self.scale == "logit":
            if expected is None:
                raise ValueError("a logit-scale interval's width needs the expected error it sits around")
            lo, hi = self.bounds(np.asarray(expected, dtype=np.float64)[:, None], ratio)
            return (hi[:, 0] - lo[:, 0]) / 2.0
        down, up = self._ends(self._log_ratio(ratio))
        return (up - down) / 2.0

    def bounds(self, expected: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) ``[T, M]`` around expected errors ``[T, M]`` at novelty ratios ``[T]``, within [0, 1]."""
        down, up = self._ends(self._log_ratio(ratio)[:, None])
        if self.scale == "logit":
            z = _logit(expected)
            return sigmoid(z + down), sigmoid(z + up)
        return np.clip(expected + down, 0.0, 1.0), np.clip(expected + up, 0.0, 1.0)


SHAPES = ("signed", "symmetric", "logit", "monotone", "novel", "capped")


def _quantile_line(x: np.ndarray, y: np.ndarray, q: float) -> tuple[float, float]:
    """Linear quantile regression of y on x (pinball loss), by scipy's LP solver."""
    from scipy.optimize import linprog

    n = x.size
    # variables: c0, c1 (free), u+ [n], u- [n] >= 0; y - c0 - c1 x = u+ - u-
    cost = np.concatenate([[0.0, 0.0], np.full(n, q), np.full(n, 1.0 - q)])
    a_eq = np.hstack([np.ones((n, 1)), x[:, None], np.eye(n), -np.eye(n)])
    bounds = [(None, None), (None, None)] + [(0, None)] * (2 * n)
    res = linprog(cost, A_eq=a_eq, b_eq=y, bounds=bounds, method="highs")
    if not res.success:
        return float(np.quantile(y, q)), 0.0
    return float(res.x[0]), float(res.x[1])


def _monotone_quantile(x: np.ndarray, y: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic quantile regression: the distinct x ascending, and one value for each, nondecreasing, that
    minimises the pinball loss of y at quantile q (scipy's LP solver, sparse constraints)."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, diags, hstack, identity

    knots, group = np.unique(x, return_inverse=True)
    g, n = knots.size, y.size
    # variables: f [g] (free), u+ [n], u- [n] >= 0; y - f[group] = u+ - u-; f[k] - f[k+1] <= 0
    member = csr_matrix((np.ones(n), (np.arange(n), group)), shape=(n, g))
    a_eq = hstack([member, identity(n), -identity(n)], format="csr")
    cost = np.concatenate([np.zeros(g), np.full(n, q), np.full(n, 1.0 - q)])
    bounds = [(None, None)] * g + [(0, None)] * (2 * n)
    rises: dict = {}
    if g > 1:
        steps = diags([np.ones(g - 1), -np.ones(g - 1)], [0, 1], shape=(g - 1, g))
        rises = {"A_ub": hstack([steps, csr_matrix((g - 1, 2 * n))], format="csr"), "b_ub": np.zeros(g - 1)}
    res = linprog(cost, A_eq=a_eq, b_eq=y, bounds=bounds, method="highs", **rises)
    if not res.success:
        return knots[:1], np.array([float(np.quantile(y, q))])
    return knots, np.maximum.accumulate(res.x[:g])  # exact up to the solver's tolerance; made exactly monotone


def fit_interval(
    examples: Sequence[FoldExample],
    weight: tuple[float, float],
    nominal: float = NOMINAL_COVERAGE,
    max_points: int = 2000,
    seed: int = 0,
    *,
    shape: str = "symmetric",
) -> Interval:
    """The interval's ends against log r, from (measured - blended expected error) over every measured pair of
    ``examples``.

    ``shape`` (:data:`SHAPES`):

    - "symmetric" (the default): +-q(r), the ``nominal`` quantile line of the absolute residual;
    - "monotone": +-q(r), q the ``nominal`` quantile of the absolute residual as a nondecreasing function of
      log r (isotonic quantile regression; :class:`Interval` ``steps``), flat beyond the least and the most
      novel example, so it never extrapolates a slope;
    - "novel": +-q, one width at every novelty, q the ``nominal`` quantile of |measured - expected| over the
      measured pairs of the novel examples (a collection their fold run never saw), the expected error with
      the difficulty offset (docs/figures/interval-width-preregistration.md);
    - "capped": +-min(q(r), q_novel), the symmetric shape's line capped at the novel shape's width, both fitted
      on ``examples`` (docs/figures/interval-capped-preregistration.md): the symmetric band where it is the
      narrower, one that stops growing beyond the novelty where the line crosses the novel width;
    - "signed": the (1 - nominal) / 2 and (1 + nominal) / 2 quantile lines of the signed residual;
    - "logit": +-q(r) of the absolute residual on the logit scale (logit(measured) - logit(expected), errors
      clipped to [0.005, 0.995]), an :class:`Interval` with ``scale="logit"``.

    The folds' residuals lean one way on some collections and the other way on others, so signed quantiles
    fitted on some miss the rest; the symmetric shape was chosen by nested cross-validation over the folds
    (docs/figures/leave-out.md).
    Except for "novel", the residuals are those of the blend without the difficulty offset (see the module's
    docstring); every interval is placed around the offset estimate (:func:`coverage`, :meth:`Interval.bounds`).
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown interval shape {shape!r}: one of {', '.join(SHAPES)}")
    if shape == "novel":
        return _novel_interval(examples, weight, nominal)
    if shape == "capped":
        line = fit_interval(examples, weight, nominal, max_points, seed, shape="symmetric")
        return _capped(line, _novel_interval(examples, weight, nominal).high[0])
    xs, ys = [], []
    for ex in examples:
        y = blend(ex.expected[None, :], ex.prior, np.array([ex.ratio]), weight)[0]
        ok = np.isfinite(ex.truth)
        xs.append(np.full(int(ok.sum()), math.log(max(ex.ratio, 1e-12))))
        ys.append(_logit(ex.truth[ok]) - _logit(y[ok]) if shape == "logit" else ex.truth[ok] - y[ok])
    scale = "logit" if shape == "logit" else "error"
    if not xs or sum(len(v) for v in xs) < 10:
        c = 1.0 if scale == "logit" else 0.2
        return Interval((-c, 0.0), (c, 0.0), nominal, scale)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if x.size > max_points:  # the LP grows with the points; a random subset estimates the same quantiles
        keep = np.random.default_rng(seed).choice(x.size, max_points, replace=False)
        x, y = x[keep], y[keep]
    if shape == "monotone":
        knots, widths = _monotone_quantile(x, np.abs(y), nominal)
        steps = (tuple(float(v) for v in knots), tuple(float(v) for v in widths))
        return Interval((-float(widths[0]), 0.0), (float(widths[0]), 0.0), nominal, scale, steps)
    if shape != "signed":
        c0, c1 = _quantile_line(x, np.abs(y), nominal)
        return Interval((-c0, -c1), (c0, c1), nominal, scale)
    tail = (1.0 - nominal) / 2.0
    return Interval(_quantile_line(x, y, tail), _quantile_line(x, y, 1.0 - tail), nominal)


#: the log r span a capped band's steps cover (the ratio's floor is 1e-12, log -27.6; beyond, it stays flat)
_SPAN = (-40.0, 40.0)


def _capped(line: Interval, cap: float) -> Interval:
    """+-min(the line's half-width, ``cap``) as :class:`Interval` ``steps``: min(max(c0 + c1 x, 0), cap) is
    linear between the points where the line crosses 0 or ``cap``, so those points and the span's ends carry it
    exactly."""
    c0, c1 = line.high
    cap = max(float(cap), 0.0)
    knots = {*_SPAN}
    if c1 != 0:
        knots |= {x for x in ((0.0 - c0) / c1, (cap - c0) / c1) if _SPAN[0] < x < _SPAN[1]}
    xs = tuple(sorted(knots))
    widths = tuple(min(max(c0 + c1 * x, 0.0), cap) for x in xs)
    return Interval((-widths[0], 0.0), (widths[0], 0.0), line.nominal, line.scale, (xs, widths))


def _reported(ex: FoldExample, weight: tuple[float, float]) -> np.ndarray:
    """``[M]`` the expected errors recommend reports for example ``ex``: the blend with its difficulty offset."""
    return blend(ex.expected[None, :], ex.prior, np.array([ex.ratio]), weight, np.array([ex.offset]))[0]


def _novel_interval(examples: Sequence[FoldExample], weight: tuple[float, float], nominal: float) -> Interval:
    """+-q, q the ``nominal`` quantile of |measured - expected| over the measured pairs of the novel examples
    (every example when none is novel), the expected error with the difficulty offset (what recommend reports)."""
    chosen = [ex for ex in examples if ex.novel] or list(examples)
    gaps = []
    for ex in chosen:
        y = _reported(ex, weight)
        ok = np.isfinite(ex.truth)
        gaps.append(np.abs(ex.truth[ok] - y[ok]))
    if sum(g.size for g in gaps) < 10:
        return Interval((-0.2, 0.0), (0.2, 0.0), nominal)
    q = float(np.quantile(np.concatenate(gaps), nominal))
    return Interval((-q, 0.0), (q, 0.0), nominal)


def _inside(
    ex: FoldExample, weight: tuple[float, float], interval: Interval, shown: np.ndarray | None = None
) -> tuple[int, int]:
    """(measured pairs inside the interval, measured pairs) of one example, the interval placed around the
    expected error recommend reports (the blend with the example's difficulty offset); only the experts
    ``shown`` ``[M]`` bool admits, when given."""
    y = _reported(ex, weight)[None, :]
    lo, hi = interval.bounds(y, np.array([ex.ratio]))
    ok = np.isfinite(ex.truth)
    if shown is not None:
        ok &= np.asarray(shown, dtype=bool)
    return int(np.sum((ex.truth[ok] >= lo[0][ok]) & (ex.truth[ok] <= hi[0][ok]))), int(ok.sum())


def _rows(shown: np.ndarray | None, count: int) -> list:
    """One ``[M]`` bool per example from ``shown`` ``[T, M]`` (None: every expert, for each of ``count``)."""
    return [None] * count if shown is None else list(np.asarray(shown, dtype=bool))


def coverage(
    examples: Sequence[FoldExample],
    weight: tuple[float, float],
    interval: Interval,
    shown: np.ndarray | None = None,
) -> float:
    """Fraction of measured pairs of ``examples`` whose measured error lies inside the interval (placed
    around the expected error recommend reports: the blend with each example's difficulty offset). ``shown``
    ``[T, M]`` bool: count only those pairs (e.g. the experts a ranking shows, :func:`zoo.selection.top_k_mask`)."""
    counts = [_inside(ex, weight, interval, s) for ex, s in zip(examples, _rows(shown, len(examples)), strict=True)]
    total = sum(n for _, n in counts)
    return sum(h for h, _ in counts) / total if total else math.nan


def coverage_spread(
    examples: Sequence[FoldExample],
    weight: tuple[float, float],
    interval: Interval,
    level: float = 0.9,
    draws: int = 2000,
    seed: int = 0,
    shown: np.ndarray | None = None,
) -> tuple[float, float]:
    """A ``level`` percentile range of :func:`coverage` over the examples resampled with replacement (a task's
    measured pairs move together: they share its residual's lean, so the tasks, not the pairs, are the sample).
    (nan, nan) without measured pairs. ``shown``: as :func:`coverage`'s."""
    rows = _rows(shown, len(examples))
    counts = np.array([_inside(ex, weight, interval, s) for ex, s in zip(examples, rows, strict=True)])
    counts = counts.astype(np.float64).reshape(-1, 2)
    hits, totals = counts[:, 0], counts[:, 1]
    if not totals.sum():
        return math.nan, math.nan
    pick = np.random.default_rng(seed).integers(0, len(examples), size=(draws, len(examples)))
    with np.errstate(invalid="ignore"):
        shares = hits[pick].sum(axis=1) / totals[pick].sum(axis=1)
    shares = shares[np.isfinite(shares)]
    tail = (1.0 - level) / 2.0
    return float(np.quantile(shares, tail)), float(np.quantile(shares, 1.0 - tail))


def mean_abs_error(examples: Sequence[FoldExample], weight: tuple[float, float]) -> float:
    """Mean |measured - expected error| in points over every measured pair of ``examples`` (the expected error
    recommend reports: the blend with each example's difficulty offset)."""
    gaps = []
    for ex in examples:
        y = _reported(ex, weight)
        ok = np.isfinite(ex.truth)
        gaps.append(np.abs(ex.truth[ok] - y[ok]))
    return 100.0 * float(np.mean(np.concatenate(gaps))) if gaps and sum(g.size for g in gaps) else math.nan
