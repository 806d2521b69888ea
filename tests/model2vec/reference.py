"""The slow twin of :func:`zoo.model2vec.calibrate_errors`, kept beside the tests."""

from __future__ import annotations

import numpy as np


def calibrate_errors_reference(
    distance: np.ndarray, errors: np.ndarray, *, prior: float = 5.0, steps: int = 200_000, lr: float = 0.01
) -> tuple[float, float, np.ndarray]:
    """Slow twin of :func:`zoo.model2vec.calibrate_errors` (free slope): gradient descent on the same objective."""
    d = np.asarray(distance, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    seen = ~np.isnan(e)
    a, s, c = 0.0, 0.0, np.zeros(d.shape[1])
    for _ in range(steps):
        residual = np.where(seen, a + s * d + c[None, :] - np.nan_to_num(e), 0.0)
        a -= lr * 2 * residual.sum() / seen.sum()
        s -= lr * 2 * (residual * d).sum() / seen.sum()
        c -= lr * (2 * residual.sum(0) + 2 * prior * c) / seen.sum()
    return a, s, c
