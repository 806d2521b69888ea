"""Distance matrices for figures: checked, and put in an order that shows their structure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from registry.errors import InvalidInput
from zoo.plots.canvas import NO_GROUP, group_names

__all__ = ["check_distance_matrix", "cluster_order", "heatmap_order"]


def check_distance_matrix(matrix: Any) -> np.ndarray:
    """``matrix`` as a float64 [N, N] array; InvalidInput when it is not square or not finite."""
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise InvalidInput(f"a distance matrix must be square [N, N], got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidInput("the distance matrix has NaN or infinite entries: re-embed the tasks involved")
    return array


def cluster_order(matrix: Any) -> np.ndarray:
    """Leaf order [N] of average-linkage hierarchical clustering of a distance matrix.

    The matrix is symmetrised and its diagonal zeroed first; leaves are put in the
    optimal order (adjacent leaves as close as possible).
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    array = check_distance_matrix(matrix)
    n = array.shape[0]
    if n <= 2:
        return np.arange(n)
    sym = np.clip((array + array.T) / 2.0, 0.0, None)
    np.fill_diagonal(sym, 0.0)
    tree = linkage(squareform(sym, checks=False), method="average", optimal_ordering=True)
    return leaves_list(tree).astype(int)


def heatmap_order(matrix: Any, *, groups: Sequence[str | None] | None = None, order: str = "cluster") -> np.ndarray:
    """The row/column order [N] of a distance heatmap.

    With ``groups``, each group is contiguous, groups sorted by name (a taxonomy
    path sorts siblings next to each other, tasks without one last), tasks
    clustered within their group. ``order`` is ``"cluster"`` or ``"given"``
    (keep the input order within groups).
    """
    array = check_distance_matrix(matrix)
    if order not in ("cluster", "given"):
        raise InvalidInput(f"unknown heatmap order {order!r}: use 'cluster' or 'given'")
    n = array.shape[0]
    if groups is None:
        return cluster_order(array) if order == "cluster" else np.arange(n)
    if len(groups) != n:
        raise InvalidInput(f"got {len(groups)} groups for {n} tasks: give one group per task")
    names = group_names(groups)
    ordered: list[int] = []
    for name in sorted(set(names), key=lambda g: (g == NO_GROUP, g)):
        members = np.array([i for i, g in enumerate(names) if g == name])
        if order == "cluster":
            members = members[cluster_order(array[np.ix_(members, members)])]
        ordered.extend(int(i) for i in members)
    return np.array(ordered, dtype=int)
