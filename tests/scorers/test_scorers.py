"""Each fast scorer against its slow, loop-based or brute-force twin on tiny problems."""

from __future__ import annotations

import numpy as np
import pytest

from zoo import scorers

from .reference import (
    h_score_reference,
    leep_reference,
    logme_evidence_reference,
    logme_one_column_reference,
    logme_reference,
    nce_reference,
)

# LogME's fixed point stops at a relative change of 1e-5 in alpha and beta;
# Nelder-Mead is run to 1e-12 in the objective. Evidence per example agrees
# to this absolute tolerance.
LOGME_ATOL = 1e-4
# Closed forms vs loops: only floating-point summation order differs.
EXACT_RTOL = 1e-9


def _problem(n: int, d: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    labels[:classes] = np.arange(classes)
    centres = rng.normal(size=(classes, d))
    features = centres[labels] + rng.normal(scale=1.5, size=(n, d))
    return features, labels


@pytest.mark.parametrize("n,d", [(24, 5), (8, 12)])  # tall and wide features
def test_logme_matches_direct_evidence_maximisation(n, d):
    features, labels = _problem(n, d, 3, seed=n)
    fast = scorers.logme(features, labels)
    slow = logme_reference(features, labels)
    assert fast == pytest.approx(slow, abs=LOGME_ATOL)


def test_logme_fixed_point_evidence_equals_direct_density():
    features, labels = _problem(20, 4, 2, seed=3)
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    y = (labels == 1).astype(float)
    evidence, alpha, beta = logme_one_column_reference(s, u, y, 20, 4)
    direct = logme_evidence_reference(features, y, alpha, beta)
    assert evidence == pytest.approx(direct, rel=1e-8)


@pytest.mark.parametrize("n,d,classes", [(24, 5, 3), (8, 12, 4), (40, 3, 6)])
def test_logme_columns_at_once_equal_the_one_column_loop(n, d, classes):
    features, labels = _problem(n, d, classes, seed=n + d)
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    onehot = (labels[:, None] == np.arange(classes)[None, :]).astype(float)
    loop = [logme_one_column_reference(s, u, onehot[:, c], n, d)[0] for c in range(classes)]
    np.testing.assert_allclose(scorers._logme_columns(s, u, onehot, n, d), loop, rtol=EXACT_RTOL, atol=1e-12)
    assert scorers.logme(features, labels) == pytest.approx(np.mean(loop), rel=EXACT_RTOL)


def test_logme_prefers_informative_features():
    features, labels = _problem(60, 6, 3, seed=1)
    noise = np.random.default_rng(9).normal(size=features.shape)
    assert scorers.logme(features, labels) > scorers.logme(noise, labels)


@pytest.mark.parametrize("n,d", [(24, 5), (8, 12)])
def test_logme_gain_is_logme_minus_its_mean_over_the_seeded_label_permutations(n, d):
    features, labels = _problem(n, d, 3, seed=n)
    u, s, _ = np.linalg.svd(features, full_matrices=False)

    def one_by_one(y):  # the per-column slow twin, one labelling at a time
        return np.mean([logme_one_column_reference(s, u, (y == c).astype(float), n, d)[0] for c in range(3)])

    rng = np.random.default_rng(0)
    shuffled = [one_by_one(rng.permutation(labels)) for _ in range(scorers.GAIN_PERMUTATIONS)]
    want = one_by_one(labels) - np.mean(shuffled)
    assert scorers.logme_gain(features, labels) == pytest.approx(want, rel=EXACT_RTOL, abs=1e-12)


def test_logme_gain_is_near_zero_for_wide_features_unrelated_to_the_labels():
    features, labels = _problem(12, 4, 3, seed=5)
    informative = np.eye(3)[labels] * 3.0 + np.random.default_rng(1).normal(scale=0.3, size=(12, 3))
    wide = np.random.default_rng(2).normal(size=(12, 256)) * 0.05
    assert scorers.logme_gain(informative, labels) > scorers.logme_gain(wide, labels)
    # near zero in absolute terms (0.008 here; within 0.02 over 30 draws of such features), where plain LogME of
    # the same features is -0.85: the gain removes what LogME gives any wide feature set whatever the labels
    assert abs(scorers.logme_gain(wide, labels)) < 0.05 < abs(scorers.logme(wide, labels))


def _probs(n: int, z: int, seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(scale=2.0, size=(n, z))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_leep_matches_loops():
    probs = _probs(15, 4, seed=2)
    labels = np.random.default_rng(2).integers(0, 3, size=15)
    assert scorers.leep(probs, labels) == pytest.approx(leep_reference(probs, labels), rel=EXACT_RTOL)


def test_leep_is_zero_when_source_classes_are_the_target_classes():
    labels = np.array([0, 1, 2, 0, 1, 2])
    probs = np.eye(3)[labels]
    assert scorers.leep(probs, labels) == pytest.approx(0.0, abs=1e-12)


def test_nce_matches_counts():
    rng = np.random.default_rng(4)
    z = rng.integers(0, 5, size=30)
    y = rng.integers(0, 3, size=30)
    assert scorers.nce(z, y) == pytest.approx(nce_reference(z, y), rel=EXACT_RTOL)


def test_nce_hand_computed_case():
    # z=0 -> y in {0, 0}; z=1 -> y in {0, 1}: H(Y|Z) = 1/2 * 0 + 1/2 * log 2
    assert scorers.nce([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(-0.5 * np.log(2), rel=EXACT_RTOL)


def test_h_score_matches_loops():
    features, labels = _problem(25, 4, 3, seed=5)
    assert scorers.h_score(features, labels) == pytest.approx(h_score_reference(features, labels), rel=1e-7)


def test_scorers_reject_bad_shapes():
    with pytest.raises(ValueError):
        scorers.logme(np.zeros((4, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="softmax"):
        scorers.leep(np.ones((3, 2)), np.zeros(3, dtype=int))
