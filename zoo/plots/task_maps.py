"""The task map: tasks placed in 2-D (t-SNE or MDS of their distances), coloured by taxonomy group."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from registry.errors import InvalidInput
from zoo.plots.canvas import NO_GROUP, group_names, group_styles, new_figure, save, short_label

__all__ = ["task_map"]

#: task names are written next to their points up to this many tasks (unless ``annotate`` says otherwise).
ANNOTATE_UP_TO = 60
#: model names are written next to their stars up to this many models.
MODEL_NAMES_UP_TO = 40


def task_map(
    coords: Any,
    labels: Sequence[str],
    groups: Sequence[str | None],
    out: str | Path,
    *,
    models: tuple[Any, Sequence[str]] | None = None,
    query: tuple[Any, str] | None = None,
    title: str | None = None,
    axis_name: str = "t-SNE",
    annotate: bool | None = None,
) -> Path:
    """A 2-D map of tasks ``coords`` [N, 2] coloured by ``groups``, with a legend.

    ``models`` = (coords [M, 2], names) adds expert models as black stars;
    ``query`` = (coords [2], name) adds a highlighted query point. Task names are
    written next to their points when ``annotate`` (default: N <= 60).
    """
    points = np.asarray(coords, dtype=np.float64).reshape(-1, 2) if len(labels) else np.zeros((0, 2))
    n = points.shape[0]
    if n != len(labels) or n != len(groups):
        raise InvalidInput(
            f"task map needs one label and one group per point: got {n} points, "
            f"{len(labels)} labels, {len(groups)} groups"
        )
    names = group_names(groups)
    styles = group_styles(sorted(set(names), key=lambda g: (g == NO_GROUP, g)))
    annotate = n <= ANNOTATE_UP_TO if annotate is None else annotate
    width = float(np.clip(7.0 + n / 40.0, 8.0, 16.0))
    fig = new_figure(width + 3.0, width * 0.8)
    ax = fig.add_subplot()
    _draw_tasks(ax, points, names, styles)
    if annotate:
        _name_tasks(ax, points, labels, skip=None if query is None else str(query[1]))
    if models is not None:
        _draw_models(ax, models)
    if query is not None:
        _draw_query(ax, query)
    ax.set_xlabel(f"{axis_name} 1 (no unit: only relative positions mean anything)")
    ax.set_ylabel(f"{axis_name} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"Map of {n} tasks ({axis_name} on d_sym)", fontsize=13)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        title="taxonomy",
        ncols=1 if len(styles) <= 30 else 2,
        markerscale=0.8,
        frameon=False,
    )
    return save(fig, out)


def _draw_tasks(ax, points: np.ndarray, names: list[str], styles: dict[str, tuple[Any, str]]) -> None:
    """One scatter per group of the task points [N, 2], in that group's colour and marker."""
    size = float(np.clip(3000.0 / max(points.shape[0], 1), 22.0, 60.0))
    for name, (colour, marker) in styles.items():
        mask = np.array([g == name for g in names])
        ax.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size,
            color=colour,
            marker=marker,
            label=name,
            edgecolors="white",
            linewidths=0.5,
            alpha=0.9,
            zorder=2,
        )


def _name_tasks(ax, points: np.ndarray, labels: Sequence[str], *, skip: str | None) -> None:
    """Each task's (shortened) name beside its point, except ``skip`` (the query, named in red)."""
    for (x, y), label in zip(points, labels):
        if str(label) == skip:
            continue
        ax.annotate(
            short_label(label), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7, color="0.25", zorder=3
        )


def _draw_models(ax, models: tuple[Any, Sequence[str]]) -> None:
    """Expert models (coords [M, 2], names) as black stars, named when there are few."""
    model_points = np.asarray(models[0], dtype=np.float64).reshape(-1, 2)
    if len(model_points) != len(models[1]):
        raise InvalidInput(f"got {len(model_points)} model points and {len(models[1])} model names")
    ax.scatter(model_points[:, 0], model_points[:, 1], marker="*", s=140, color="black", label="expert model", zorder=4)
    for (x, y), label in zip(model_points, models[1] if len(model_points) <= MODEL_NAMES_UP_TO else ()):
        ax.annotate(
            short_label(label), (x, y), xytext=(4, -9), textcoords="offset points", fontsize=7, color="black", zorder=5
        )


def _draw_query(ax, query: tuple[Any, str]) -> None:
    """The query task (coords [2], name) as a red ring with its name in bold."""
    qx, qy = np.asarray(query[0], dtype=np.float64).reshape(2)
    ax.scatter(
        [qx],
        [qy],
        marker="o",
        s=260,
        facecolors="none",
        edgecolors="red",
        linewidths=2.5,
        label=f"query: {query[1]}",
        zorder=6,
    )
    ax.annotate(
        str(query[1]),
        (qx, qy),
        xytext=(8, 8),
        textcoords="offset points",
        fontsize=10,
        color="red",
        fontweight="bold",
        zorder=7,
    )
