"""Report statistics: tree distance, taxonomy agreement, expert-error table, difficulty."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import rankdata

from zoo.bench.report import (
    difficulty,
    error_summary,
    expert_error_table,
    taxonomy_agreement,
    tree_distance,
    tree_distance_matrix,
)

PATHS = [
    "scripts/Brahmic/North/Devanagari",
    "scripts/Brahmic/North/Bengali",
    "scripts/Brahmic/South/Tamil",
    "scripts/Semitic/Aramaic/Hebrew",
    "scripts/Semitic/Arabic/Arabic",
]


def test_tree_distance_counts_edges_through_the_common_ancestor():
    assert tree_distance(PATHS[0], PATHS[0]) == 0
    assert tree_distance(PATHS[0], PATHS[1]) == 2  # siblings
    assert tree_distance(PATHS[0], PATHS[2]) == 4  # cousins
    assert tree_distance(PATHS[0], PATHS[3]) == 6  # other family
    assert tree_distance("emoji/Flags/flag", PATHS[0]) == 3 + 4


def _spearman_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of average ranks: the definition, written out."""
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx**2).sum() * (ry**2).sum()))


def test_agreement_matches_a_hand_computed_spearman_and_family_means():
    rng = np.random.default_rng(0)
    tree = tree_distance_matrix(PATHS)
    noisy = tree + rng.normal(0, 1.5, size=tree.shape)
    noisy = (noisy + noisy.T) / 2
    np.fill_diagonal(noisy, 0)
    got = taxonomy_agreement(noisy, PATHS)
    pairs = list(itertools.combinations(range(len(PATHS)), 2))
    d = np.array([noisy[i, j] for i, j in pairs])
    t = np.array([tree[i, j] for i, j in pairs])
    assert got["spearman"] == pytest.approx(_spearman_by_hand(d, t), abs=1e-12)
    same = np.array([PATHS[i].split("/")[1] == PATHS[j].split("/")[1] for i, j in pairs])
    assert got["within"] == pytest.approx(d[same].mean())
    assert got["between"] == pytest.approx(d[~same].mean())
    perfect = taxonomy_agreement(tree, PATHS)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["ratio"] < 1


def test_error_table_finds_best_worst_and_spread():
    rows = [("a", "t1", 0.2), ("b", "t1", 0.5), ("c", "t1", 0.3), ("a", "t2", 0.1), ("b", "t2", 0.05)]
    table = expert_error_table(rows)
    assert table["t1"]["best_model"] == "a" and table["t1"]["best"] == 0.2
    assert table["t1"]["spread"] == pytest.approx(0.3)
    assert table["t2"]["best_model"] == "b"
    summary = error_summary(table)
    assert summary["tasks"] == 2 and summary["share_best_in_5_50"] == 1.0


def test_difficulty_correlates_norm_with_best_error():
    norms = {f"t{i}": float(i) for i in range(6)}
    errors = {f"t{i}": 0.1 * i + 0.01 * (i % 2) for i in range(6)}
    got = difficulty(norms, errors)
    assert got["tasks"] == 6 and got["spearman"] == pytest.approx(1.0)
    assert difficulty(norms, {"t0": 0.1})["spearman"] is None
