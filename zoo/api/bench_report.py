"""What ``zoo bench report`` and ``zoo bench evaluate`` add to the figures they compute.

:func:`method_report` is one embedding method's share of the bench report (taxonomy
agreement, difficulty, its heatmap); :func:`error_spread`, :func:`spread_markdown` and
:func:`write_selection` finish the selection report (the spread of expert errors on each
held-out task, and the files written).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.store import Store


def error_spread(store: Store, tasks: list[str], metric: str, protocol: str | None) -> list[dict[str, Any]]:
    """Per task with results: how many experts, the best, median and worst error, and best-to-worst in points.

    Only results of ``metric`` (and of ``protocol`` when it is not None) count.
    """
    import numpy as np

    spread = []
    for task in tasks:
        errors = np.array(
            [
                r.value
                for r in store.list_transfer_results(task=task)
                if r.metric == metric and (protocol is None or r.protocol == protocol)
            ]
        )
        if errors.size:
            spread.append(
                {
                    "task": task,
                    "experts": int(errors.size),
                    "best": float(errors.min()),
                    "median": float(np.median(errors)),
                    "worst": float(errors.max()),
                    "spread_points": float(100 * (errors.max() - errors.min())),
                }
            )
    return spread


def spread_markdown(spread: list[dict[str, Any]], protocol: str | None) -> str:
    """The :func:`error_spread` rows as a Markdown section (errors in percent), to append to the report."""
    lines = [
        "",
        "",
        f"Spread of expert errors per held-out task ({protocol}):",
        "",
        "| task | experts | best (%) | median (%) | worst (%) | spread (points) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['task']} | {r['experts']} | {100 * r['best']:.1f} | {100 * r['median']:.1f} | "
        f"{100 * r['worst']:.1f} | {r['spread_points']:.1f} |"
        for r in spread
    ]
    return "\n".join(lines) + "\n"


def write_selection(report: dict[str, Any], out_dir: str | Path, *, plots: bool) -> dict[str, str]:
    """Write ``selection.json``, ``selection.md`` and (with ``plots``) ``selection.png`` under ``out_dir``.

    Returns {"json", "markdown"[, "chart"]: path}.
    """
    import json

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"json": folder / "selection.json", "markdown": folder / "selection.md"}
    files["json"].write_text(json.dumps(report, indent=2, default=float))
    files["markdown"].write_text(report["markdown"])
    if plots:
        from zoo.plots import selection_chart

        files["chart"] = selection_chart(report["rows"], folder / "selection.png")
    return {k: str(v) for k, v in files.items()}


def method_report(
    rows: list, paths: list[str], best: dict[str, float], probe: str, method: str, plot_dir: Path | None
) -> dict[str, Any]:
    """Taxonomy agreement per collection, difficulty, and the heatmap of one method's embeddings.

    ``rows`` are the method's task embeddings ordered by taxonomy, ``paths`` their taxonomy paths,
    ``best`` each task's best-expert error. Returns {"agreement", "difficulty", "plots"}.
    """
    import numpy as np

    from zoo.bench.report import difficulty, family_of, taxonomy_agreement
    from zoo.embedding.distance import d_sym_matrix

    names = [e.task for e in rows]
    vectors = np.stack([np.asarray(e.vector, dtype=np.float64) for e in rows])
    matrix = np.asarray(d_sym_matrix(vectors, vectors), dtype=np.float64)
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 0.0)
    agreement = {}
    for collection in sorted({p.split("/")[0] for p in paths}) + ["all"]:
        idx = [i for i, p in enumerate(paths) if collection == "all" or p.split("/")[0] == collection]
        if len(idx) >= 3:
            agreement[collection] = taxonomy_agreement(matrix[np.ix_(idx, idx)], [paths[i] for i in idx])
    norms = {e.task: float(np.linalg.norm(e.vector)) for e in rows}
    plots = []
    if plot_dir is not None:
        from zoo.plots import distance_heatmap

        plots.append(
            str(
                distance_heatmap(
                    matrix,
                    names,
                    plot_dir / f"bench-heatmap-{method}.png",
                    groups=[family_of(p) for p in paths],
                    title=f"Task2Vec d_sym ({method}, probe {probe}), ordered by taxonomy",
                )
            )
        )
    return {"agreement": agreement, "difficulty": difficulty(norms, best), "plots": plots}
