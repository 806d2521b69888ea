"""The slow twin of :func:`zoo.transfer.fit_logistic`, for tiny inputs; kept beside the tests."""

from __future__ import annotations

import numpy as np


def fit_logistic_reference(
    x: np.ndarray, y: np.ndarray, num_classes: int, *, l2: float, steps: int = 20000, lr: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The slow twin of :func:`fit_logistic`: plain full-batch gradient descent, numpy.

    Gradient of the mean cross-entropy written out: (softmax - onehot)^T x / N.
    """
    n, d = x.shape
    w = np.zeros((num_classes, d))
    b = np.zeros(num_classes)
    onehot = np.eye(num_classes)[y]
    for _ in range(steps):
        logits = x @ w.T + b
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        residual = (p - onehot) / n
        w -= lr * (residual.T @ x + l2 * w)
        b -= lr * residual.sum(0)
    return w, b
