"""Judging a model selection on held-out tasks (METHOD.md section 7).

Every method produces, for each held-out task, a score per candidate model
(lower = better: a distance, or minus a transferability score). Against the
ground truth (measured transfer errors ``[T, M]``, NaN where unmeasured):

- relative error to the oracle, 100 * (err_selected - err_best) / err_best
  (the Task2Vec paper's metric), mean over tasks; the denominator is floored
  at ``RELATIVE_FLOOR`` (one percentage point), since a task some expert
  solves perfectly would otherwise make any miss infinitely bad;
- absolute gap in percentage points, 100 * (err_selected - err_best);
- top-1 / top-3 hit rates (the best model is the pick / among the first 3);
- Kendall tau and weighted Kendall tau (scipy's hyperbolic weighting, which
  stresses the top of the ranking) between the method's ranking and the
  ground truth.

Chance is scored analytically (the mean over a uniformly random pick), not
by sampling. Each method also reports its cost: seconds and forward passes
per query task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RELATIVE_FLOOR = 0.01

__all__ = [
    "RELATIVE_FLOOR",
    "MethodScores",
    "selection_metrics",
    "chance_metrics",
    "evaluate_methods",
    "hybrid_scores",
    "screened_scores",
    "markdown_table",
]


@dataclass
class MethodScores:
    """One method's scores ``[T, M]`` (lower = better, NaN = not scored) and its cost per query task."""

    name: str
    scores: np.ndarray
    seconds_per_task: float = 0.0
    forward_passes_per_task: float = 0.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def selection_metrics(scores: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    """Metrics of picking argmin(scores) per task, against ``errors`` ``[T, M]``.

    Only models with both a score and a measured error count; tasks with fewer
    than two such models are skipped.
    """
    from scipy.stats import kendalltau, weightedtau

    rel, gap, top1, top3, tau, wtau, spread = [], [], [], [], [], [], []
    for s_row, e_row in zip(np.asarray(scores, float), np.asarray(errors, float)):
        ok = ~np.isnan(s_row) & ~np.isnan(e_row)
        if ok.sum() < 2:
            continue
        s, e = s_row[ok], e_row[ok]
        order = np.lexsort((np.arange(s.size), s))
        best = float(e.min())
        chosen = float(e[order[0]])
        rel.append(100.0 * (chosen - best) / max(best, RELATIVE_FLOOR))
        gap.append(100.0 * (chosen - best))
        top1.append(float(chosen <= best))
        top3.append(float(np.any(e[order[:3]] <= best)))
        spread.append(100.0 * float(e.max() - best))
        if np.ptp(s) > 0 and np.ptp(e) > 0:
            tau.append(float(kendalltau(s, e).statistic))
            # weightedtau weighs elements with large values; negate so the best (lowest) count most
            wtau.append(float(weightedtau(-s, -e).statistic))
    if not rel:
        return {"tasks": 0}
    return {
        "tasks": len(rel),
        "relative_error": float(np.mean(rel)),
        "gap_points": float(np.mean(gap)),
        "top1": float(np.mean(top1)),
        "top3": float(np.mean(top3)),
        "kendall_tau": float(np.mean(tau)) if tau else float("nan"),
        "weighted_tau": float(np.mean(wtau)) if wtau else float("nan"),
        "spread_points": float(np.mean(spread)),
    }


def hybrid_scores(
    scores: np.ndarray,
    transferability: np.ndarray,
    k: int,
    anchor: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Shortlist ``k`` models per task by ``scores`` ``[T, M]`` (lower = better), re-rank them by
    ``transferability`` ``[T, M]`` (higher = better, e.g. LogME; only the shortlist's values are read).

    ``anchor`` ``[T]`` (optional) names one model per task that is always on the shortlist (the generic
    choice): when it is not among the first ``k`` it takes the k-th place, so the shortlist still costs ``k``
    forward passes and the re-ranking can only leave the anchor on the query's own evidence. A negative
    anchor, or one whose score is NaN, means none for that task; a shortlist of one (``k = 1``) has none.
    ``candidates`` ``[T, M]`` (optional, bool): only these may be shortlisted (a verification's eligible experts,
    :func:`zoo.shrinkage.verify_candidates`); the others keep their place in ``scores`` order after the shortlist.

    Returns new scores ``[T, M]``: the shortlist first, in descending transferability, then every other
    model in its original order; NaN scores stay NaN. The cost is ``k`` forward passes per task.
    """
    scores = np.asarray(scores, dtype=np.float64)
    transferability = np.asarray(transferability, dtype=np.float64)
    out = np.full_like(scores, np.nan)
    for t in range(scores.shape[0]):
        order = _ranked(scores[t])
        pool = _eligible(order, None if candidates is None else candidates[t])
        if anchor is not None and k > 1 and int(anchor[t]) in pool[k - 1 :]:
            a = int(anchor[t])
            pool = np.concatenate([pool[: k - 1], [a], pool[k - 1 :][pool[k - 1 :] != a]])
        short = pool[:k]
        rest = order[~np.isin(order, short)]
        _rerank(out[t], np.concatenate([short, rest]), short.size, transferability[t])
    return out


#: screen values equal to this many decimals tie (:func:`screened_scores`); LogME gains differ by 1e-3 or more
SCREEN_DECIMALS = 9


def screened_scores(
    scores: np.ndarray,
    screen: np.ndarray,
    transferability: np.ndarray,
    k: int,
    anchor: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`hybrid_scores` with a shortlist drawn from two proposers: the ranking ``scores`` ``[T, M]``
    (lower = better) and a cheap ``screen`` ``[T, M]`` (higher = better: LogME of every model on a small
    share of the query's images).

    The shortlist holds the anchor (as in :func:`hybrid_scores`; none for ``k = 1`` or a negative one), then
    alternately the screen's best and the ranking's best not yet listed, the screen first, until ``k``. Only
    models with a finite score are candidates (the allowed set), and of those only ``candidates`` ``[T, M]``
    when given (the others are never screened or listed); a NaN screen value never proposes. Screen values
    equal to :data:`SCREEN_DECIMALS` decimals tie, and ties go to the ranking's order: a screen on one image
    per class scores every expert 0 (relabelling one image per class only renames the classes), and float
    noise of 1e-16 must not pick its "best". Re-ranked by ``transferability``, the rest in ``scores`` order,
    as :func:`hybrid_scores`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    screen = np.asarray(screen, dtype=np.float64)
    transferability = np.asarray(transferability, dtype=np.float64)
    out = np.full_like(scores, np.nan)
    for t in range(scores.shape[0]):
        order = _ranked(scores[t])
        pool = _eligible(order, None if candidates is None else candidates[t])
        valid = np.isfinite(screen[t, pool])
        tied = np.round(screen[t, pool[valid]], SCREEN_DECIMALS)  # float noise is no preference
        proposers = [list(pool[valid][np.lexsort((np.flatnonzero(valid), -tied))]), list(pool)]
        short: list[int] = []
        if anchor is not None and k > 1 and int(anchor[t]) in pool:
            short.append(int(anchor[t]))
        turn = 0
        while len(short) < min(k, pool.size):
            pick = next((j for j in proposers[turn % 2] if j not in short), None)
            if pick is not None:
                short.append(int(pick))
            turn += 1
        rest = [int(j) for j in order if j not in short]
        _rerank(out[t], np.array(short + rest, dtype=np.int64), len(short), transferability[t])
    return out


def _ranked(row: np.ndarray) -> np.ndarray:
    """The indices of ``row``'s finite entries, ascending (ties by index)."""
    valid = np.flatnonzero(~np.isnan(row))
    return valid[np.lexsort((valid, row[valid]))]


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """``[T, M]`` bool: each task's ``k`` best-ranked models by ``scores`` ``[T, M]`` (lower = better; NaN is never
    ranked; ties by index), the rows a ranking shows when asked for ``k``."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.zeros(scores.shape, dtype=bool)
    for t, row in enumerate(scores):
        out[t, _ranked(row)[: max(int(k), 0)]] = True
    return out


def _eligible(order: np.ndarray, candidates: np.ndarray | None) -> np.ndarray:
    """The entries of ``order`` that ``candidates`` (one task's ``[M]`` bool; None: all) admits, in that order."""
    return order if candidates is None else order[np.asarray(candidates, dtype=bool)[order]]


def _rerank(out: np.ndarray, order: np.ndarray, k: int, transferability: np.ndarray) -> None:
    """Write into ``out`` the positions of ``order``'s first ``k`` by descending ``transferability`` (NaN last,
    ties in ``order``), then the rest of ``order`` as it stands."""
    short, rest = order[:k], order[k:]
    value = np.where(np.isnan(transferability[short]), -np.inf, transferability[short])
    short = short[np.lexsort((np.arange(short.size), -value))]
    out[short] = np.arange(short.size)
    out[rest] = short.size + np.arange(rest.size)


def chance_metrics(errors: np.ndarray) -> dict[str, float]:
    """Expected metrics of a uniformly random pick (exact means, no sampling)."""
    rel, gap, top1, top3 = [], [], [], []
    for e_row in np.asarray(errors, float):
        e = e_row[~np.isnan(e_row)]
        if e.size < 2:
            continue
        best = float(e.min())
        rel.append(float(np.mean(100.0 * (e - best) / max(best, RELATIVE_FLOOR))))
        gap.append(float(np.mean(100.0 * (e - best))))
        n_best = int(np.sum(e <= best))
        top1.append(n_best / e.size)
        # P(at least one best among 3 drawn without replacement)
        m = e.size
        draws = min(3, m)
        miss = 1.0
        for i in range(draws):
            miss *= (m - n_best - i) / (m - i) if m - n_best - i > 0 else 0.0
        top3.append(1.0 - miss)
    if not rel:
        return {"tasks": 0}
    return {
        "tasks": len(rel),
        "relative_error": float(np.mean(rel)),
        "gap_points": float(np.mean(gap)),
        "top1": float(np.mean(top1)),
        "top3": float(np.mean(top3)),
        "kendall_tau": 0.0,
        "weighted_tau": 0.0,
    }


def evaluate_methods(
    methods: Sequence[MethodScores], errors: np.ndarray, *, chance: bool = True
) -> list[dict[str, Any]]:
    """One row per method (chance first when asked), metrics plus cost."""
    rows = []
    if chance:
        rows.append(
            {
                "method": "chance",
                **chance_metrics(errors),
                "seconds_per_task": 0.0,
                "forward_passes_per_task": 0.0,
                "note": "mean over a uniformly random pick",
            }
        )
    for method in methods:
        rows.append(
            {
                "method": method.name,
                **selection_metrics(method.scores, errors),
                "seconds_per_task": method.seconds_per_task,
                "forward_passes_per_task": method.forward_passes_per_task,
                "note": method.note,
            }
        )
    return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The evaluation rows as a Markdown table."""
    columns = [
        ("method", "method", "{}"),
        ("relative_error", "rel. error to oracle (%)", "{:.1f}"),
        ("gap_points", "gap (points)", "{:.2f}"),
        ("top1", "top-1", "{:.2f}"),
        ("top3", "top-3", "{:.2f}"),
        ("kendall_tau", "Kendall tau", "{:.2f}"),
        ("weighted_tau", "weighted tau", "{:.2f}"),
        ("seconds_per_task", "s / task", "{:.3g}"),
        ("forward_passes_per_task", "forward passes / task", "{:.3g}"),
        ("tasks", "tasks", "{}"),
    ]
    lines = ["| " + " | ".join(c[1] for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append(
                "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value)
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
