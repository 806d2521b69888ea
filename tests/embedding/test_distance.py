"""d_sym / d_asym: properties, and matrix forms against scalar loops."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.embedding.distance import d_asym, d_asym_matrix, d_sym, d_sym_matrix, trivial_embedding

MATRIX_TOL = 1e-12


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    return rng.gamma(0.5, 1.0, (7, 11)), rng.gamma(0.5, 1.0, (5, 11))


def test_symmetric_zero_on_identical_bounded(vectors):
    A, B = vectors
    for a in A:
        assert d_sym(a, a) == pytest.approx(0.0, abs=1e-12)
        for b in B:
            assert d_sym(a, b) == pytest.approx(d_sym(b, a), abs=1e-12)
            assert 0.0 <= d_sym(a, b) <= 1.0


def test_disjoint_supports_are_at_distance_one():
    assert d_sym([1.0, 0.0], [0.0, 2.0]) == pytest.approx(1.0)


def test_scaled_copy_is_at_distance_zero():
    a = np.array([1.0, 2.0, 3.0])
    assert d_sym(a, 5 * a) == pytest.approx(0.0, abs=1e-12)


def test_matches_formula_by_hand():
    a, b = np.array([1.0, 3.0]), np.array([3.0, 1.0])
    u, v = a / (a + b), b / (a + b)
    assert d_sym(a, b) == pytest.approx(1 - u @ v / np.linalg.norm(u) / np.linalg.norm(v))


def test_asym_reduces_to_sym_at_alpha_zero(vectors):
    A, B = vectors
    t0 = np.full(11, 0.3)
    assert d_asym(A[0], B[0], t0, alpha=0.0) == d_sym(A[0], B[0])
    assert d_asym(A[0], B[0], t0, alpha=0.15) == pytest.approx(d_sym(A[0], B[0]) - 0.15 * d_sym(A[0], t0))


def test_matrix_forms_equal_scalar_loops(vectors):
    A, B = vectors
    A[0, :3] = 0.0
    B[1, :3] = 0.0  # filters zero in both
    t0 = np.full(11, 0.2)
    sym = np.array([[d_sym(a, b) for b in B] for a in A])
    asym = np.array([[d_asym(a, b, t0) for b in B] for a in A])
    np.testing.assert_allclose(d_sym_matrix(A, B), sym, atol=MATRIX_TOL)
    np.testing.assert_allclose(d_asym_matrix(A, B, t0), asym, atol=MATRIX_TOL)
    per_row_t0 = np.tile(t0, (7, 1))
    np.testing.assert_allclose(d_asym_matrix(A, B, per_row_t0), asym, atol=MATRIX_TOL)


def test_matrix_chunks(monkeypatch, vectors):
    from zoo.embedding import distance

    A, B = vectors
    full = d_sym_matrix(A, B)
    monkeypatch.setattr(distance, "_CHUNK_ELEMENTS", 1)
    np.testing.assert_allclose(d_sym_matrix(A, B), full, atol=MATRIX_TOL)


def test_length_mismatch_and_missing_prior():
    with pytest.raises(ValueError):
        d_sym([1.0], [1.0, 2.0])

    class NoPrior:
        prior = None

    with pytest.raises(ValueError):
        trivial_embedding(NoPrior())
