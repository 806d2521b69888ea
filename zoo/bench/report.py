"""What the bench shows: taxonomy agreement, difficulty, the spread of expert errors.

Pure numpy/scipy over arrays the api layer hands in (distance matrices come
from zoo.embedding.distance there), so each statistic is testable on its own.
Taxonomy paths are ``collection/family/.../leaf`` strings.
"""

from __future__ import annotations

import numpy as np


def tree_distance(a: str, b: str) -> int:
    """Edges between two leaves of the taxonomy tree: len(a) + len(b) - 2 * shared prefix."""
    pa, pb = a.split("/"), b.split("/")
    shared = 0
    for x, y in zip(pa, pb):
        if x != y:
            break
        shared += 1
    return len(pa) + len(pb) - 2 * shared


def tree_distance_matrix(paths: list[str]) -> np.ndarray:
    """[N, N] taxonomic distances between ``paths``."""
    n = len(paths)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = tree_distance(paths[i], paths[j])
    return out


def family_of(path: str) -> str:
    """``collection/family`` of a taxonomy path (the level within/between is judged at)."""
    return "/".join(path.split("/")[:2])


def taxonomy_agreement(distances: np.ndarray, paths: list[str]) -> dict:
    """Spearman between task distances and tree distances, and within/between-family means.

    ``distances`` [N, N] symmetric. Pairs are the upper triangle. ``ratio`` is
    mean within-family distance / mean between-family distance (below 1: the
    embedding groups families together).
    """
    from scipy.stats import spearmanr

    n = len(paths)
    iu = np.triu_indices(n, k=1)
    d = np.asarray(distances)[iu]
    t = tree_distance_matrix(paths)[iu]
    families = [family_of(p) for p in paths]
    same = np.array([families[i] == families[j] for i, j in zip(*iu)], dtype=bool)
    out = {
        "tasks": n,
        "pairs": int(len(d)),
        "spearman": None,
        "p_value": None,
        "within": float(d[same].mean()) if same.any() else None,
        "between": float(d[~same].mean()) if (~same).any() else None,
        "ratio": None,
    }
    if len(d) >= 3 and np.ptp(t) > 0 and np.ptp(d) > 0:
        rho, p = spearmanr(d, t)
        out["spearman"], out["p_value"] = float(rho), float(p)
    if out["within"] is not None and out["between"]:
        out["ratio"] = out["within"] / out["between"]
    return out


def expert_error_table(results: list[tuple[str, str, float]]) -> dict[str, dict]:
    """Per task, from (model, task, error) rows: best, best model, worst, spread, std, count."""
    by_task: dict[str, list[tuple[float, str]]] = {}
    for model, task, error in results:
        by_task.setdefault(task, []).append((float(error), model))
    out = {}
    for task, rows in sorted(by_task.items()):
        errors = np.array([e for e, _ in rows])
        best = min(rows)
        out[task] = {
            "best": best[0],
            "best_model": best[1],
            "worst": float(errors.max()),
            "median": float(np.median(errors)),
            "spread": float(errors.max() - errors.min()),
            "std": float(errors.std()),
            "experts": len(rows),
        }
    return out


def difficulty(norms: dict[str, float], best_errors: dict[str, float]) -> dict:
    """Correlation (Spearman and Pearson) of embedding norm with best-expert error."""
    from scipy.stats import pearsonr, spearmanr

    tasks = sorted(set(norms) & set(best_errors))
    out = {"tasks": len(tasks), "spearman": None, "pearson": None}
    if len(tasks) >= 3:
        x = np.array([norms[t] for t in tasks])
        y = np.array([best_errors[t] for t in tasks])
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            out["spearman"] = float(spearmanr(x, y)[0])
            out["pearson"] = float(pearsonr(x, y)[0])
    return out


def error_summary(table: dict[str, dict]) -> dict:
    """How discriminating the ground truth is: best-error quantiles, share in [5%, 50%], spreads."""
    if not table:
        return {"tasks": 0}
    best = np.array([row["best"] for row in table.values()])
    spread = np.array([row["spread"] for row in table.values()])
    return {
        "tasks": len(table),
        "best_error_median": float(np.median(best)),
        "best_error_p10": float(np.quantile(best, 0.1)),
        "best_error_p90": float(np.quantile(best, 0.9)),
        "share_best_in_5_50": float(np.mean((best >= 0.05) & (best <= 0.5))),
        "spread_median_pp": float(100 * np.median(spread)),
        "spread_mean_pp": float(100 * spread.mean()),
    }
