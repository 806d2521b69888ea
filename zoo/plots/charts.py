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
    ax.barh(ypos, expected, height=0.6, color="#4c72b0", label="expected error (predicted)", zorder=2)
    for y, value in zip(ypos, expected):
        ax.annotate(
            f"{value:.1f}%",
            (0.0, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="white",
            fontweight="bold",
            zorder=5,
        )
    known = [(y, float(m) * 100.0) for y, m in zip(ypos, measured) if m is not None]
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
    right = max([*expected, *(k[1] for k in known), (oracle or 0.0) * 100.0])
    ax.set_xlim(0.0, max(right * 1.15, 1.0))
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("recommended model (rank order)")
    ax.grid(axis="x", color="0.9", zorder=0)
    ax.set_title(title or "Expected error per recommended model", fontsize=12)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3, fontsize=8, frameon=False)
    return save(fig, out)


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
    for y, value in known:
        ax.annotate(
            f"{value:.1f}%",
            (value, y),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7,
            color="#8c3d0f",
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
