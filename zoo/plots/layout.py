"""The 2-D layout behind the task map: t-SNE or classical MDS on a precomputed distance matrix (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from registry.errors import InvalidInput
from zoo.plots.ordering import check_distance_matrix

__all__ = ["classical_mds", "embed_2d", "tsne", "tsne_affinities", "tsne_gradient"]


def embed_2d(
    distance_matrix: Any, *, method: str = "tsne", seed: int = 0, perplexity: float | None = None
) -> np.ndarray:
    """Place N items in 2-D from their [N, N] distances; returns [N, 2].

    ``method``: ``"tsne"`` (exact t-SNE on the precomputed distances, van der
    Maaten & Hinton 2008, initialised from classical MDS) or ``"mds"`` (classical
    Torgerson MDS). Deterministic for a given ``seed``.
    """
    array = check_distance_matrix(distance_matrix)
    array = np.clip((array + array.T) / 2.0, 0.0, None)
    np.fill_diagonal(array, 0.0)
    n = array.shape[0]
    if method not in ("tsne", "mds"):
        raise InvalidInput(f"unknown layout method {method!r}: use 'tsne' or 'mds'")
    if n < 4 or method == "mds":
        return classical_mds(array)
    return tsne(array, seed=seed, perplexity=perplexity)


def classical_mds(distance_matrix: Any, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS: [N, N] distances -> [N, dims] coordinates.

    Double-centre the squared distances, B = -1/2 J D^2 J, and scale the top
    eigenvectors by sqrt(eigenvalue) (negative eigenvalues count as 0). Each
    column's sign is fixed so its largest-magnitude entry is positive.
    """
    array = check_distance_matrix(distance_matrix)
    n = array.shape[0]
    squared = array**2
    centred = squared - squared.mean(axis=0, keepdims=True) - squared.mean(axis=1, keepdims=True) + squared.mean()
    gram = -0.5 * (centred + centred.T) / 2.0
    values, vectors = np.linalg.eigh(gram)
    top = np.argsort(values)[::-1][:dims]
    coords = vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))
    if coords.shape[1] < dims:
        coords = np.hstack([coords, np.zeros((n, dims - coords.shape[1]))])
    for j in range(dims):
        column = coords[:, j]
        if column.size and column[np.argmax(np.abs(column))] < 0:
            coords[:, j] = -column
    return coords


def tsne_affinities(
    distance_matrix: np.ndarray, perplexity: float, *, tol: float = 1e-5, steps: int = 100
) -> np.ndarray:
    """Conditional affinities P[j|i] [N, N] with each row's perplexity matched.

    P[j|i] ~ exp(-beta_i * d_ij^2), beta_i found by bisection on log(beta) so the
    row entropy is log(perplexity); all rows are searched at once.
    """
    squared = distance_matrix**2
    n = squared.shape[0]
    scale = np.median(squared[~np.eye(n, dtype=bool)]) if n > 1 else 1.0
    squared = squared / (scale if scale > 0 else 1.0)
    target = np.log(perplexity)
    lo, hi = np.full(n, -50.0), np.full(n, 50.0)
    off_diagonal = ~np.eye(n, dtype=bool)
    for _ in range(steps):
        log_beta = (lo + hi) / 2.0
        probs = _row_probs(squared, np.exp(log_beta), off_diagonal)
        entropy = -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0), axis=1)
        too_flat = entropy > target  # entropy too high: sharpen (raise beta)
        lo = np.where(too_flat, log_beta, lo)
        hi = np.where(too_flat, hi, log_beta)
        if np.max(np.abs(entropy - target)) < tol:
            break
    return _row_probs(squared, np.exp((lo + hi) / 2.0), off_diagonal)


def _row_probs(squared: np.ndarray, beta: np.ndarray, off_diagonal: np.ndarray) -> np.ndarray:
    logits = np.where(off_diagonal, -squared * beta[:, None], -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def tsne_gradient(joint: np.ndarray, coords: np.ndarray) -> tuple[float, np.ndarray]:
    """KL(P || Q) and its gradient [N, 2] for joint affinities P [N, N] at ``coords``.

    dC/dy_i = 4 sum_j (p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|^2)  (eq. 5).
    """
    diff = coords[:, None, :] - coords[None, :, :]
    kernel = 1.0 / (1.0 + np.sum(diff**2, axis=-1))
    np.fill_diagonal(kernel, 0.0)
    q = np.maximum(kernel / kernel.sum(), 1e-12)
    p = np.maximum(joint, 1e-12)
    off = ~np.eye(len(coords), dtype=bool)
    cost = float(np.sum((joint * np.log(p / q))[off]))
    grad = 4.0 * np.einsum("ij,ijk->ik", (joint - q) * kernel, diff)
    return cost, grad


def tsne(
    distance_matrix: np.ndarray, *, seed: int = 0, perplexity: float | None = None, iterations: int = 750
) -> np.ndarray:
    """Exact t-SNE [N, 2] from [N, N] distances (gains, momentum, early exaggeration 12)."""
    n = distance_matrix.shape[0]
    perplexity = float(perplexity or min(15.0, max(2.0, (n - 1) / 3.0)))
    conditional = tsne_affinities(distance_matrix, perplexity)
    joint = (conditional + conditional.T) / (2.0 * n)
    rng = np.random.default_rng(seed)
    start = classical_mds(distance_matrix)
    spread = start.std() or 1.0
    coords = start / spread * 1e-2 + rng.normal(scale=1e-4, size=(n, 2))
    velocity = np.zeros_like(coords)
    gains = np.ones_like(coords)
    rate = max(n / 12.0 / 4.0, 50.0)
    for step in range(iterations):
        exaggeration, momentum = (12.0, 0.5) if step < 250 else (1.0, 0.8)
        _, grad = tsne_gradient(joint * exaggeration, coords)
        same_sign = np.sign(grad) == np.sign(velocity)
        gains = np.clip(np.where(same_sign, gains * 0.8, gains + 0.2), 0.01, None)
        velocity = momentum * velocity - rate * gains * grad
        coords = coords + velocity
        coords -= coords.mean(axis=0)
    return coords
