"""The transfer protocol: the fast solver against its slow twin, shots, error."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.transfer import ProtocolParams, fit_logistic, sample_shots, standardise, transfer_error

from .reference import fit_logistic_reference

WEIGHT_TOL = 1e-4  # both reach the unique optimum of a strongly convex problem


def _blobs(n_per_class: int, classes: int, dim: int, spread: float, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 2
    x = np.concatenate([centres[c] + spread * rng.normal(size=(n_per_class, dim)) for c in range(classes)])
    y = np.repeat(np.arange(classes), n_per_class)
    return x, y


@pytest.mark.parametrize("l2,dim", [(0.05, 4), (0.5, 4), (0.2, 30)], ids=["l2=0.05", "l2=0.5", "fewer-shots-than-dims"])
def test_lbfgs_matches_gradient_descent_reference(l2, dim):
    # dim 30 > 18 examples: fit_logistic solves in the row space of x (SVD), the twin in all 30 dims
    x, y = _blobs(6, 3, dim, 1.5, seed=1)
    w_fast, b_fast = fit_logistic(x, y, 3, l2=l2)
    w_slow, b_slow = fit_logistic_reference(x, y, 3, l2=l2, steps=30000, lr=0.3)
    np.testing.assert_allclose(w_fast, w_slow, atol=WEIGHT_TOL)
    # the bias is defined up to a constant shift across classes; compare centred
    np.testing.assert_allclose(b_fast - b_fast.mean(), b_slow - b_slow.mean(), atol=WEIGHT_TOL)


def test_sample_shots_takes_k_per_class_deterministically():
    labels = np.repeat(np.arange(4), [10, 3, 7, 10])
    first = sample_shots(labels, 5, key="task-a")
    again = sample_shots(labels, 5, key="task-a")
    other = sample_shots(labels, 5, key="task-b")
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    counts = np.bincount(labels[first], minlength=4)
    assert counts.tolist() == [5, 3, 5, 5]


def test_standardise_uses_train_statistics_only():
    train = np.array([[0.0, 1.0], [2.0, 1.0]])
    test = np.array([[4.0, 3.0]])
    tr, te = standardise(train, test)
    np.testing.assert_allclose(tr.mean(0), 0.0)
    np.testing.assert_allclose(te, [[3.0, 2.0]])  # std of the constant column falls back to 1


def test_transfer_error_orders_easy_below_hard():
    easy_x, easy_y = _blobs(25, 5, 8, 0.3, seed=2)
    hard_x, hard_y = _blobs(25, 5, 8, 4.0, seed=2)
    params = ProtocolParams(shots=5)

    def error(x, y):
        idx = sample_shots(y, params.shots, key="t")
        rest = np.setdiff1d(np.arange(len(y)), idx)
        return transfer_error(x[idx], y[idx], x[rest], y[rest], params)

    easy, hard = error(easy_x, easy_y), error(hard_x, hard_y)
    assert easy < 0.05
    assert hard > easy + 0.2
