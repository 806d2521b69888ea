"""The FAISS index: candidates in log space, exact re-ranking, recall against a brute-force scan."""

from __future__ import annotations

import os

import numpy as np
import pytest

from zoo.embedding.distance import d_asym_matrix, d_sym_matrix
from zoo.index import (
    EmbeddingIndex,
    calibrate_offset_scale,
    d_sym_to,
    default_candidates,
    default_factory,
    index_directory,
    log_space,
    recall_at_k,
)

RECALL_TARGET = 0.99  # recall@10 against an exact scan
EXACT_ATOL = 1e-9


def _embeddings(count: int, dim: int, seed: int) -> np.ndarray:
    """Task2Vec-like positive vectors: a few clusters (shared by every seed), log-normal spread, a few exact zeros."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(12345).normal(scale=1.0, size=(8, dim))
    x = np.exp(centres[rng.integers(0, 8, size=count)] + rng.normal(scale=0.6, size=(count, dim)))
    x *= np.exp(rng.normal(scale=0.3, size=(count, 1)))  # per-vector scale differences
    x[rng.random(x.shape) < 0.01] = 0.0
    return x.astype(np.float32)


@pytest.mark.parametrize("factory", ["Flat", "HNSW16,Flat"])
def test_recall_at_10_against_exact_scan(factory):
    data = _embeddings(1500, 24, seed=0)
    queries = _embeddings(20, 24, seed=1)
    index = EmbeddingIndex.build([f"m{i}" for i in range(len(data))], data, factory=factory, progress=False)
    recalls = [recall_at_k(index.search(q, 10), index.exact_search(q, 10)) for q in queries]
    assert np.mean(recalls) >= RECALL_TARGET


def test_exact_search_is_d_asym_with_offsets():
    rng = np.random.default_rng(2)
    models, t0, target = _embeddings(300, 6, seed=3), np.exp(rng.normal(size=6)), _embeddings(1, 6, seed=4)[0]
    alpha = 0.15
    offsets = alpha * d_sym_matrix(models, t0[None, :])[:, 0]
    index = EmbeddingIndex.build([f"m{i}" for i in range(300)], models, offsets=offsets, progress=False)
    hits = index.exact_search(target, 300)  # 300 rows: several re-rank blocks
    expected = d_asym_matrix(models, target[None, :], t0, alpha)[:, 0]
    assert [h.row for h in hits] == list(np.argsort(expected, kind="stable"))
    np.testing.assert_allclose([h.distance for h in hits], np.sort(expected), atol=EXACT_ATOL)
    # with few rows the over-fetch covers everything, so search == exact
    assert [h.row for h in index.search(target, 5)] == [h.row for h in hits[:5]]


def test_offset_coordinate_subtracts_2d_offset_from_squared_distance():
    """The extra coordinate folds d_asym's per-model term into faiss's own L2 ranking."""
    data = _embeddings(50, 16, seed=5)
    offsets = np.random.default_rng(5).uniform(0, 0.15, size=50)
    floors = np.ones(16) * 0.05
    plain = EmbeddingIndex._augment(data, np.zeros(50), floors, 1.7)
    steered = EmbeddingIndex._augment(data, offsets, floors, 1.7)
    query = np.hstack([log_space(data[:1] * 2.0, floors)[0], [0.0]])
    plain_sq = ((plain - query) ** 2).sum(1)
    steered_sq = ((steered - query) ** 2).sum(1)
    constant = 1.7 * 2 * 16 * offsets.max()
    np.testing.assert_allclose(steered_sq - plain_sq, constant - 1.7 * 2 * 16 * offsets, atol=1e-4)


def test_log_space_proxy_is_second_order_d_sym():
    """For a small log-ratio spread the squared distance of the centred logs, over 2D, is d_sym to second order;
    a constant factor changes neither (log_space centres each vector's logs; d_sym is scale-invariant)."""
    rng = np.random.default_rng(6)
    a = np.exp(rng.normal(size=50))
    b = a * np.exp(0.01 * rng.normal(size=50))  # one draw, compared on both sides
    for factor in (1.0, 3.0):
        ua, ub = log_space(np.stack([a, factor * b]))
        approx = float(np.sum((ua - ub) ** 2)) / (2 * 50)
        assert d_sym_matrix(a[None], factor * b[None])[0, 0] == pytest.approx(approx, rel=1e-2)


def test_log_space_rejects_negative_values():
    with pytest.raises(ValueError):
        log_space(np.array([[1.0, -1.0]]))


def test_save_load_round_trip_and_sidecar(tmp_path):
    data = _embeddings(100, 8, seed=7)
    index = EmbeddingIndex.build([f"m{i}" for i in range(100)], data, meta={"probe": "p", "run_id": 3}, progress=False)
    path = index.save(tmp_path / "models.npz")
    loaded = EmbeddingIndex.load(path)
    query = _embeddings(1, 8, seed=8)[0]
    assert loaded.search(query, 7) == index.search(query, 7)
    sidecar = EmbeddingIndex.read_sidecar(path)
    assert sidecar["probe"] == "p" and sidecar["count"] == 100 and sidecar["factory"] == "Flat"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.npz", "models.npz.json"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    for name in ("models.npz", "models.npz.json"):  # readable as any new file is, not private like a mkstemp file
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_corrupt_index_loads_as_missing(tmp_path):
    path = tmp_path / "models.npz"
    path.write_bytes(b"not an index")
    assert EmbeddingIndex.load(path) is None
    assert EmbeddingIndex.load(tmp_path / "absent.npz") is None


def test_factory_switches_to_hnsw_then_compressed_past_the_thresholds():
    assert default_factory(100) == "Flat"
    assert default_factory(100_000).startswith("HNSW")
    assert default_factory(10**6) == "IVF4096,SQ8"
    assert default_candidates(1000) == 512 and default_candidates(10**6) == 2000


def test_index_directory_beside_sqlite_file_and_in_cache_otherwise(tmp_path):
    db = tmp_path / "zoo.db"
    assert index_directory(f"sqlite:///{db}") == tmp_path / "zoo.db.index"
    pg = index_directory("postgresql+psycopg://u:secret@host/db")
    assert "index" in pg.parts and pg != index_directory("postgresql+psycopg://u@host/other")
    assert "secret" not in str(pg)


def test_offset_scale_is_one_in_the_second_order_regime():
    """Among near-identical vectors the squared log distance is 2 D d_sym (the module docstring's expansion)."""
    base = np.exp(np.random.default_rng(9).normal(size=32))
    close = base * np.exp(0.01 * np.random.default_rng(10).normal(size=(200, 32)))
    scale = calibrate_offset_scale(close, np.full(32, 1e-6))
    assert scale == pytest.approx(1.0, rel=0.05)
    # far apart, d_sym saturates and the measured scale grows
    spread = np.exp(2.0 * np.random.default_rng(11).normal(size=(200, 32)))
    assert calibrate_offset_scale(spread, np.full(32, 1e-6)) > 1.5


def test_columns_travel_with_the_index(tmp_path):
    data = _embeddings(5, 4, seed=12)
    index = EmbeddingIndex.build(
        list("abcde"), data, columns={"source": ["s1", "s2", "s3", "s4", "s5"]}, progress=False
    )
    loaded = EmbeddingIndex.load(index.save(tmp_path / "i.npz"))
    hit = loaded.search(data[2], 1)[0]
    assert hit.name == "c" and loaded.columns["source"][hit.row] == "s3"
    assert "s3" not in (tmp_path / "i.npz.json").read_text()  # the sidecar stays small


def test_index_d_sym_is_the_shared_d_sym_exactly():
    """The index re-ranks with its own d_sym_to (it imports no sibling part): the same numbers as
    zoo.embedding.distance.d_sym_matrix, zeros, identical and disjoint vectors included."""
    rng = np.random.default_rng(7)
    rows = np.exp(rng.normal(size=(300, 40)))
    rows[:, 3] = 0.0  # a filter that is 0 in every row
    rows[5] = 0.0  # an all-zero row
    query = np.exp(rng.normal(size=40))
    query[3] = 0.0  # both 0: left out
    rows[6] = 2.5 * query  # a positive multiple: d_sym 0
    rows[7] = np.where(query > 1.0, 0.0, 1.0)
    query_disjoint = np.where(query > 1.0, 1.0, 0.0)
    for q in (query, query_disjoint, np.zeros(40)):
        np.testing.assert_array_equal(d_sym_to(q, rows), d_sym_matrix(rows, q[None, :])[:, 0])
