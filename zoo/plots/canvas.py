"""What every figure shares: the output file, a bare Agg figure, short labels, group styles.

A figure is a bare :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot
state); :func:`save` writes it in the format the suffix of ``out`` names.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from registry.errors import InvalidInput, cannot_write, check_writable

__all__ = ["FORMATS", "NO_GROUP", "figure_path", "short_label"]

FORMATS = (".png", ".svg", ".pdf")
#: the group of a task without a taxonomy (drawn grey, sorted last).
NO_GROUP = "(no taxonomy)"


def figure_path(out: str | Path) -> Path:
    """``out`` as a path with a known figure suffix (``.png`` added when it has none)."""
    path = Path(out)
    if path.suffix == "":
        path = path.with_suffix(".png")
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(
            f"cannot write a figure as {path.suffix!r}: name the file with one of "
            f"{', '.join(FORMATS)} (e.g. {path.with_suffix('.png').name})"
        )
    return path


def new_figure(width: float, height: float):
    """A bare ``width`` x ``height`` inch figure with constrained layout (no pyplot state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig, out: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` to :func:`figure_path` of ``out`` (parent folders made) and return that path.

    A path that cannot be written is :func:`registry.errors.cannot_write` (one line), never a traceback.
    """
    path = figure_path(out)
    check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, facecolor="white")
    except OSError as err:
        raise cannot_write(path, err) from None
    return path


def short_label(text: Any, limit: int = 32) -> str:
    """``text`` cut to ``limit`` characters by an ellipsis in the middle (names often differ at the end)."""
    text = str(text)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def wrapped_title(text: str, width_inches: float, fontsize: float) -> str:
    """``text`` wrapped to the number of characters that fit ``width_inches`` at ``fontsize`` points."""
    return textwrap.fill(text, width=max(20, int(width_inches * 72 / (fontsize * 0.6))))


def group_names(groups: Sequence[str | None]) -> list[str]:
    """Each task's group as a string, :data:`NO_GROUP` for None."""
    return [NO_GROUP if g is None else str(g) for g in groups]


def group_styles(names: Sequence[str]) -> dict[str, tuple[Any, str]]:
    """A (colour, marker) per group: tab10 colours, a new marker shape every ten groups."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    markers = "os^DvPX<>p"
    styles = {name: (palette(i % 10), markers[(i // 10) % len(markers)]) for i, name in enumerate(dict.fromkeys(names))}
    if NO_GROUP in styles:
        styles[NO_GROUP] = ((0.6, 0.6, 0.6, 1.0), "o")
    return styles


def field(row: Any, name: str) -> Any:
    """``row[name]`` for a dict, ``row.name`` for a dataclass or any object; None when absent."""
    if isinstance(row, dict):
        return row.get(name)
    if dataclasses.is_dataclass(row):
        return getattr(row, name, None)
    return getattr(row, name, None)
