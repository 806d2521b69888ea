"""Forward-pass transferability scorers: LogME, LEEP, NCE and H-score.

Each scorer looks at one expert's output on the target data (its penultimate
features, or its source-class probabilities) plus the target labels, and
returns one number: higher means the expert should transfer better. They are
the expensive baselines of METHOD.md section 7: every candidate expert needs a
forward pass over the target data, where Model2Vec needs one probe pass.

- LogME (You et al., ICML 2021, "LogME: Practical Assessment of Pre-trained
  Models for Transfer Learning", Algorithm 1): the log marginal likelihood
  (evidence) of a Bayesian linear regression from features to each one-hot
  label column, maximised over the prior precision alpha and noise precision
  beta by the paper's fixed-point iteration, averaged over classes and divided
  by the number of examples.
- LEEP (Nguyen et al., ICML 2020, "LEEP: A New Measure to Evaluate
  Transferability of Learned Representations", eq. 1-2): the mean log
  likelihood of the "expected empirical predictor" built from the expert's
  source-class probabilities.
- NCE (Tran et al., ICCV 2019, "Transferability and Hardness of Supervised
  Classification Tasks", section 3): minus the conditional entropy H(Y | Z) of
  target labels given the expert's hard source labels Z = argmax.
- H-score (Bao et al., ICIP 2019, "An Information-Theoretic Approach to
  Transferability in Task Transfer Learning", definition 2):
  tr(cov(f)^+ cov(E[f | y])).
- LogME gain (this project's screen, ``recommend --verify``): LogME of the labels
  minus the mean LogME of the same features with the labels permuted. On a few
  images (fewer than feature dimensions) raw LogME mostly measures the features'
  width and spectrum, not their fit to the labels; the permuted baseline cancels that.

Every scorer has a slow, loop-based twin that the tests compare it with on
tiny inputs (``tests/scorers/reference.py``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SCORERS", "h_score", "leep", "logme", "logme_gain", "nce"]

#: how many seeded label permutations :func:`logme_gain` averages
GAIN_PERMUTATIONS = 5


def _check_labels(labels: np.ndarray, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must have shape [{n}], got {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    return labels.astype(np.int64)


# --------------------------------------------------------------------------- LogME


def _logme_columns(
    s: np.ndarray, u: np.ndarray, y: np.ndarray, n: int, d: int, *, max_iter: int = 100, tol: float = 1e-5
) -> np.ndarray:
    """Evidence per example ``[C]`` of each target column of ``y`` [N, C], maximised over (alpha, beta).

    ``s`` [r]: singular values of the features F [N, D]; ``u`` [N, r]: left singular vectors. Works in F's
    singular basis so that each iteration is O(r C): with z = U^T y, the posterior mean in that basis is
    m_j = beta s_j z_j / (alpha + beta s_j^2). Every column runs the fixed point in its own vector lane and
    stops updating at the iteration it would have stopped alone, so each value equals the one-column loop
    of the tests' reference (``tests/scorers/reference.py``).
    """
    sigma = s[:, None] ** 2  # [r, 1]
    z = u.T @ y  # [r, C]
    outside = np.maximum(np.sum(y * y, axis=0) - np.sum(z * z, axis=0), 0.0)
    alpha, beta = np.ones(y.shape[1]), np.ones(y.shape[1])
    active = np.ones(y.shape[1], dtype=bool)
    for _ in range(max_iter):
        if not active.any():
            break
        denom = alpha + beta * sigma
        gamma = np.sum(beta * sigma / denom, axis=0)
        m = beta * s[:, None] * z / denom
        residual = np.sum((s[:, None] * m - z) ** 2, axis=0) + outside
        new_alpha = gamma / np.maximum(np.sum(m * m, axis=0), 1e-30)
        new_beta = (n - gamma) / np.maximum(residual, 1e-30)
        done = (np.abs(new_alpha - alpha) / alpha < tol) & (np.abs(new_beta - beta) / beta < tol)
        alpha = np.where(active, new_alpha, alpha)
        beta = np.where(active, new_beta, beta)
        active &= ~done
    denom = alpha + beta * sigma
    m = beta * s[:, None] * z / denom
    residual = np.sum((s[:, None] * m - z) ** 2, axis=0) + outside
    log_det_a = np.sum(np.log(denom), axis=0) + (d - s.shape[0]) * np.log(alpha)
    evidence = (
        n / 2 * np.log(beta)
        + d / 2 * np.log(alpha)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * residual
        - alpha / 2 * np.sum(m * m, axis=0)
        - log_det_a / 2
    )
    return evidence / n


def _svd(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """(U, singular values, N, D, checked labels) of features ``[N, D]``."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be [N, D], got {f.shape}")
    n, d = f.shape
    labels = _check_labels(labels, n)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    return u, s, n, d, labels


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME score of features ``[N, D]`` for integer ``labels`` ``[N]`` (You et al. 2021).

    One Bayesian linear regression per class (target: the one-hot column),
    evidence maximised by the fixed point alpha = gamma / m'm,
    beta = (N - gamma) / ||Fm - y||^2; the score is the mean over classes of
    the maximised log evidence divided by N. Computed in float64 from one thin
    SVD of F, so the cost is O(N D min(N, D)) once plus O(min(N, D)) per
    iteration and class (every class's fixed point runs at once).
    """
    u, s, n, d, labels = _svd(features, labels)
    onehot = (labels[:, None] == np.unique(labels)[None, :]).astype(np.float64)
    return float(np.mean(_logme_columns(s, u, onehot, n, d)))


def logme_gain(features: np.ndarray, labels: np.ndarray, permutations: int = GAIN_PERMUTATIONS) -> float:
    """LogME of ``labels`` minus the mean LogME of ``permutations`` seeded (seed 0) permutations of them.

    One SVD of the features serves every labelling, and every labelling's classes run at once.
    """
    u, s, n, d, labels = _svd(features, labels)
    rng = np.random.default_rng(0)
    labellings = [labels] + [rng.permutation(labels) for _ in range(permutations)]
    classes = np.unique(labels)
    onehot = np.concatenate([(y[:, None] == classes[None, :]).astype(np.float64) for y in labellings], axis=1)
    evidence = _logme_columns(s, u, onehot, n, d).reshape(len(labellings), classes.size).mean(axis=1)
    return float(evidence[0] - evidence[1:].mean())


# --------------------------------------------------------------------------- LEEP / NCE


def _check_probabilities(source_probs: np.ndarray) -> np.ndarray:
    p = np.asarray(source_probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"source probabilities must be [N, Z], got {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("source probabilities must be non-negative rows summing to 1 (apply softmax to the logits)")
    return p


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP score (Nguyen et al. 2020) of source-class probabilities ``[N, Z]`` for target ``labels`` ``[N]``.

    Empirical joint P(y, z) = (1/N) sum_i theta_z(x_i) [y_i = y], conditional
    P(y | z) = P(y, z) / P(z), and the score is
    (1/N) sum_i log sum_z P(y_i | z) theta_z(x_i).
    """
    p = _check_probabilities(source_probs)
    n = p.shape[0]
    labels = _check_labels(labels, n)
    num_target = int(labels.max()) + 1
    onehot = np.zeros((n, num_target))
    onehot[np.arange(n), labels] = 1.0
    joint = onehot.T @ p / n  # [Y, Z]
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-300)  # P(y | z)
    eep = p @ conditional.T  # [N, Y]
    return float(np.mean(np.log(np.maximum(eep[np.arange(n), labels], 1e-300))))


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """NCE (Tran et al. 2019): -H(Y | Z) for hard source labels ``Z`` [N] and target labels ``Y`` [N].

    Pass ``source_probs.argmax(axis=1)`` as the source labels (the "dummy
    labels" of LEEP's comparison). Higher (closer to 0) is better.
    """
    z = np.asarray(source_labels).astype(np.int64)
    n = z.shape[0]
    labels = _check_labels(labels, n)
    if z.ndim != 1:
        raise ValueError(f"source labels must be [N], got {z.shape}")
    _, z_index = np.unique(z, return_inverse=True)
    _, y_index = np.unique(labels, return_inverse=True)
    joint = np.zeros((y_index.max() + 1, z_index.max() + 1))
    np.add.at(joint, (y_index, z_index), 1.0 / n)
    marginal_z = joint.sum(axis=0, keepdims=True)
    mask = joint > 0
    return float(np.sum(joint[mask] * np.log((joint / marginal_z)[mask])))


# --------------------------------------------------------------------------- H-score


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score (Bao et al. 2019) of features ``[N, D]``: tr(cov(f)^+ cov(E[f | y])).

    cov(E[f | y]) is the covariance of each example's class-mean feature; the
    pseudo-inverse (rcond 1e-10 relative) keeps rank-deficient features finite.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be [N, D], got {f.shape}")
    labels = _check_labels(labels, f.shape[0])
    centred = f - f.mean(axis=0, keepdims=True)
    cov_f = centred.T @ centred / f.shape[0]
    classes, inverse = np.unique(labels, return_inverse=True)
    sums = np.zeros((classes.shape[0], f.shape[1]))
    np.add.at(sums, inverse, centred)
    means = sums / np.bincount(inverse)[:, None]
    g = means[inverse]  # [N, D]: each example's class mean
    cov_g = g.T @ g / f.shape[0]
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10, hermitian=True) @ cov_g))


# name -> (what it needs: "features" or "probs", function)
SCORERS: dict[str, tuple[str, object]] = {
    "logme": ("features", logme),
    "logme-gain": ("features", logme_gain),
    "hscore": ("features", h_score),
    "leep": ("probs", leep),
    "nce": ("probs", lambda probs, labels: nce(np.asarray(probs).argmax(axis=1), labels)),
}
