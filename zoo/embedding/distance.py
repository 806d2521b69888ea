"""Distances between task embeddings (METHOD section 5; paper section 3.2).

Symmetric (taxonomic) distance, element-wise normalisation then cosine:

    d_sym(Fa, Fb) = d_cos( Fa / (Fa + Fb), Fb / (Fa + Fb) )

Asymmetric (transfer) distance from a source task ``ta`` to a target ``tb``:

    d_asym(ta -> tb) = d_sym(ta, tb) - alpha * d_sym(ta, t0)

``t0`` is the trivial embedding (:func:`trivial_embedding`). Embeddings are
non-negative, so u = a/(a+b) and v = b/(a+b) = 1 - u lie in [0, 1] and d_sym lies
in [0, 1]: 0 when b is a positive multiple of a (identical included), 1 when the supports are
disjoint. Filters where both tasks are zero carry no information and are left
out (u = v = 0 there).

d_sym depends on both vectors jointly, so it is not a metric a vector index
computes directly; the matrix forms below scan exactly, in chunks.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ALPHA", "d_sym", "d_asym", "d_sym_matrix", "d_asym_matrix", "trivial_embedding"]

#: the paper's weight of the "richness" term in d_asym.
ALPHA = 0.15
_TINY = 1e-30
_CHUNK_ELEMENTS = 1 << 16  # elements of one [n, M, D] block: small blocks stay in cache, which is faster


def _as_vector(x) -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a vector [D], got shape {array.shape}")
    return array


def d_sym(a, b) -> float:
    """Symmetric Task2Vec distance of two non-negative embeddings ``a``, ``b`` [D]. In [0, 1]."""
    a, b = _as_vector(a), _as_vector(b)
    if a.shape != b.shape:
        raise ValueError(f"embeddings of different lengths {a.shape[0]} and {b.shape[0]}")
    total = a + b
    live = total > _TINY
    u = np.where(live, a / np.where(live, total, 1.0), 0.0)
    v = np.where(live, b / np.where(live, total, 1.0), 0.0)
    norm = np.sqrt((u * u).sum() * (v * v).sum())
    if norm <= 0:
        return 0.0 if np.array_equal(a, b) else 1.0
    return float(np.clip(1.0 - (u * v).sum() / norm, 0.0, 1.0))


def d_asym(a, b, t0, alpha: float = ALPHA) -> float:
    """Asymmetric distance from source ``a`` to target ``b``: d_sym(a, b) - alpha * d_sym(a, t0)."""
    return d_sym(a, b) - alpha * d_sym(a, t0)


def d_sym_matrix(A, B) -> np.ndarray:
    """All pairwise d_sym of rows of ``A`` [N, D] and ``B`` [M, D] -> [N, M] float64.

    Vectorised over blocks of rows of A; equals the scalar :func:`d_sym` per pair.
    """
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    B = np.atleast_2d(np.asarray(B, dtype=np.float64))
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"embeddings of different lengths {A.shape[1]} and {B.shape[1]}")
    n, m, d = A.shape[0], B.shape[0], A.shape[1]
    out = np.empty((n, m), dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // max(1, m * d))
    for start in range(0, n, step):
        a = A[start : start + step, None, :]  # [n', 1, D]
        total = a + B[None, :, :]  # [n', M, D]
        live = total > _TINY
        safe = np.where(live, total, 1.0)
        u = np.where(live, a / safe, 0.0)
        v = np.where(live, B[None, :, :] / safe, 0.0)
        dot = (u * v).sum(-1)
        norm = np.sqrt((u * u).sum(-1) * (v * v).sum(-1))
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = 1.0 - dot / norm
        same = np.all(a == B[None, :, :], axis=-1)
        dist = np.where(norm > 0, dist, np.where(same, 0.0, 1.0))
        out[start : start + step] = np.clip(dist, 0.0, 1.0)
    return out


def d_asym_matrix(A, B, t0, alpha: float = ALPHA) -> np.ndarray:
    """d_asym from each source row of ``A`` [N, D] to each target row of ``B`` [M, D] -> [N, M].

    ``t0`` is one trivial embedding [D] or one per source row [N, D].
    """
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    t0 = np.asarray(t0, dtype=np.float64)
    if t0.ndim == 1:
        richness = d_sym_matrix(A, t0[None, :])[:, 0]
    else:
        richness = np.array([d_sym(a, t) for a, t in zip(A, t0)])
    return d_sym_matrix(A, B) - alpha * richness[:, None]


def trivial_embedding(embedding) -> np.ndarray:
    """The trivial embedding t0 [D] of an embedding (ours or a registry record): its ``prior``.

    - ``variational``: the prior precision 1/lambda^2 of each filter's layer
      (METHOD section 4): what a task without information gets.
    - ``montecarlo`` / ``expected``: the same prior mapped to Fisher units,
      2 * beta / lambda_l^2 with beta = 1e-7 and lambda_l^2 = mean of w^2 over
      layer l of the probe (see :func:`zoo.embedding.probe.fisher_prior`). It
      depends on the probe only, so every task of one probe shares it; a filter
      whose Fisher is far above it counts as "used" by the task.
    """
    prior = getattr(embedding, "prior", None)
    if prior is None:
        raise ValueError("this embedding has no stored prior (t0); re-embed the task with this version of zoo")
    return np.asarray(prior, dtype=np.float64)
