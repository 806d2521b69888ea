"""The task head's L-BFGS fit against plain gradient descent on the same objective (its slow twin).

Objective (:mod:`zoo.embedding.head`): mean_n CE(W z_n + b, y_n) + (l2 / 2) ||W||^2, no penalty on b, with
z = (x - mean) / s, mean per feature and s = sqrt(mean over features of the population variance); the
returned layer reads raw features, so its weight is W / s and its bias b - (W / s) . mean.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.embedding.head import fit_head

WEIGHT_ATOL = 1e-6  # the head is stored in float32
# b carries no penalty and little curvature, and L-BFGS stops on tolerance_change (1e-12 on the loss or the
# step) with |grad b| ~ 1e-7 to 1e-6 left: b ends ~1e-6 from the optimum (2.6e-6 the worst of six seeds)
BIAS_ATOL = 1e-5


def standardise(x):
    """Per-feature mean and one global scale, written out with loops."""
    n, f = len(x), len(x[0])
    mean = [sum(x[i][j] for i in range(n)) / n for j in range(f)]
    variances = [sum((x[i][j] - mean[j]) ** 2 for i in range(n)) / n for j in range(f)]
    scale = math.sqrt(sum(variances) / f)
    return mean, scale, [[(x[i][j] - mean[j]) / scale for j in range(f)] for i in range(n)]


def gradient_descent_head(z, y, num_classes, l2, steps, lr):
    """W [C, F], b [C] by full-batch gradient descent from zero; gradient (softmax - onehot)^T z / N + l2 W."""
    z = np.asarray(z)
    n, f = z.shape
    w, b = np.zeros((num_classes, f)), np.zeros(num_classes)
    onehot = np.eye(num_classes)[y]
    for _ in range(steps):
        logits = z @ w.T + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        residual = (p - onehot) / n
        w, b = w - lr * (residual.T @ z + l2 * w), b - lr * residual.sum(axis=0)
    return w, b


@pytest.mark.parametrize("l2,steps,lr", [(10.0, 4000, 0.08), (1.0, 6000, 0.3)])
def test_fit_head_matches_gradient_descent_on_its_objective(l2, steps, lr):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(18, 5)) * rng.uniform(0.5, 3.0, 5) + rng.uniform(-2.0, 4.0, 5)  # unequal scales, offsets
    y = np.repeat(np.arange(3), 6)
    rng.shuffle(y)
    x[y == 1, 0] += 3.0  # some signal, so W is not near zero
    head, stats = fit_head(x.astype(np.float32), y, 3, l2=l2)

    mean, scale, z = standardise(x.astype(np.float32).astype(np.float64).tolist())
    w, b = gradient_descent_head(z, y, 3, l2, steps, lr)
    # the twin has converged: its gradient is ~0
    logits = np.asarray(z) @ w.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = (p - np.eye(3)[y]) / len(y)
    assert np.abs(residual.T @ np.asarray(z) + l2 * w).max() < 1e-10 and np.abs(residual.sum(0)).max() < 1e-10
    assert np.abs(w).max() > 0.02

    folded_w = w / scale
    folded_b = b - folded_w @ np.asarray(mean)
    np.testing.assert_allclose(head.weight.numpy(), folded_w, rtol=0, atol=WEIGHT_ATOL)
    np.testing.assert_allclose(head.bias.numpy(), folded_b, rtol=0, atol=BIAS_ATOL)
    ce = -np.mean([math.log(p[i, y[i]]) for i in range(len(y))])
    assert stats["train_loss"] == pytest.approx(ce, abs=1e-7)  # CE alone: first order in W
    assert stats["train_accuracy"] == pytest.approx(np.mean(p.argmax(1) == y), abs=1e-12)


def test_the_head_bar_ends_full_when_the_fit_converges_early(capsys):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(18, 5))
    y = np.repeat(np.arange(3), 6)
    x[y == 1, 0] += 3.0
    fit_head(x.astype(np.float32), y, 3, max_iter=100, progress=True)
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    done, total = last.split("|")[-1].split()[0].split("/")
    assert done == total and int(total) < 100, last  # e.g. "32/32", not "32/100"
