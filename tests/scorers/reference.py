"""Slow, obviously correct twins of the scorers in :mod:`zoo.scorers` (loops, brute force), for tiny inputs.

Kept beside the tests, not in the library (as BackPACK keeps its autograd reference under test/).
"""

from __future__ import annotations

import numpy as np


def logme_evidence_reference(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Log evidence / N of targets ``y`` [N] given features [N, D], alpha and beta, computed directly.

    Slow and obviously correct: y ~ N(0, F F^T / alpha + I / beta), evaluated
    as a multivariate normal log density (no SVD, no fixed point).
    """
    from scipy.stats import multivariate_normal

    f = np.asarray(features, dtype=np.float64)
    n = f.shape[0]
    cov = f @ f.T / alpha + np.eye(n) / beta
    return float(multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(np.asarray(y, dtype=np.float64)) / n)


def logme_reference(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME by direct numerical maximisation of the evidence over (log alpha, log beta).

    The slow twin of :func:`logme`: for each class, maximise
    :func:`logme_evidence_reference` with Nelder-Mead from several starts.
    Only for tiny problems (it forms the N x N covariance).
    """
    from scipy.optimize import minimize

    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    scores = []
    for c in np.unique(labels):
        y = (labels == c).astype(np.float64)

        def negative(log_ab: np.ndarray, y: np.ndarray = y) -> float:
            return -logme_evidence_reference(f, y, float(np.exp(log_ab[0])), float(np.exp(log_ab[1])))

        best = min(
            (
                minimize(
                    negative,
                    np.array(start),
                    method="Nelder-Mead",
                    options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000},
                )
                for start in [(0.0, 0.0), (-3.0, 2.0), (3.0, 4.0), (-1.0, -1.0)]
            ),
            key=lambda r: r.fun,
        )
        scores.append(-best.fun)
    return float(np.mean(scores))


def leep_reference(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP computed with explicit Python loops over examples, labels and source classes."""
    p = np.asarray(source_probs, dtype=np.float64)
    labels = [int(v) for v in labels]
    n, num_source = p.shape
    targets = sorted(set(labels))
    joint = {(y, z): 0.0 for y in targets for z in range(num_source)}
    for i in range(n):
        for z in range(num_source):
            joint[(labels[i], z)] += p[i, z] / n
    marginal = {z: sum(joint[(y, z)] for y in targets) for z in range(num_source)}
    total = 0.0
    for i in range(n):
        likelihood = 0.0
        for z in range(num_source):
            if marginal[z] > 0:
                likelihood += joint[(labels[i], z)] / marginal[z] * p[i, z]
        total += np.log(likelihood)
    return float(total / n)


def nce_reference(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """NCE from counts in Python dictionaries: sum_{y,z} P(y,z) log P(y|z)."""
    pairs: dict[tuple[int, int], int] = {}
    zs: dict[int, int] = {}
    n = len(labels)
    for z, y in zip(source_labels, labels):
        pairs[(int(y), int(z))] = pairs.get((int(y), int(z)), 0) + 1
        zs[int(z)] = zs.get(int(z), 0) + 1
    return float(sum(c / n * np.log(c / zs[z]) for (y, z), c in pairs.items()))


def h_score_reference(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score with explicit loops: per-example outer products for both covariances."""
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    mean = f.mean(axis=0)
    cov_f = np.zeros((d, d))
    for i in range(n):
        cov_f += np.outer(f[i] - mean, f[i] - mean) / n
    class_mean = {int(c): f[np.asarray(labels) == c].mean(axis=0) for c in set(int(v) for v in labels)}
    cov_g = np.zeros((d, d))
    for i in range(n):
        g = class_mean[int(labels[i])] - mean
        cov_g += np.outer(g, g) / n
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10) @ cov_g))


def logme_one_column_reference(
    s: np.ndarray, u: np.ndarray, y: np.ndarray, n: int, d: int, *, max_iter: int = 100, tol: float = 1e-5
) -> tuple[float, float, float]:
    """Evidence per example for one target column, maximised over (alpha, beta): one column at a time, the
    loop :func:`zoo.scorers._logme_columns` runs for every column at once.

    ``s`` [r]: singular values of the features F [N, D]; ``u`` [N, r]: left
    singular vectors; ``y`` [N]. Works in F's singular basis so that each
    iteration is O(r): with z = U^T y, the posterior mean in that basis is
    m_j = beta s_j z_j / (alpha + beta s_j^2).
    Returns (evidence / N, alpha, beta).
    """
    sigma = s**2
    z = u.T @ y
    y_sq = float(y @ y)
    outside = max(y_sq - float(z @ z), 0.0)  # part of y outside F's column space
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        denom = alpha + beta * sigma
        gamma = float(np.sum(beta * sigma / denom))
        m = beta * s * z / denom
        m_sq = float(m @ m)
        residual = float(np.sum((s * m - z) ** 2)) + outside
        new_alpha = gamma / max(m_sq, 1e-30)
        new_beta = (n - gamma) / max(residual, 1e-30)
        done = abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol
        alpha, beta = new_alpha, new_beta
        if done:
            break
    denom = alpha + beta * sigma
    m = beta * s * z / denom
    residual = float(np.sum((s * m - z) ** 2)) + outside
    log_det_a = float(np.sum(np.log(denom))) + (d - s.shape[0]) * np.log(alpha)
    evidence = (
        n / 2 * np.log(beta)
        + d / 2 * np.log(alpha)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * residual
        - alpha / 2 * float(m @ m)
        - log_det_a / 2
    )
    return float(evidence / n), float(alpha), float(beta)
