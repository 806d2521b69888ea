"""Novelty, the trust weight and the blend toward the prior, the hold and verification pools, the difficulty
offset, and the weight's fit on left-out folds (the formulas: :mod:`zoo.shrinkage`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: the grid (a, b) of w(r) = sigmoid(a - b log r) searched by fit_weight
A_GRID = tuple(float(a) for a in np.linspace(-6.0, 6.0, 25))
B_GRID = tuple(float(b) for b in np.linspace(0.0, 12.0, 25))
#: used when no left-out folds could be formed (fewer than two collections): full weight near the
#: evidence (r <= 1), half at r = 2, a tenth at r = 4.6
DEFAULT_WEIGHT = (2.2, 3.2)
#: gaps (points) this close to the best count as ties, which go to the smaller weight
GAP_TOLERANCE = 0.1
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


def logit_mean(errors: np.ndarray) -> float:
    """The error whose logit is the mean of the finite ``errors``' logits (clipped as :func:`blend` clips them):
    the "average expert" a model without evidence counts as. NaN when none is finite."""
    values = np.asarray(errors, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(sigmoid(np.mean(_logit(values)))) if values.size else float("nan")


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


#: the fewest seen tasks of distinct difficulty the offset is fitted on. A slope through a handful of tasks
#: is set by whichever one is hardest, and a query harder still is pushed to 97% expected errors on a
#: 3-class task (a four-task registry did this); below it, every prior is taken at the typical difficulty.
MIN_DIFFICULTY_TASKS = 10


def fit_difficulty(difficulty: np.ndarray, errors: np.ndarray, prior: np.ndarray) -> Difficulty:
    """Least-squares slope of logit(errors) - logit(prior) on the difficulty, over every measured pair.

    ``difficulty`` ``[S]`` of the seen tasks, ``errors`` ``[S, M]`` their measured errors (NaN: unmeasured),
    ``prior`` ``[M]``. Tasks without a difficulty and models without a prior take no part; fewer than
    :data:`MIN_DIFFICULTY_TASKS` distinct difficulties among the tasks that do give the zero offset.
    """
    d = np.asarray(difficulty, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    p = np.asarray(prior, dtype=np.float64)
    ok = np.isfinite(e) & np.isfinite(d)[:, None] & np.isfinite(p)[None, :]
    if np.unique(d[ok.any(axis=1)]).size < max(MIN_DIFFICULTY_TASKS, 2):
        return Difficulty()
    x = np.broadcast_to(d[:, None], e.shape)[ok]
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
