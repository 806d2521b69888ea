"""How far a query is from the evidence, and how much of Model2Vec's answer to trust there.

Model2Vec predicts a transfer error for every expert from the query's task
embedding. Near the tasks it was trained on that prediction carries real
information; far from them (a new source of data) it extrapolates, and a
ranking that follows it blindly picks whichever expert happens to sit nearest
to far-away tasks. So the ranking error of expert i on query t is

    y_i(t) = sigmoid( logit(p_i) + w(r_t) * (logit(e_i(t)) - logit(p_i)) )

with p_i the expert's mean measured error over the training tasks (its prior
quality: the argmin of p is the "generic" choice), e_i(t) Model2Vec's
calibrated expected error, and w(r) = sigmoid(a - b * log r) a weight that
falls with the query's novelty r. At w = 0 the ranking is exactly the generic
one; at w = 1 it is Model2Vec's.

Novelty: r = d_nn(t) / median_s d_nn(s), the d_sym distance from the query to
its nearest training task, over the median of the same distance among the
training tasks themselves (r ~ 1: as close to the evidence as a typical
training task is to its neighbour). The percentile of d_nn(t) among the
training tasks' nearest-neighbour distances is the figure shown to users.

The prior is taken at the query's difficulty. The probe pass that embeds a
task also fits a linear head on the probe's features; its training error
h_t is a cheap measure of how hard the task is (logit of it: the
difficulty d_t). Across a run's seen tasks every expert's error moves with
it, so the prior's logit is shifted by one common offset

    delta(t) = beta * (d_t - d_bar)

(beta: least squares of logit e_i(s) - logit p_i on d_s over every measured
pair of the seen tasks; d_bar: the mean d_s; :func:`fit_difficulty`). The
offset is the same for every expert, so it moves the expected errors and
never the order: a query much harder than the bench's tasks gets expected
errors at its level instead of the bench's average.

The first pick is the generic one unless another expert's expected error is
lower by more than half the interval's width at the query's novelty
(:func:`held_first`): a predicted advantage within the prediction's own
uncertainty does not displace the safe default. The rest of the ranking keeps
its order.

(a, b) are fitted on left-out folds (whole collections of tasks Model2Vec
never saw, plus held-out tasks of the collections it did see), by the mean
gap in points of the top pick, on a fixed grid (:func:`fit_weight`). The
interval around each expected error is +-q(r), a linear quantile fit of the
absolute residual (measured - predicted, in error units) against log r on the
same left-out examples (:func:`fit_interval`; symmetric, since the residuals'
lean changes sign between collections), taken without the difficulty
offset: the prior-only residuals are the wider ones on the bench's folds, and
quantiles of the offset residuals under-cover a fold the fit never saw
(docs/figures/leave-out.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = [
    "DEFAULT_WEIGHT",
    "Difficulty",
    "FoldExample",
    "Interval",
    "Novelty",
    "Shrinkage",
    "SHAPES",
    "blend",
    "coverage",
    "coverage_spread",
    "difficulty_of",
    "fit_difficulty",
    "fit_interval",
    "fit_shrinkage",
    "fit_weight",
    "held_first",
    "hold_generic",
    "mean_abs_error",
    "novelty",
    "plausible",
    "plausible_architectures",
    "sigmoid",
    "verify_candidates",
    "POOLS",
    "top_pick_gap",
    "trust_weight",
]

#: the grid (a, b) of w(r) = sigmoid(a - b log r) searched by fit_weight
A_GRID = tuple(float(a) for a in np.linspace(-6.0, 6.0, 25))
B_GRID = tuple(float(b) for b in np.linspace(0.0, 12.0, 25))
#: used when no left-out folds could be formed (fewer than two collections): full weight near the
#: evidence (r <= 1), half at r = 2, a tenth at r = 4.6
DEFAULT_WEIGHT = (2.2, 3.2)
#: gaps (points) this close to the best count as ties, which go to the smaller weight
GAP_TOLERANCE = 0.1
#: the nominal coverage of the interval (quantiles (1 - c) / 2 and (1 + c) / 2 of the residuals)
NOMINAL_COVERAGE = 0.8
_CLIP = 0.005


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _CLIP, 1.0 - _CLIP)
    return np.log(p / (1.0 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise (the inverse of the error logit)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


# ---------------------------------------------------------------------- novelty
@dataclass(frozen=True)
class Novelty:
    """A query's distance to its nearest training task, as a ratio and a percentile of the zoo's own."""

    distance: float
    ratio: float
    percentile: float
    nearest: str | None = None


def nn_distances(train_dsym: np.ndarray) -> np.ndarray:
    """``[S]`` each training task's d_sym to its nearest other training task, from ``[S, S]`` d_sym."""
    matrix = np.array(train_dsym, dtype=np.float64)
    np.fill_diagonal(matrix, np.inf)
    return matrix.min(axis=1)


def novelty(query_dsym: np.ndarray, reference: np.ndarray, names: Sequence[str] | None = None) -> list[Novelty]:
    """Novelty of each query from ``[Q, S]`` d_sym to the training tasks and their own NN distances ``[S]``."""
    query_dsym = np.atleast_2d(np.asarray(query_dsym, dtype=np.float64))
    reference = np.sort(np.asarray(reference, dtype=np.float64))
    median = float(np.median(reference)) if reference.size else 1.0
    out = []
    for row in query_dsym:
        j = int(np.argmin(row))
        d = float(row[j])
        pct = 100.0 * np.searchsorted(reference, d, side="right") / max(reference.size, 1)
        out.append(Novelty(d, d / median if median > 0 else math.inf, float(pct), names[j] if names else None))
    return out


# ---------------------------------------------------------------------- the blend
def trust_weight(ratio: np.ndarray, weight: tuple[float, float]) -> np.ndarray:
    """``[T]`` w(r) = sigmoid(a - b log r): the share of Model2Vec's task term kept at novelty ratios ``[T]``."""
    a, b = weight
    return sigmoid(a - b * np.log(np.maximum(np.asarray(ratio, dtype=np.float64), 1e-12)))


def blend(
    expected: np.ndarray,
    prior: np.ndarray,
    ratio: np.ndarray,
    weight: tuple[float, float],
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """``[T, M]`` ranking errors y from expected errors ``[T, M]``, priors ``[M]`` and novelty ratios ``[T]``.

    ``offset`` ``[T]``: each query's difficulty offset delta(t) on the prior's logit (:class:`Difficulty`);
    common to every expert, so it changes no order.
    """
    w = trust_weight(ratio, weight)[:, None]
    base = _logit(prior)[None, :]
    if offset is not None:
        base = base + np.asarray(offset, dtype=np.float64)[:, None]
    return sigmoid(base + w * (_logit(expected) - base))


def held_first(expected: np.ndarray, generic: int, margin: float) -> bool:
    """Whether the generic pick stays first: no other expert's expected error ``[M]`` is lower than the
    generic pick's by more than ``margin`` (a predicted advantage within the uncertainty does not count)."""
    values = np.asarray(expected, dtype=np.float64)
    if generic < 0 or not np.isfinite(values[generic]) or not np.isfinite(values).any():
        return False
    return bool(values[generic] - np.nanmin(values) <= margin)


def hold_generic(scores: np.ndarray, generic: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """``[T, M]`` ranking scores (lower = better) with each task's generic pick moved first where
    :func:`held_first` holds; every other model keeps its order. ``generic`` ``[T]`` (negative: none),
    ``margin`` ``[T]`` in the units of ``scores``."""
    out = np.array(scores, dtype=np.float64)
    for t in range(out.shape[0]):
        g = int(generic[t])
        if held_first(out[t], g, float(margin[t])):
            out[t, g] = np.nanmin(out[t]) - 1e-9
    return out


# ---------------------------------------------------------------------- what a verification may shortlist
def _generic_error(expected: np.ndarray, generic: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each task's generic pick's expected error ``[T]``, NaN where none; whether it has one ``[T]``; the
    generic picks as integers ``[T]``) for expected errors ``[T, M]`` and picks ``generic`` ``[T]`` (-1: none)."""
    generic = np.asarray(generic, dtype=np.int64)
    base = np.where(generic >= 0, expected[np.arange(expected.shape[0]), np.maximum(generic, 0)], np.nan)
    return base, (generic >= 0) & np.isfinite(base), generic


def plausible(expected: np.ndarray, generic: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """``[T, M]`` bool: the experts a verification may shortlist, those whose expected error ``[T, M]`` is at
    most ``margin`` ``[T]`` above the generic pick's (``generic`` ``[T]``): the mirror of :func:`hold_generic`,
    which lets no expert displace the generic pick without beating it by more than the margin. LogME reads
    frozen features and cannot see that an expert fine-tunes badly; the measured transfers behind each
    expected error can. The generic pick is always plausible; a task without one (negative, or NaN expected
    error) keeps every expert with a finite expected error; NaN expected errors are never plausible."""
    expected = np.asarray(expected, dtype=np.float64)
    base, has, generic = _generic_error(expected, generic)
    with np.errstate(invalid="ignore"):
        out = expected - base[:, None] <= np.asarray(margin, dtype=np.float64)[:, None]
    out |= ~has[:, None]
    out &= np.isfinite(expected)
    out[np.flatnonzero(has), generic[has]] = True
    return out


def plausible_architectures(
    expected: np.ndarray, generic: np.ndarray, margin: np.ndarray, architectures: Sequence[str]
) -> np.ndarray:
    """``[T, M]`` bool: the experts whose architecture (``architectures`` ``[M]``) is plausible, its best
    expert's expected error at most ``margin`` ``[T]`` above the generic pick's (``generic`` ``[T]``); the
    generic pick's architecture always is. LogME ranks frozen features, which within one architecture tells a
    specialist from the rest, but not how well an architecture fine-tunes, which the measured transfers
    behind each expected error do (docs/figures/arch-preregistration.md). A task without a generic pick (or
    whose generic pick has no expected error) keeps every expert; NaN expected errors are never candidates."""
    expected = np.asarray(expected, dtype=np.float64)
    base, has, generic = _generic_error(expected, generic)
    names = sorted(set(architectures))
    member = np.array([[a == n for a in architectures] for n in names], dtype=bool)  # [A, M]
    finite = np.isfinite(expected)
    masked = np.where(member[None, :, :] & finite[:, None, :], expected[:, None, :], np.inf)  # [T, A, M]
    best = masked.min(axis=2)  # [T, A]
    with np.errstate(invalid="ignore"):
        ok = best - base[:, None] <= np.asarray(margin, dtype=np.float64)[:, None]
    own = member[:, np.maximum(generic, 0)].T  # [T, A]: the generic pick's architecture
    ok = np.where(has[:, None], ok | own, True)
    return (ok.astype(np.float64) @ member.astype(np.float64) > 0) & finite


def verify_candidates(
    pool: str, expected: np.ndarray, generic: np.ndarray, margin: np.ndarray, architectures: Sequence[str]
) -> np.ndarray | None:
    """The experts a verification may shortlist under ``pool`` (:data:`POOLS`): None (every expert) for
    "all", else :func:`plausible` or :func:`plausible_architectures`."""
    if pool == "all":
        return None
    if pool == "plausible":
        return plausible(expected, generic, margin)
    if pool == "architecture":
        return plausible_architectures(expected, generic, margin, architectures)
    raise ValueError(f"unknown verification pool {pool!r}: one of {', '.join(POOLS)}")


#: the verification pools :func:`verify_candidates` knows
POOLS = ("all", "plausible", "architecture")


# ---------------------------------------------------------------------- difficulty
def difficulty_of(params: dict | None) -> float:
    """A task's difficulty d: the logit of its probe head's training error, from an embedding's params (NaN
    when the embedding did not record one, e.g. one imported without its head)."""
    head = (params or {}).get("head") or {}
    accuracy = head.get("train_accuracy")
    if accuracy is None:
        return math.nan
    return float(_logit(np.array([1.0 - float(accuracy)]))[0])


@dataclass(frozen=True)
class Difficulty:
    """delta(t) = slope * (d_t - centre): the logit offset of every prior at a query of difficulty d_t."""

    slope: float = 0.0
    centre: float = 0.0

    def offset(self, difficulty: np.ndarray) -> np.ndarray:
        """``[T]`` offsets for difficulties ``[T]`` (0 where the difficulty is unknown)."""
        d = np.asarray(difficulty, dtype=np.float64)
        return np.where(np.isfinite(d), self.slope * (d - self.centre), 0.0)


def fit_difficulty(difficulty: np.ndarray, errors: np.ndarray, prior: np.ndarray) -> Difficulty:
    """Least-squares slope of logit(errors) - logit(prior) on the difficulty, over every measured pair.

    ``difficulty`` ``[S]`` of the seen tasks, ``errors`` ``[S, M]`` their measured errors (NaN: unmeasured),
    ``prior`` ``[M]``. Tasks without a difficulty and models without a prior take no part; fewer than two
    distinct difficulties give the zero offset.
    """
    d = np.asarray(difficulty, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    p = np.asarray(prior, dtype=np.float64)
    ok = np.isfinite(e) & np.isfinite(d)[:, None] & np.isfinite(p)[None, :]
    x = np.broadcast_to(d[:, None], e.shape)[ok]
    if x.size < 2 or np.ptp(x) == 0:
        return Difficulty()
    y = (_logit(np.where(ok, e, 0.5)) - _logit(p)[None, :])[ok]
    centre = float(x.mean())
    slope = float(np.sum((x - centre) * (y - y.mean())) / np.sum((x - centre) ** 2))
    return Difficulty(slope, centre)


@dataclass(frozen=True)
class FoldExample:
    """One query task of a left-out fold: what the fold's run predicted, the prior, the truth, the novelty."""

    task: str
    expected: np.ndarray  # [M] Model2Vec's expected errors
    prior: np.ndarray  # [M] mean measured error over the fold's training tasks
    truth: np.ndarray  # [M] measured errors (NaN: unmeasured)
    ratio: float
    novel: bool  # the task's collection was left out of the fold's training
    offset: float = 0.0  # the difficulty offset delta(t) of the fold run's prior (Difficulty)


def top_pick_gap(scores: np.ndarray, truth: np.ndarray) -> float:
    """Points between the measured error of argmin(scores) and the best measured error (measured models only)."""
    ok = np.isfinite(truth) & np.isfinite(scores)
    if ok.sum() < 2:
        return math.nan
    s, e = scores[ok], truth[ok]
    return 100.0 * float(e[int(np.argmin(s))] - e.min())


def _mean_gap(examples: Sequence[FoldExample], weight: tuple[float, float]) -> float:
    gaps = []
    for ex in examples:
        y = blend(ex.expected[None, :], ex.prior, np.array([ex.ratio]), weight)[0]
        gaps.append(top_pick_gap(y, ex.truth))
    gaps = [g for g in gaps if not math.isnan(g)]
    return float(np.mean(gaps)) if gaps else math.nan


def fit_weight(examples: Sequence[FoldExample], tolerance: float = GAP_TOLERANCE) -> tuple[float, float]:
    """(a, b) on the grid with the lowest mean top-pick gap over ``examples``, preferring the prior.

    Every grid point whose gap is within ``tolerance`` points of the best counts as a tie, and the tie
    with the least mean weight over the examples wins: Model2Vec's task term is trusted only where it
    measurably beats the prior on left-out data.
    """
    if not examples:
        return DEFAULT_WEIGHT
    ratios = np.array([max(ex.ratio, 1e-12) for ex in examples])
    scored = []
    for a in A_GRID:
        for b in B_GRID:
            weight = float(np.mean(trust_weight(ratios, (a, b))))
            scored.append((_mean_gap(examples, (a, b)), weight, a, b))
    best = min(gap for gap, _, _, _ in scored)
    ties = [(weight, -b, a) for gap, weight, a, b in scored if gap <= best + tolerance]
    _, minus_b, a = min(ties)
    return (a, -minus_b)


# ---------------------------------------------------------------------- intervals
@dataclass(frozen=True)
class Interval:
    """Residual quantiles against log r for the low and high ends, on ``scale``: "error" (error units, added to
    the expected error) or "logit" (added to the expected error's logit, then mapped back by the sigmoid, so a
    band of fixed size is narrower near 0 or 1 than near 0.5).

    Each end is a line ``q(r) = c0 + c1 * log r`` (``low``, ``high``), unless ``steps`` is given: then the
    interval is +-q(r) with q a nondecreasing curve through the points ``steps = (log r values, widths)``,
    interpolated linearly between them and constant beyond the first and the last (shape "monotone" of
    :func:`fit_interval`)."""

    low: tuple[float, float]
    high: tuple[float, float]
    nominal: float = NOMINAL_COVERAGE
    scale: str = "error"
    steps: tuple[tuple[float, ...], tuple[float, ...]] | None = None

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
        down, up = self._ends(np.log(np.maximum(ratio, 1e-12)))
        return (up - down) / 2.0

    def bounds(self, expected: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) ``[T, M]`` around expected errors ``[T, M]`` at novelty ratios ``[T]``, within [0, 1]."""
        down, up = self._ends(np.log(np.maximum(np.asarray(ratio, dtype=np.float64), 1e-12))[:, None])
        if self.scale == "logit":
            z = _logit(expected)
            return sigmoid(z + down), sigmoid(z + up)
        return np.clip(expected + down, 0.0, 1.0), np.clip(expected + up, 0.0, 1.0)


SHAPES = ("signed", "symmetric", "logit", "monotone", "novel")


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


def _novel_interval(examples: Sequence[FoldExample], weight: tuple[float, float], nominal: float) -> Interval:
    """+-q, q the ``nominal`` quantile of |measured - expected| over the measured pairs of the novel examples
    (every example when none is novel), the expected error with the difficulty offset (what recommend reports)."""
    chosen = [ex for ex in examples if ex.novel] or list(examples)
    gaps = []
    for ex in chosen:
        y = blend(ex.expected[None, :], ex.prior, np.array([ex.ratio]), weight, np.array([ex.offset]))[0]
        ok = np.isfinite(ex.truth)
        gaps.append(np.abs(ex.truth[ok] - y[ok]))
    if sum(g.size for g in gaps) < 10:
        return Interval((-0.2, 0.0), (0.2, 0.0), nominal)
    q = float(np.quantile(np.concatenate(gaps), nominal))
    return Interval((-q, 0.0), (q, 0.0), nominal)


def _inside(ex: FoldExample, weight: tuple[float, float], interval: Interval) -> tuple[int, int]:
    """(measured pairs inside the interval, measured pairs) of one example, the interval placed around the
    expected error recommend reports (the blend with the example's difficulty offset)."""
    y = blend(ex.expected[None, :], ex.prior, np.array([ex.ratio]), weight, np.array([ex.offset]))
    lo, hi = interval.bounds(y, np.array([ex.ratio]))
    ok = np.isfinite(ex.truth)
    return int(np.sum((ex.truth[ok] >= lo[0][ok]) & (ex.truth[ok] <= hi[0][ok]))), int(ok.sum())


def coverage(examples: Sequence[FoldExample], weight: tuple[float, float], interval: Interval) -> float:
    """Fraction of measured pairs of ``examples`` whose measured error lies inside the interval (placed
    around the expected error recommend reports: the blend with each example's difficulty offset)."""
    counts = [_inside(ex, weight, interval) for ex in examples]
    total = sum(n for _, n in counts)
    return sum(h for h, _ in counts) / total if total else math.nan


def coverage_spread(
    examples: Sequence[FoldExample],
    weight: tuple[float, float],
    interval: Interval,
    level: float = 0.9,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """A ``level`` percentile range of :func:`coverage` over the examples resampled with replacement (a task's
    measured pairs move together: they share its residual's lean, so the tasks, not the pairs, are the sample).
    (nan, nan) without measured pairs."""
    counts = np.array([_inside(ex, weight, interval) for ex in examples], dtype=np.float64).reshape(-1, 2)
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
        y = blend(ex.expected[None, :], ex.prior, np.array([ex.ratio]), weight, np.array([ex.offset]))[0]
        ok = np.isfinite(ex.truth)
        gaps.append(np.abs(ex.truth[ok] - y[ok]))
    return 100.0 * float(np.mean(np.concatenate(gaps))) if gaps and sum(g.size for g in gaps) else math.nan


# ---------------------------------------------------------------------- fitted together
@dataclass(frozen=True)
class Shrinkage:
    """The fitted weight and interval, stored with a Model2Vec run (``as_dict`` / ``from_dict``)."""

    weight: tuple[float, float] = DEFAULT_WEIGHT
    interval: Interval = field(default_factory=lambda: Interval((-0.2, 0.0), (0.2, 0.0)))
    fitted_on: tuple[str, ...] = ()  # the left-out folds it was fitted on (empty: the default)
    examples: int = 0
    difficulty: Difficulty | None = None  # fitted on the run's seen tasks (None: a run stored before it)

    def as_dict(self) -> dict:
        out = {
            "weight": list(self.weight),
            "interval": asdict(self.interval),
            "fitted_on": list(self.fitted_on),
            "examples": self.examples,
        }
        if self.difficulty is not None:
            out["difficulty"] = asdict(self.difficulty)
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> Shrinkage:
        if not data:
            return cls()
        iv = data.get("interval") or {}
        interval = Interval(
            tuple(iv.get("low", (-0.2, 0.0))),
            tuple(iv.get("high", (0.2, 0.0))),
            float(iv.get("nominal", NOMINAL_COVERAGE)),
            str(iv.get("scale", "error")),
            _steps(iv.get("steps")),
        )
        difficulty = data.get("difficulty")
        return cls(
            tuple(data.get("weight", DEFAULT_WEIGHT)),
            interval,
            tuple(data.get("fitted_on", ())),
            int(data.get("examples", 0)),
            Difficulty(float(difficulty["slope"]), float(difficulty["centre"])) if difficulty else None,
        )


def _steps(data: Sequence | None) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """An :class:`Interval`'s ``steps`` as stored (two lists), or None."""
    if not data:
        return None
    return tuple(float(v) for v in data[0]), tuple(float(v) for v in data[1])


def fit_shrinkage(examples: Sequence[FoldExample], folds: Sequence[str]) -> Shrinkage:
    """Weight and interval fitted on the examples of left-out ``folds``."""
    weight = fit_weight(examples)
    return Shrinkage(weight, fit_interval(examples, weight), tuple(folds), len(examples))
