"""The task distance heatmap: an [N, N] matrix, clustered, with taxonomy groups marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from registry.errors import InvalidInput
from zoo.plots.canvas import group_names, new_figure, save, short_label, wrapped_title
from zoo.plots.ordering import check_distance_matrix, heatmap_order

__all__ = ["distance_heatmap"]


def distance_heatmap(
    matrix: Any,
    labels: Sequence[str],
    out: str | Path,
    *,
    groups: Sequence[str | None] | None = None,
    title: str | None = None,
    order: str = "cluster",
    value_label: str = "d_sym (symmetric Task2Vec distance)",
) -> Path:
    """Draw an [N, N] distance matrix as a labelled heatmap and return the file written.

    Ordered by :func:`zoo.plots.ordering.heatmap_order`; with ``groups`` (e.g.
    taxonomy families) the group boundaries are drawn and named along the top.
    Figure and font size scale with N so 100+ tasks stay legible.
    """
    array = check_distance_matrix(matrix)
    n = array.shape[0]
    if n == 0:
        raise InvalidInput("nothing to plot: the distance matrix is empty; embed some tasks first")
    if len(labels) != n:
        raise InvalidInput(f"got {len(labels)} labels for a {n}x{n} matrix: give one label per row")
    perm = heatmap_order(array, groups=groups, order=order)
    shown = array[np.ix_(perm, perm)]
    names = [short_label(labels[i]) for i in perm]

    margin = 3.5 if n > 20 else 2.5
    side = float(np.clip(margin + 0.13 * n, 6.0, 40.0))
    cell_pt = (side - margin) / n * 72.0
    fontsize = float(np.clip(cell_pt * 0.75, 2.5, 10.0))
    fig = new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="viridis_r", interpolation="nearest", aspect="equal")
    ax.set_xticks(range(n), names, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), names, fontsize=fontsize)
    ax.tick_params(length=1.5 if n > 50 else 3.0)
    bar = fig.colorbar(image, ax=ax, shrink=0.6, pad=0.01)
    bar.set_label(value_label, fontsize=11)
    if groups is not None:
        _draw_group_bands(ax, group_names([groups[i] for i in perm]), fontsize)
    heading = title or f"Task distances ({n} tasks)"
    ax.set_title(wrapped_title(heading, side * 0.8, 13), fontsize=13, pad=12 if groups is None else 24)
    return save(fig, out, dpi=100 if n > 80 else 130)


def _draw_group_bands(ax, ordered_groups: list[str], fontsize: float) -> None:
    """Boundary lines between groups and each group's name above its block."""
    n = len(ordered_groups)
    starts = [0] + [i for i in range(1, n) if ordered_groups[i] != ordered_groups[i - 1]]
    ends = starts[1:] + [n]
    for start in starts[1:]:
        ax.axhline(start - 0.5, color="white", linewidth=1.2)
        ax.axvline(start - 0.5, color="white", linewidth=1.2)
    top = ax.secondary_xaxis("top")
    centres = [(s + e - 1) / 2 for s, e in zip(starts, ends)]
    top.set_xticks(
        centres, [ordered_groups[s] for s in starts], rotation=90 if len(starts) > 6 else 0, fontsize=max(fontsize, 8.0)
    )
    top.tick_params(length=0)
