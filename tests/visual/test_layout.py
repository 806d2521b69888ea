"""2-D layouts: MDS and t-SNE against slow references; determinism; planted clusters survive."""

from __future__ import annotations

import math

import numpy as np
import pytest

from registry.errors import InvalidInput
from zoo import plots

TOL = 1e-8


def slow_mds(distances: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical MDS spelled out: element-wise double centring, power iteration with deflation."""
    n = len(distances)
    sq = [[distances[i][j] ** 2 for j in range(n)] for i in range(n)]
    row = [sum(sq[i]) / n for i in range(n)]
    col = [sum(sq[i][j] for i in range(n)) / n for j in range(n)]
    grand = sum(row) / n
    b = np.array([[-0.5 * (sq[i][j] - row[i] - col[j] + grand) for j in range(n)] for i in range(n)])
    coords = np.zeros((n, dims))
    rng = np.random.default_rng(0)
    for k in range(dims):
        v = rng.normal(size=n)
        for _ in range(5000):
            v = b @ v
            v /= np.linalg.norm(v)
        value = v @ b @ v
        coords[:, k] = v * math.sqrt(max(value, 0.0))
        b = b - value * np.outer(v, v)
        if coords[np.argmax(np.abs(coords[:, k])), k] < 0:
            coords[:, k] *= -1
    return coords


def slow_affinities(distances: np.ndarray, perplexity: float) -> np.ndarray:
    """Row by row bisection for P[j|i] with the median-scaled squared distances."""
    n = len(distances)
    sq = distances**2
    scale = np.median(sq[~np.eye(n, dtype=bool)])
    out = np.zeros((n, n))
    for i in range(n):
        others = [j for j in range(n) if j != i]
        lo, hi = -50.0, 50.0
        for _ in range(200):
            beta = math.exp((lo + hi) / 2)
            weights = [math.exp(-beta * sq[i, j] / scale + beta * min(sq[i, others]) / scale) for j in others]
            total = sum(weights)
            probs = [w / total for w in weights]
            entropy = -sum(p * math.log(p) for p in probs if p > 0)
            if entropy > math.log(perplexity):
                lo = (lo + hi) / 2
            else:
                hi = (lo + hi) / 2
        for j, p in zip(others, probs):
            out[i, j] = p
    return out


def slow_kl_and_gradient(joint: np.ndarray, y: np.ndarray):
    n = len(y)
    kern = [[0.0 if i == j else 1.0 / (1.0 + float(np.sum((y[i] - y[j]) ** 2))) for j in range(n)] for i in range(n)]
    z = sum(map(sum, kern))
    cost, grad = 0.0, np.zeros_like(y)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            q = kern[i][j] / z
            cost += joint[i, j] * math.log(joint[i, j] / q)
            grad[i] += 4.0 * (joint[i, j] - q) * kern[i][j] * (y[i] - y[j])
    return cost, grad


def random_distances(n: int, seed: int) -> np.ndarray:
    points = np.random.default_rng(seed).normal(size=(n, 5))
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


def test_mds_matches_slow_reference():
    distances = random_distances(7, 0)
    np.testing.assert_allclose(plots.classical_mds(distances), slow_mds(distances), atol=1e-6)


def test_mds_recovers_planar_distances_exactly():
    points = np.random.default_rng(3).normal(size=(9, 2))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    coords = plots.classical_mds(distances)
    recovered = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.testing.assert_allclose(recovered, distances, atol=1e-9)


def test_tsne_affinities_match_row_by_row_bisection():
    distances = random_distances(8, 1)
    np.testing.assert_allclose(
        plots.tsne_affinities(distances, 3.0, tol=1e-12, steps=200), slow_affinities(distances, 3.0), atol=1e-7
    )
    rows = plots.tsne_affinities(distances, 3.0)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=TOL)
    assert np.all(np.diag(rows) == 0)


def test_tsne_gradient_matches_slow_loop_and_finite_differences():
    rng = np.random.default_rng(2)
    conditional = plots.tsne_affinities(random_distances(6, 2), 2.0)
    joint = (conditional + conditional.T) / 12.0
    y = rng.normal(size=(6, 2))
    cost, grad = plots.tsne_gradient(joint, y)
    slow_cost, slow_grad = slow_kl_and_gradient(joint, y)
    assert cost == pytest.approx(slow_cost, rel=1e-9)
    np.testing.assert_allclose(grad, slow_grad, atol=1e-10)
    step = 1e-6
    bumped = y.copy()
    bumped[4, 1] += step
    assert (plots.tsne_gradient(joint, bumped)[0] - cost) / step == pytest.approx(grad[4, 1], rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("method", ["tsne", "mds"])
def test_embed_2d_is_deterministic_and_keeps_planted_clusters(method):
    rng = np.random.default_rng(5)
    member = np.repeat([0, 1], 12)
    points = np.array([[0.0] * 8, [6.0] * 8])[member] + rng.normal(size=(24, 8))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    first = plots.embed_2d(distances, method=method, seed=7)
    again = plots.embed_2d(distances, method=method, seed=7)
    assert first.shape == (24, 2)
    np.testing.assert_array_equal(first, again)
    # every point's nearest neighbour in the map is from its own cluster,
    # and the clusters' centres are further apart than their spread
    placed = np.linalg.norm(first[:, None] - first[None], axis=-1)
    np.fill_diagonal(placed, np.inf)
    assert np.all(member[np.argmin(placed, axis=1)] == member)
    centres = [first[member == k].mean(axis=0) for k in (0, 1)]
    spread = max(first[member == k].std(axis=0).max() for k in (0, 1))
    assert np.linalg.norm(centres[0] - centres[1]) > 3 * spread


def test_embed_2d_small_inputs_and_errors():
    assert plots.embed_2d(np.zeros((1, 1))).shape == (1, 2)
    two = plots.embed_2d(np.array([[0.0, 2.0], [2.0, 0.0]]))
    assert np.linalg.norm(two[0] - two[1]) == pytest.approx(2.0)
    with pytest.raises(InvalidInput, match="tsne"):
        plots.embed_2d(np.zeros((3, 3)), method="umap")
