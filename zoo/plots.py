"""Figures for people: the task distance heatmap, the task map, the recommendation chart.

Every function draws on a bare :class:`matplotlib.figure.Figure` (Agg canvas, no
pyplot state), writes one file and returns its path. The format follows the
suffix of ``out``: ``.png`` (the default when there is no suffix), ``.svg`` or
``.pdf``. Sizes and fonts scale with the number of tasks so a figure stays
readable at a few hundred tasks.

The 2-D layout behind the task map is here too: :func:`embed_2d` (t-SNE or
classical MDS on a precomputed distance matrix; numpy only).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from registry.errors import InvalidInput

FORMATS = (".png", ".svg", ".pdf")
NO_GROUP = "(no taxonomy)"


# --------------------------------------------------------------------- files


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


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, out: str | Path, *, dpi: int = 120) -> Path:
    path = figure_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="white")
    return path


def short_label(text: Any, limit: int = 32) -> str:
    """``text`` cut to ``limit`` characters by an ellipsis in the middle (names often differ at the end)."""
    text = str(text)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def _wrapped_title(text: str, width_inches: float, fontsize: float) -> str:
    import textwrap

    return textwrap.fill(text, width=max(20, int(width_inches * 72 / (fontsize * 0.6))))


def _group_styles(names: Sequence[str]) -> dict[str, tuple[Any, str]]:
    """A (colour, marker) per group: tab10 colours, a new marker shape every ten groups."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    markers = "os^DvPX<>p"
    styles = {name: (palette(i % 10), markers[(i // 10) % len(markers)])
              for i, name in enumerate(dict.fromkeys(names))}
    if NO_GROUP in styles:
        styles[NO_GROUP] = ((0.6, 0.6, 0.6, 1.0), "o")
    return styles


# ------------------------------------------------------------------ ordering


def _check_distance_matrix(matrix: Any) -> np.ndarray:
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

    array = _check_distance_matrix(matrix)
    n = array.shape[0]
    if n <= 2:
        return np.arange(n)
    sym = np.clip((array + array.T) / 2.0, 0.0, None)
    np.fill_diagonal(sym, 0.0)
    tree = linkage(squareform(sym, checks=False), method="average", optimal_ordering=True)
    return leaves_list(tree).astype(int)


def heatmap_order(matrix: Any, *, groups: Sequence[str | None] | None = None,
                  order: str = "cluster") -> np.ndarray:
    """The row/column order [N] of a distance heatmap.

    With ``groups``, each group is contiguous, groups sorted by name (a taxonomy
    path sorts siblings next to each other, tasks without one last), tasks
    clustered within their group. ``order`` is ``"cluster"`` or ``"given"``
    (keep the input order within groups).
    """
    array = _check_distance_matrix(matrix)
    if order not in ("cluster", "given"):
        raise InvalidInput(f"unknown heatmap order {order!r}: use 'cluster' or 'given'")
    n = array.shape[0]
    if groups is None:
        return cluster_order(array) if order == "cluster" else np.arange(n)
    if len(groups) != n:
        raise InvalidInput(f"got {len(groups)} groups for {n} tasks: give one group per task")
    names = [NO_GROUP if g is None else str(g) for g in groups]
    ordered: list[int] = []
    for name in sorted(set(names), key=lambda g: (g == NO_GROUP, g)):
        members = np.array([i for i, g in enumerate(names) if g == name])
        if order == "cluster":
            members = members[cluster_order(array[np.ix_(members, members)])]
        ordered.extend(int(i) for i in members)
    return np.array(ordered, dtype=int)


# ------------------------------------------------------------------- heatmap


def distance_heatmap(matrix: Any, labels: Sequence[str], out: str | Path, *,
                     groups: Sequence[str | None] | None = None, title: str | None = None,
                     order: str = "cluster", value_label: str = "d_sym (symmetric Task2Vec distance)") -> Path:
    """Draw an [N, N] distance matrix as a labelled heatmap and return the file written.

    Ordered by :func:`heatmap_order`; with ``groups`` (e.g. taxonomy families) the
    group boundaries are drawn and named along the top. Figure and font size
    scale with N so 100+ tasks stay legible.
    """
    array = _check_distance_matrix(matrix)
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
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="viridis_r", interpolation="nearest", aspect="equal")
    ax.set_xticks(range(n), names, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), names, fontsize=fontsize)
    ax.tick_params(length=1.5 if n > 50 else 3.0)
    bar = fig.colorbar(image, ax=ax, shrink=0.6, pad=0.01)
    bar.set_label(value_label, fontsize=11)
    if groups is not None:
        ordered_groups = [NO_GROUP if groups[i] is None else str(groups[i]) for i in perm]
        _draw_group_bands(ax, ordered_groups, fontsize)
    heading = title or f"Task distances ({n} tasks)"
    ax.set_title(_wrapped_title(heading, side * 0.8, 13), fontsize=13, pad=12 if groups is None else 24)
    return _save(fig, out, dpi=100 if n > 80 else 130)


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
    top.set_xticks(centres, [ordered_groups[s] for s in starts],
                   rotation=90 if len(starts) > 6 else 0, fontsize=max(fontsize, 8.0))
    top.tick_params(length=0)


# ---------------------------------------------------------------- task map


def task_map(coords: Any, labels: Sequence[str], groups: Sequence[str | None], out: str | Path, *,
             models: tuple[Any, Sequence[str]] | None = None,
             query: tuple[Any, str] | None = None, title: str | None = None,
             axis_name: str = "t-SNE", annotate: bool | None = None) -> Path:
    """A 2-D map of tasks ``coords`` [N, 2] coloured by ``groups``, with a legend.

    ``models`` = (coords [M, 2], names) adds expert models as black stars;
    ``query`` = (coords [2], name) adds a highlighted query point. Task names are
    written next to their points when ``annotate`` (default: N <= 60).
    """
    points = np.asarray(coords, dtype=np.float64).reshape(-1, 2) if len(labels) else np.zeros((0, 2))
    n = points.shape[0]
    if n != len(labels) or n != len(groups):
        raise InvalidInput(f"task map needs one label and one group per point: got {n} points, "
                           f"{len(labels)} labels, {len(groups)} groups")
    names = [NO_GROUP if g is None else str(g) for g in groups]
    styles = _group_styles(sorted(set(names), key=lambda g: (g == NO_GROUP, g)))
    annotate = n <= 60 if annotate is None else annotate
    width = float(np.clip(7.0 + n / 40.0, 8.0, 16.0))
    fig = _new_figure(width + 3.0, width * 0.8)
    ax = fig.add_subplot()
    size = float(np.clip(3000.0 / max(n, 1), 22.0, 60.0))
    for name, (colour, marker) in styles.items():
        mask = np.array([g == name for g in names])
        ax.scatter(points[mask, 0], points[mask, 1], s=size, color=colour, marker=marker, label=name,
                   edgecolors="white", linewidths=0.5, alpha=0.9, zorder=2)
    if annotate:
        skip = None if query is None else str(query[1])
        for (x, y), label in zip(points, labels):
            if str(label) == skip:
                continue
            ax.annotate(short_label(label), (x, y), xytext=(3, 3), textcoords="offset points",
                        fontsize=7, color="0.25", zorder=3)
    if models is not None:
        model_points = np.asarray(models[0], dtype=np.float64).reshape(-1, 2)
        if len(model_points) != len(models[1]):
            raise InvalidInput(f"got {len(model_points)} model points and {len(models[1])} model names")
        ax.scatter(model_points[:, 0], model_points[:, 1], marker="*", s=140, color="black",
                   label="expert model", zorder=4)
        for (x, y), label in zip(model_points, models[1] if len(model_points) <= 40 else ()):
            ax.annotate(short_label(label), (x, y), xytext=(4, -9), textcoords="offset points",
                        fontsize=7, color="black", zorder=5)
    if query is not None:
        qx, qy = np.asarray(query[0], dtype=np.float64).reshape(2)
        ax.scatter([qx], [qy], marker="o", s=260, facecolors="none", edgecolors="red",
                   linewidths=2.5, label=f"query: {query[1]}", zorder=6)
        ax.annotate(str(query[1]), (qx, qy), xytext=(8, 8), textcoords="offset points",
                    fontsize=10, color="red", fontweight="bold", zorder=7)
    ax.set_xlabel(f"{axis_name} 1 (no unit: only relative positions mean anything)")
    ax.set_ylabel(f"{axis_name} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"Map of {n} tasks ({axis_name} on d_sym)", fontsize=13)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="taxonomy",
              ncols=1 if len(styles) <= 30 else 2, markerscale=0.8, frameon=False)
    return _save(fig, out)


# --------------------------------------------------------- recommendations


def _field(row: Any, name: str) -> Any:
    if isinstance(row, dict):
        return row.get(name)
    if dataclasses.is_dataclass(row):
        return getattr(row, name, None)
    return getattr(row, name, None)


def recommendation_chart(rows: Sequence[Any], out: str | Path, *, oracle: float | None = None,
                         title: str | None = None) -> Path:
    """Horizontal bars of expected error (%) per recommended model, best rank on top.

    ``rows``: dicts or dataclasses with ``model``, ``expected_error`` (a fraction)
    and optionally ``measured_error`` (drawn as a dot). ``oracle``: the best
    measured error on the task (a fraction), drawn as a vertical line.
    """
    if not rows:
        raise InvalidInput("no recommendations to plot: the zoo has no models for this probe")
    models = [short_label(_field(r, "model"), 40) for r in rows]
    expected = np.array([float(_field(r, "expected_error")) for r in rows]) * 100.0
    measured = [_field(r, "measured_error") for r in rows]
    n = len(rows)
    fig = _new_figure(8.0, float(np.clip(1.4 + 0.42 * n, 3.0, 14.0)))
    ax = fig.add_subplot()
    ypos = np.arange(n)
    ax.barh(ypos, expected, height=0.6, color="#4c72b0", label="expected error (predicted)", zorder=2)
    for y, value in zip(ypos, expected):
        ax.annotate(f"{value:.1f}%", (0.0, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8, color="white", fontweight="bold", zorder=5)
    known = [(y, float(m) * 100.0) for y, m in zip(ypos, measured) if m is not None]
    if known:
        ax.scatter([k[1] for k in known], [k[0] for k in known], color="#dd8452", marker="D",
                   edgecolors="black", s=45, zorder=3, label="measured error")
        for y, value in known:
            ax.annotate(f"{value:.1f}%", (value, y), xytext=(0, 7), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="#8c3d0f", zorder=5)
    if oracle is not None:
        ax.axvline(float(oracle) * 100.0, color="#c44e52", linestyle="--", linewidth=1.5,
                   label=f"oracle (best measured): {float(oracle) * 100:.1f}%", zorder=4)
    ax.set_yticks(ypos, models, fontsize=9)
    ax.invert_yaxis()
    right = max([*expected, *(k[1] for k in known), (oracle or 0.0) * 100.0])
    ax.set_xlim(0.0, max(right * 1.15, 1.0))
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("recommended model (rank order)")
    ax.grid(axis="x", color="0.9", zorder=0)
    ax.set_title(title or "Expected error per recommended model", fontsize=12)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3, fontsize=8, frameon=False)
    return _save(fig, out)


def selection_chart(rows: Sequence[Any], out: str | Path, *, title: str | None = None) -> Path:
    """How well each selection method picks experts: two panels, one bar per method.

    ``rows``: dicts with ``method``, ``relative_error`` (%), ``gap_points``
    (percentage points) and ``top1`` (a fraction), as made by
    :func:`zoo.selection.evaluate_methods`. Left: mean relative error to the
    oracle; right: mean absolute gap, with the top-1 hit rate written on each bar.
    """
    rows = [r for r in rows if _field(r, "relative_error") is not None]
    if not rows:
        raise InvalidInput("no selection results to plot: run `zoo bench evaluate` on a registry with held-out tasks")
    names = [str(_field(r, "method")) for r in rows]
    rel = np.array([float(_field(r, "relative_error")) for r in rows])
    gap = np.array([float(_field(r, "gap_points") or 0.0) for r in rows])
    top1 = [_field(r, "top1") for r in rows]
    n = len(rows)
    fig = _new_figure(11.0, float(np.clip(1.6 + 0.45 * n, 3.2, 10.0)))
    left, right = fig.subplots(1, 2, sharey=True)
    ypos = np.arange(n)
    colours = ["#c44e52" if name == "Model2Vec" else "#4c72b0" for name in names]
    for ax, values, label in ((left, rel, "mean relative error to the oracle (%)"),
                              (right, gap, "mean gap to the oracle (percentage points)")):
        ax.barh(ypos, values, height=0.6, color=colours, zorder=2)
        ax.set_xlabel(label)
        ax.grid(axis="x", color="0.9", zorder=0)
        ax.set_xlim(0.0, max(float(np.nanmax(values)) * 1.25, 1.0))
    for y, value, hit in zip(ypos, gap, top1):
        text = f"{value:.1f} pts" + ("" if hit is None else f"  (top-1 {100 * float(hit):.0f}%)")
        right.annotate(text, (value, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    for y, value in zip(ypos, rel):
        left.annotate(f"{value:.1f}%", (value, y), xytext=(4, 0), textcoords="offset points", va="center",
                      fontsize=8)
    left.set_yticks(ypos, names, fontsize=9)
    left.invert_yaxis()
    left.set_ylabel("selection method")
    fig.suptitle(title or "Choosing an expert for held-out tasks (lower is better)", fontsize=12)
    return _save(fig, out)


# --------------------------------------------------------------- 2-D layout


def embed_2d(distance_matrix: Any, *, method: str = "tsne", seed: int = 0,
             perplexity: float | None = None) -> np.ndarray:
    """Place N items in 2-D from their [N, N] distances; returns [N, 2].

    ``method``: ``"tsne"`` (exact t-SNE on the precomputed distances, van der
    Maaten & Hinton 2008, initialised from classical MDS) or ``"mds"`` (classical
    Torgerson MDS). Deterministic for a given ``seed``.
    """
    array = _check_distance_matrix(distance_matrix)
    array = np.clip((array + array.T) / 2.0, 0.0, None)
    np.fill_diagonal(array, 0.0)
    n = array.shape[0]
    if method not in ("tsne", "mds"):
        raise InvalidInput(f"unknown layout method {method!r}: use 'tsne' or 'mds'")
    if n < 4 or method == "mds":
        return classical_mds(array)
    return tsne(array, seed=seed, perplexity=perplexity)


def classical_mds(distance_matrix: Any, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS: [N, N] distances -> [N, dims] coordinates.

    Double-centre the squared distances, B = -1/2 J D^2 J, and scale the top
    eigenvectors by sqrt(eigenvalue) (negative eigenvalues count as 0). Each
    column's sign is fixed so its largest-magnitude entry is positive.
    """
    array = _check_distance_matrix(distance_matrix)
    n = array.shape[0]
    squared = array**2
    centred = squared - squared.mean(axis=0, keepdims=True) - squared.mean(axis=1, keepdims=True) + squared.mean()
    gram = -0.5 * (centred + centred.T) / 2.0
    values, vectors = np.linalg.eigh(gram)
    top = np.argsort(values)[::-1][:dims]
    coords = vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))
    if coords.shape[1] < dims:
        coords = np.hstack([coords, np.zeros((n, dims - coords.shape[1]))])
    for j in range(dims):
        column = coords[:, j]
        if column.size and column[np.argmax(np.abs(column))] < 0:
            coords[:, j] = -column
    return coords


def tsne_affinities(distance_matrix: np.ndarray, perplexity: float, *, tol: float = 1e-5,
                    steps: int = 100) -> np.ndarray:
    """Conditional affinities P[j|i] [N, N] with each row's perplexity matched.

    P[j|i] ~ exp(-beta_i * d_ij^2), beta_i found by bisection on log(beta) so the
    row entropy is log(perplexity); all rows are searched at once.
    """
    squared = distance_matrix**2
    n = squared.shape[0]
    scale = np.median(squared[~np.eye(n, dtype=bool)]) if n > 1 else 1.0
    squared = squared / (scale if scale > 0 else 1.0)
    target = np.log(perplexity)
    lo, hi = np.full(n, -50.0), np.full(n, 50.0)
    off_diagonal = ~np.eye(n, dtype=bool)
    for _ in range(steps):
        log_beta = (lo + hi) / 2.0
        probs = _row_probs(squared, np.exp(log_beta), off_diagonal)
        entropy = -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0), axis=1)
        too_flat = entropy > target  # entropy too high: sharpen (raise beta)
        lo = np.where(too_flat, log_beta, lo)
        hi = np.where(too_flat, hi, log_beta)
        if np.max(np.abs(entropy - target)) < tol:
            break
    return _row_probs(squared, np.exp((lo + hi) / 2.0), off_diagonal)


def _row_probs(squared: np.ndarray, beta: np.ndarray, off_diagonal: np.ndarray) -> np.ndarray:
    logits = np.where(off_diagonal, -squared * beta[:, None], -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def tsne_gradient(joint: np.ndarray, coords: np.ndarray) -> tuple[float, np.ndarray]:
    """KL(P || Q) and its gradient [N, 2] for joint affinities P [N, N] at ``coords``.

    dC/dy_i = 4 sum_j (p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|^2)  (eq. 5).
    """
    diff = coords[:, None, :] - coords[None, :, :]
    kernel = 1.0 / (1.0 + np.sum(diff**2, axis=-1))
    np.fill_diagonal(kernel, 0.0)
    q = np.maximum(kernel / kernel.sum(), 1e-12)
    p = np.maximum(joint, 1e-12)
    off = ~np.eye(len(coords), dtype=bool)
    cost = float(np.sum((joint * np.log(p / q))[off]))
    grad = 4.0 * np.einsum("ij,ijk->ik", (joint - q) * kernel, diff)
    return cost, grad


def tsne(distance_matrix: np.ndarray, *, seed: int = 0, perplexity: float | None = None,
         iterations: int = 750) -> np.ndarray:
    """Exact t-SNE [N, 2] from [N, N] distances (gains, momentum, early exaggeration 12)."""
    n = distance_matrix.shape[0]
    perplexity = float(perplexity or min(15.0, max(2.0, (n - 1) / 3.0)))
    conditional = tsne_affinities(distance_matrix, perplexity)
    joint = (conditional + conditional.T) / (2.0 * n)
    rng = np.random.default_rng(seed)
    start = classical_mds(distance_matrix)
    spread = start.std() or 1.0
    coords = start / spread * 1e-2 + rng.normal(scale=1e-4, size=(n, 2))
    velocity = np.zeros_like(coords)
    gains = np.ones_like(coords)
    rate = max(n / 12.0 / 4.0, 50.0)
    for step in range(iterations):
        exaggeration, momentum = (12.0, 0.5) if step < 250 else (1.0, 0.8)
        _, grad = tsne_gradient(joint * exaggeration, coords)
        same_sign = np.sign(grad) == np.sign(velocity)
        gains = np.clip(np.where(same_sign, gains * 0.8, gains + 0.2), 0.01, None)
        velocity = momentum * velocity - rate * gains * grad
        coords = coords + velocity
        coords -= coords.mean(axis=0)
    return coords
