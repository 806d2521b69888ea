"""The retrieval space of the index: centred logs, where squared L2 approximates d_sym; and the exact d_sym.

d_sym (METHOD.md section 5) is not a vector metric FAISS computes: the
element-wise normalisation a / (a + b) couples the two vectors. It depends only
on the per-filter log ratios delta = log a - log b, and to second order around
delta = const it is

    d_sym(a, b) ~= ||c(log a) - c(log b)||^2 / (2 D),    c(x) = x - mean(x)

(expand r = sigmoid(delta) in cos(r, 1 - r)). So candidates are retrieved with
an L2 index over centred log vectors (:func:`log_space`; each filter floored at
``LOG_FLOOR`` x its median, :func:`column_floors`, so zeros stay finite and
cannot dominate, as d_sym saturates). Real neighbours sit past the
second-order regime, so the scale between the two is measured on the
collection (:func:`calibrate_offset_scale`). Candidates are re-ranked with the
exact d_sym (:func:`d_sym_to`, the same arithmetic as
:func:`zoo.embedding.distance.d_sym_matrix`, which the tests check; the index
imports no sibling part).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["LOG_FLOOR", "calibrate_offset_scale", "column_floors", "d_sym_to", "log_space"]

#: values below this fraction of a filter's median (rows scaled to mean 1) are clipped before the log.
LOG_FLOOR = 0.2
_TINY = 1e-30  # filters where both vectors sum below this are left out of d_sym


def column_floors(vectors: np.ndarray) -> np.ndarray:
    """Per-filter floors ``[D]`` for :func:`log_space`: ``LOG_FLOOR`` times the column's median positive value.

    Rows are first divided by their mean (d_sym's retrieval space is centred
    per row anyway). A floor keeps zeros finite and caps how far one filter
    can pull the squared distance, which d_sym itself saturates (a filter
    where one vector is 0 contributes at most what a huge ratio does).
    """
    x = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    x = x / np.maximum(x.mean(axis=1, keepdims=True), 1e-300)
    masked = np.where(x > 0, x, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-zero filter: handled just below
        median = np.nanmedian(masked, axis=0) if x.shape[0] else np.ones(x.shape[1])
    median = np.where(np.isfinite(median), median, 1.0)
    return (LOG_FLOOR * median).astype(np.float64)


def log_space(vectors: np.ndarray, floors: np.ndarray | None = None) -> np.ndarray:
    """Centred log of non-negative rows ``[N, D]`` -> float32 ``[N, D]`` (the retrieval space).

    Each row is divided by its mean and floored per filter at ``floors`` ``[D]``
    (default :func:`column_floors` of the rows themselves) before the log.
    """
    x = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    if np.any(x < 0) or not np.all(np.isfinite(x)):
        raise ValueError("embeddings must be finite and non-negative")
    floors = column_floors(x) if floors is None else np.asarray(floors, dtype=np.float64)
    x = x / np.maximum(x.mean(axis=1, keepdims=True), 1e-300)
    logs = np.log(np.maximum(x, floors[None, :]))
    return (logs - logs.mean(axis=1, keepdims=True)).astype(np.float32)


def calibrate_offset_scale(
    vectors: np.ndarray, floors: np.ndarray, *, sample: int = 32, pool: int = 4000, neighbours: int = 32, seed: int = 0
) -> float:
    """s such that squared log-space distance ~= s * 2 D * d_sym among near neighbours.

    The second-order expansion gives s = 1 at small distances; real
    neighbours sit further out, where d_sym grows more slowly than the squared
    log distance. Folding d_asym's offset in with the wrong scale would weigh
    it wrongly against d_sym, so s is measured: the median ratio over each
    sampled row's ``neighbours`` nearest rows (by log distance) in a random pool.
    """
    x = np.asarray(vectors)
    n, dim = x.shape
    if n < 3:
        return 1.0
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(sample, n), replace=False)
    candidates = rng.choice(n, size=min(pool, n), replace=False)
    a, b = log_space(x[rows], floors).astype(np.float64), log_space(x[candidates], floors).astype(np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    ratios = []
    for i, row in enumerate(rows):
        order = [j for j in np.argsort(squared[i]) if candidates[j] != row][:neighbours]
        d = d_sym_to(x[row], x[candidates[order]])
        ok = d > 1e-12
        ratios.extend(squared[i, order][ok] / (2 * dim * d[ok]))
    return float(np.median(ratios)) if ratios else 1.0


def d_sym_to(query: np.ndarray, rows: np.ndarray, *, block: int = 128) -> np.ndarray:
    """Exact d_sym of each row ``[n, D]`` to ``query`` ``[D]`` -> ``[n]`` float64, in [0, 1].

    u = r / (r + q), v = q / (r + q) element-wise (filters where both are 0 left
    out), d_sym = 1 - cos(u, v); 0 for identical vectors, 1 for disjoint
    supports. The same arithmetic as :func:`zoo.embedding.distance.d_sym_matrix`
    (tests/index checks they agree exactly), in blocks of ``block`` rows so the
    temporaries stay in cache.
    """
    q = np.asarray(query, dtype=np.float64)[None, :]
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    out = np.empty(rows.shape[0], dtype=np.float64)
    for start in range(0, rows.shape[0], block):
        r = rows[start : start + block]
        total = r + q
        live = total > _TINY
        safe = np.where(live, total, 1.0)
        u = np.where(live, r / safe, 0.0)
        v = np.where(live, q / safe, 0.0)
        dot = (u * v).sum(-1)
        norm = np.sqrt((u * u).sum(-1) * (v * v).sum(-1))
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = 1.0 - dot / norm
        same = np.all(r == q, axis=-1)
        out[start : start + block] = np.clip(np.where(norm > 0, dist, np.where(same, 0.0, 1.0)), 0.0, 1.0)
    return out
