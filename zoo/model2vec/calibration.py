"""The map from the Model2Vec distance to an expected transfer error, and its ridge calibration."""

from __future__ import annotations

import numpy as np

__all__ = ["LINKS", "LOGIT_CLIP", "calibrate_errors", "error_logit", "expected_error"]

LINKS = ("identity", "logit")
#: errors are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] before the logit (a measured 0% would be -inf)
LOGIT_CLIP = 0.005


def expected_error(distance: np.ndarray, error_map: tuple[float, float], link: str = "identity") -> np.ndarray:
    """The learned monotone map from the Model2Vec distance to transfer error.

    ``link`` "identity": a + slope * d clipped to [0, 1]; "logit":
    sigmoid(a + slope * d), the calibrated runs' map.
    """
    a, slope = error_map
    line = a + slope * np.asarray(distance, dtype=np.float64)
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-line))
    if link != "identity":
        raise ValueError(f"unknown error link {link!r}; expected one of {LINKS}")
    return np.clip(line, 0.0, 1.0)


def error_logit(errors: np.ndarray) -> np.ndarray:
    """logit of errors clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] (NaN stays NaN)."""
    e = np.clip(np.asarray(errors, dtype=np.float64), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(e / (1.0 - e))


def calibrate_errors(
    distance: np.ndarray, errors: np.ndarray, *, prior: float = 5.0, min_slope: float = 1e-3
) -> tuple[float, float, np.ndarray]:
    """Fit err[t, i] ~= a + s * distance[t, i] + c_i by ridge least squares: (a, s, c [M]).

    Over the measured pairs (``errors`` NaN elsewhere) minimise
    sum (err - a - s d - c_i)^2 + prior * sum_i c_i^2: a global line plus a
    per-model offset c_i shrunk towards 0, so a model with few results keeps
    close to the line. Solved exactly from the normal equations (M + 2
    unknowns). The map must rise with distance: when the free fit gives
    s < ``min_slope``, s is fixed at ``min_slope`` and (a, c) refitted.
    The tests check it against a slow gradient-descent twin.
    """
    d = np.asarray(distance, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    seen = ~np.isnan(e)
    if seen.sum() < 2:
        raise ValueError("calibration needs at least two measured (task, model) pairs")
    models = d.shape[1]
    cols = np.nonzero(seen)[1]
    x = np.zeros((int(seen.sum()), models + 2))
    x[:, 0] = 1.0
    x[:, 1] = d[seen]
    x[np.arange(len(cols)), 2 + cols] = 1.0
    y = e[seen]
    penalty = np.diag([0.0, 0.0] + [prior] * models) + 1e-12 * np.eye(models + 2)
    theta = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    if theta[1] < min_slope:  # s fixed: solve for (a, c) with the slope's share moved to the target
        keep = [0] + list(range(2, models + 2))
        xs = x[:, keep]
        sub = np.linalg.solve(xs.T @ xs + penalty[np.ix_(keep, keep)], xs.T @ (y - min_slope * x[:, 1]))
        theta = np.concatenate([sub[:1], [min_slope], sub[1:]])
    return float(theta[0]), float(theta[1]), theta[2:]
