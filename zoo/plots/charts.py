"""Bar charts of choosing an expert: one task's recommendations, and the selection methods compared."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from registry.errors import InvalidInput
from zoo.plots.canvas import field, new_figure, save, short_label

__all__ = ["recommendation_chart", "selection_chart"]


def recommendation_chart(
    rows: Sequence[Any], out: str | Path, *, oracle: float | None = None, title: str | None = None
) -> Path:
    """Horizontal bars of expected error (%) per recommended model, best rank on top.

    ``rows``: dicts or dataclasses with ``model``, ``expected_error`` (a fraction)
    and optionally ``measured_error`` (drawn as a dot). ``oracle``: the best
    measured error on the task (a fraction), drawn as a vertical line.
    """
    if not rows:
        raise InvalidInput("no recommendations to plot: the zoo has no models for this probe")
    models = [short_label(field(r, "model"), 40) for r in rows]
    expected = np.array([float(field(r, "expected_error")) for r in rows]) * 100.0
    measured = [field(r, "measured_error") for r in rows]
    n = len(rows)
    fig = new_figure(8.0, float(np.clip(1.4 + 0.42 * n, 3.0, 14.0)))
    ax = fig.add_subplot()
    ypos = np.arange(n)
    bar_colour = "#4c72b0"
    ax.barh(ypos, expected, height=0.6, color=bar_colour, label="expected error (predicted)", zorder=2)
    known = [(y, float(m) * 100.0) for y, m in zip(ypos, measured) if m is not None]
    right = max([*expected, *(k[1] for k in known), (oracle or 0.0) * 100.0])
    xmax = max(right * 1.15, 1.0)
    dots = {y: value for y, value in known}
    for y, value in zip(ypos, expected):
        # inside the bar, at its start, unless the bar is too short for the label or a measured dot sits there:
        # then after the bar's end, in the bar's colour (after the dot's own label when the dot is near or past it)
        room = _LABEL_ROOM * xmax
        inside = value > room and not (y in dots and dots[y] < room)
        anchor, offset = (0.0, 4.0) if inside else (value, 4.0)
        if not inside and y in dots and dots[y] > value - room:
            anchor, offset = max(value, dots[y]), max(4.0, _MEASURED_OFFSET + _label_width(dots[y]) + 4.0)
        ax.annotate(
            f"{value:.1f}%",
            (anchor, y),
            xytext=(offset, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="white" if inside else bar_colour,
            fontweight="bold",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": bar_colour if inside else "white", "linewidth": 0},
            zorder=6,  # over the oracle line
        )
    _draw_measured(ax, known)
    if oracle is not None:
        ax.axvline(
            float(oracle) * 100.0,
            color="#c44e52",
            linestyle="--",
            linewidth=1.5,
            label=f"oracle (best measured): {float(oracle) * 100:.1f}%",
            zorder=4,
        )
    ax.set_yticks(ypos, models, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0.0, xmax)
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("recommended model (rank order)")
    ax.grid(axis="x", color="0.9", zorder=0)
    ax.set_title(title or "Expected error per recommended model", fontsize=12)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3, fontsize=8, frameon=False)
    return save(fig, out)


#: the share of the x-axis a bar's value label needs inside the bar
_LABEL_ROOM = 0.12
#: a measured error's label: its font size and its distance from the dot (points)
_MEASURED_FONT = 7
_MEASURED_OFFSET = 7.0


def _label_width(value: float) -> float:
    """About how wide (points) the measured label of ``value`` is drawn, its box included."""
    return 0.62 * _MEASURED_FONT * len(f"{value:.1f}%") + 4.0


def _draw_measured(ax, known: list[tuple[Any, float]]) -> None:
    """Dots (and labels) at the measured errors ``known``: (bar position, error in %) pairs; none drawn when empty."""
    if not known:
        return
    ax.scatter(
        [k[1] for k in known],
        [k[0] for k in known],
        color="#dd8452",
        marker="D",
        edgecolors="black",
        s=45,
        zorder=3,
        label="measured error",
    )
    for y, value in known:  # beside the dot, on white: clear of the bar's edges, the title and the oracle line
        ax.annotate(
            f"{value:.1f}%",
            (value, y),
            xytext=(_MEASURED_OFFSET, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=_MEASURED_FONT,
            color="#8c3d0f",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.9},
            zorder=5,
        )


def selection_chart(rows: Sequence[Any], out: str | Path, *, title: str | None = None) -> Path:
    """How well each selection method picks experts: two panels, one bar per method.

    ``rows``: dicts with ``method``, ``relative_error`` (%), ``gap_points``
    (percentage points) and ``top1`` (a fraction), as made by
    :func:`zoo.selection.evaluate_methods`. Left: mean relative error to the
    oracle; right: mean absolute gap, with the top-1 hit rate written on each bar.
    """
    rows = [r for r in rows if field(r, "relative_error") is not None]
    if not rows:
        raise InvalidInput("no selection results to plot: run `zoo bench evaluate` on a registry with held-out tasks")
    names = [str(field(r, "method")) for r in rows]
    rel = np.array([float(field(r, "relative_error")) for r in rows])
    gap = np.array([float(field(r, "gap_points") or 0.0) for r in rows])
    top1 = [field(r, "top1") for r in rows]
    n = len(rows)
    fig = new_figure(11.0, float(np.clip(1.6 + 0.45 * n, 3.2, 10.0)))
    left, right = fig.subplots(1, 2, sharey=True)
    ypos = np.arange(n)
    colours = ["#c44e52" if name == "Model2Vec" else "#4c72b0" for name in names]
    for ax, values, label in (
        (left, rel, "mean relative error to the oracle (%)"),
        (right, gap, "mean gap to the oracle (percentage points)"),
    ):
        ax.barh(ypos, values, height=0.6, color=colours, zorder=2)
        ax.set_xlabel(label)
        ax.grid(axis="x", color="0.9", zorder=0)
        ax.set_xlim(0.0, max(float(np.nanmax(values)) * 1.25, 1.0))
    for y, value, hit in zip(ypos, gap, top1):
        text = f"{value:.1f} pts" + ("" if hit is None else f"  (top-1 {100 * float(hit):.0f}%)")
        right.annotate(text, (value, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    for y, value in zip(ypos, rel):
        left.annotate(f"{value:.1f}%", (value, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    left.set_yticks(ypos, names, fontsize=9)
    left.invert_yaxis()
    left.set_ylabel("selection method")
    fig.suptitle(title or "Choosing an expert for held-out tasks (lower is better)", fontsize=12)
    return save(fig, out)
