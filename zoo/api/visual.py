"""Pictures: the distance heatmap, the task map and the HTML report.

These read the registry, compute d_sym with
:mod:`zoo.embedding.distance`, and hand plain arrays to :mod:`zoo.plots` and
plain dataclasses to :mod:`zoo.report`.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, NotFound, ZooError, arg, check_writable

if TYPE_CHECKING:
    from registry.store import Store
    from zoo.api.probes import Probes
    from zoo.api.recommend import Recommender


def writable_figure(out: str | Path) -> Path:
    """``out`` as a figure path (:func:`zoo.plots.canvas.figure_path`), checked writable now, before the work
    that draws it (one-line error otherwise)."""
    from zoo.plots.canvas import figure_path

    path = figure_path(out)
    check_writable(path)
    return path


@dataclass(frozen=True)
class EmbeddingSet:
    """The current task embeddings of one probe and method, in task-name order."""

    probe: str
    method: str
    embeddings: tuple  # tuple[registry.records.TaskEmbedding, ...]

    @property
    def names(self) -> list[str]:
        return [e.task for e in self.embeddings]


@dataclass(frozen=True)
class ReportFiles:
    """What ``Zoo.report`` wrote."""

    index: Path
    task_pages: tuple[Path, ...]
    figures: tuple[Path, ...]


def taxonomy_group(taxonomy: str | None, depth: int) -> str | None:
    """The first ``depth`` components of a taxonomy path ('scripts/brahmic/north' -> 'scripts/brahmic')."""
    if not taxonomy:
        return None
    parts = [p for p in taxonomy.split("/") if p]
    return "/".join(parts[:depth]) or None


class Visuals:
    """Figures and the static HTML report of one registry."""

    def __init__(self, store: Store, probes: Probes, recommender: Recommender) -> None:
        self.store = store
        self.probes = probes
        self.recommender = recommender

    # ------------------------------------------------------------ data
    def current_embedding_set(self, probe: str | None = None, method: str | None = None) -> EmbeddingSet:
        """Current task embeddings for ``probe``/``method``; what is left out follows
        :meth:`zoo.api.probes.Probes.choose` (with both left out: the pair with the most tasks)."""
        probe, method = self.probes.choose(probe, method)
        found = sorted(self.store.list_task_embeddings(probe=probe, method=method), key=lambda e: e.task)
        if not found:
            raise NotFound(
                f"no task embeddings for probe {probe!r} and method {method!r}; "
                "embed tasks first with `zoo embed-task NAME --data DIR`"
            )
        return EmbeddingSet(probe, method, tuple(found))

    def _visual_dsym(self, rows: Sequence[Any], columns: Sequence[Any] | None = None):
        import numpy as np

        from zoo.embedding.distance import d_sym_matrix

        a = np.stack([np.asarray(v, dtype=np.float64) for v in rows])
        b = a if columns is None else np.stack([np.asarray(v, dtype=np.float64) for v in columns])
        return d_sym_matrix(a, b)

    # ------------------------------------------------------------ figures
    def plot_distances(
        self,
        tasks_glob: str | None = None,
        out: str | Path = "distances.png",
        probe: str | None = None,
        method: str | None = None,
        order: str = "cluster",
    ) -> Path:
        """Heatmap of d_sym between the embedded tasks (matching ``tasks_glob``); returns the file.

        Tasks with a taxonomy are grouped by its first two components
        (e.g. ``scripts/brahmic``) and clustered within each group.
        """
        from zoo import plots

        writable_figure(out)  # before the distances are computed
        chosen = self.current_embedding_set(probe, method)
        embeddings = [e for e in chosen.embeddings if tasks_glob is None or fnmatch.fnmatchcase(e.task, tasks_glob)]
        if len(embeddings) < 2:
            raise InvalidInput(
                f"{len(embeddings)} embedded task(s) match {tasks_glob or '*'} for probe {chosen.probe}, "
                f"method {chosen.method}; a heatmap needs at least two (see `zoo tasks list`)"
            )
        taxonomy = {t.name: t.taxonomy for t in self.store.list_tasks()}
        names = [e.task for e in embeddings]
        groups = [taxonomy_group(taxonomy.get(n), 2) for n in names]
        matrix = self._visual_dsym([e.vector for e in embeddings])
        return plots.distance_heatmap(
            matrix,
            names,
            out,
            groups=groups if any(groups) else None,
            order=order,
            title=f"Task distances d_sym, {len(names)} tasks (probe {chosen.probe}, {chosen.method})",
        )

    def plot_map(
        self,
        out: str | Path = "map.png",
        query: str | None = None,
        *,
        probe: str | None = None,
        method: str | None = None,
        models: bool = True,
        layout: str = "tsne",
        seed: int = 0,
    ) -> Path:
        """2-D map (t-SNE on d_sym) of the embedded tasks, coloured by the first taxonomy component.

        Expert models are placed jointly with the tasks from their latest
        Model2Vec embeddings for the same probe/method, when a run exists;
        ``query`` (a task name) is highlighted.
        """
        from zoo import plots

        writable_figure(out)  # before the layout is computed
        chosen = self.current_embedding_set(probe, method)
        names = chosen.names
        if len(names) < 2:
            raise InvalidInput(
                f"only {len(names)} task embedded with probe {chosen.probe}, method "
                f"{chosen.method}; a map needs at least two"
            )
        if query is not None and query not in names:
            raise NotFound(
                f"task {query!r} has no {chosen.probe}/{chosen.method} embedding; embed it with "
                f"`zoo embed-task {query} --data DIR --method {chosen.method}`"
            )
        model_names, model_vectors = self._visual_model_vectors(chosen) if models else ([], [])
        vectors = [e.vector for e in chosen.embeddings] + model_vectors
        coords = plots.embed_2d(self._visual_dsym(vectors), method=layout, seed=seed)
        taxonomy = {t.name: t.taxonomy for t in self.store.list_tasks()}
        n = len(names)
        return plots.task_map(
            coords[:n],
            names,
            [taxonomy_group(taxonomy.get(t), 1) for t in names],
            out,
            models=(coords[n:], model_names) if model_names else None,
            query=(coords[names.index(query)], query) if query is not None else None,
            axis_name="t-SNE" if layout == "tsne" else "MDS",
            title=f"Tasks{' and expert models' if model_names else ''} by d_sym "
            f"(probe {chosen.probe}, {chosen.method})",
        )

    def _visual_model_vectors(self, chosen: EmbeddingSet) -> tuple[list[str], list[Any]]:
        try:
            run = self.store.latest_model2vec_run(chosen.probe, chosen.method)
        except NotFound:
            return [], []
        found = sorted(self.store.list_model_embeddings(run.id), key=lambda m: m.model)
        return [m.model for m in found], [m.vector for m in found]

    # ------------------------------------------------------------ report
    def report(
        self,
        out_dir: str | Path,
        *,
        selection: str | Path | None = None,
        probe: str | None = None,
        method: str | None = None,
        neighbours: int = 5,
        recommendations: int = 3,
        seed: int = 0,
        progress: bool = False,
    ) -> ReportFiles:
        """Write the static HTML report (index, task pages, map and heatmap) under ``out_dir``.

        Each task page lists its ``neighbours`` nearest tasks by d_sym, the top
        ``recommendations`` models of the latest Model2Vec run (when there is one;
        0 leaves them out) and every measured transfer result, best first.
        """
        from zoo import report as site

        root = Path(out_dir)
        if root.exists() and not root.is_dir():
            raise InvalidInput(f"{root} is a file; give {arg('out_dir', 'DIR')} a directory (it is created if missing)")
        check_writable(root, folder=True)  # before the figures and pages are computed
        selection_data = _read_selection(selection)
        try:
            chosen: EmbeddingSet | None = self.current_embedding_set(probe, method)
        except NotFound:
            if probe or method:
                raise
            chosen = None
        task_rows, model_rows = self._report_rows(chosen)
        pages, notes = self._report_pages(task_rows, chosen, neighbours, recommendations, progress)
        figures, figure_notes = self._visual_figures(root, chosen, seed)
        notes = notes + figure_notes
        content = site.ReportContent(
            title="zoo report",
            database=self.store.display_url,
            probe=chosen.probe if chosen else None,
            method=chosen.method if chosen else None,
            generated_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            models=model_rows,
            tasks=task_rows,
            pages=pages,
            figures=tuple(figures),
            selection=selection_data,
            selection_source=str(selection) if selection else None,
            notes=tuple(notes),
        )
        written = site.write_site(root, content)
        return ReportFiles(written[0], tuple(written[1:]), tuple(root / f.path for f in figures))

    def _report_rows(self, chosen: EmbeddingSet | None) -> tuple[tuple, tuple]:
        """Every task (with its embedding's norm in ``chosen``, when it has one) and every model, by name.

        Returns (``zoo.report.TaskRow``s, ``zoo.report.ModelRow``s).
        """
        import numpy as np

        from zoo import report as site

        tasks = sorted(self.store.list_tasks(), key=lambda t: t.name)
        vectors = {e.task: e.vector for e in chosen.embeddings} if chosen else {}
        task_rows = tuple(
            site.TaskRow(
                t.name,
                t.taxonomy,
                t.num_classes,
                t.num_samples,
                t.data_uri,
                float(np.linalg.norm(vectors[t.name])) if t.name in vectors else None,
            )
            for t in tasks
        )
        model_rows = tuple(
            site.ModelRow(
                m.name, m.source, m.arch, m.trained_on, m.num_params, dict(m.tags), tuple(m.aliases), m.description
            )
            for m in sorted(self.store.list_models(), key=lambda m: m.name)
        )
        return task_rows, model_rows

    def _report_pages(
        self, task_rows: tuple, chosen: EmbeddingSet | None, neighbours: int, recommendations: int, progress: bool
    ) -> tuple[tuple, list[str]]:
        """One ``zoo.report.TaskPage`` per task row (its nearest tasks, results best first, top models); notes."""
        from zoo import report as site

        nearest = self._visual_nearest(chosen, neighbours) if chosen else {}
        results: dict[str, list] = {}
        for r in self.store.list_transfer_results():
            results.setdefault(r.task, []).append(
                site.Measurement(r.model, r.metric, r.value, r.protocol, r.train_size, r.test_size)
            )
        recommended, notes = self._visual_recommended(chosen, recommendations, progress)
        pages = tuple(
            site.TaskPage(
                row,
                tuple(nearest.get(row.name, ())),
                site.sort_results(results.get(row.name, [])),
                recommended.get(row.name, ()),
            )
            for row in task_rows
        )
        return pages, notes

    def _visual_nearest(self, chosen: EmbeddingSet, k: int) -> dict[str, list]:
        import numpy as np

        from zoo.report import Neighbour

        names = chosen.names
        if len(names) < 2:
            return {}
        matrix = self._visual_dsym([e.vector for e in chosen.embeddings])
        table = {}
        for i, name in enumerate(names):
            order = [j for j in np.argsort(matrix[i], kind="stable") if j != i][:k]
            table[name] = [Neighbour(names[j], float(matrix[i, j])) for j in order]
        return table

    def _visual_recommended(
        self, chosen: EmbeddingSet | None, k: int, progress: bool = False
    ) -> tuple[dict[str, tuple], list[str]]:
        """Top ``k`` recommendations per embedded task from the latest Model2Vec run, and notes (``progress``: a
        bar over the tasks, the slow part of a report)."""
        from tqdm.auto import tqdm

        if chosen is None or k < 1:
            return {}, []
        try:
            self.store.latest_model2vec_run(chosen.probe, chosen.method)
        except NotFound:
            return {}, [
                f"No Model2Vec run for probe {chosen.probe}, method {chosen.method}: task pages show no "
                "recommended models (run `zoo train-model2vec`)."
            ]
        found: dict[str, tuple] = {}
        for name in tqdm(chosen.names, desc="report pages", unit="task", disable=not progress):
            try:
                picks = self.recommender.recommend(
                    name, k, probe=chosen.probe, method=chosen.method, evidence=0, progress=False
                )
            except ZooError as err:
                return found, [f"Recommended models left out: {err}"]
            found[name] = tuple(
                {"model": r.model, "expected_error": r.expected_error, "distance": r.distance} for r in picks
            )
        return found, []

    def _visual_figures(self, root: Path, chosen: EmbeddingSet | None, seed: int) -> tuple[list, list[str]]:
        from zoo.report import Figure

        if chosen is None or len(chosen.embeddings) < 2:
            return [], ["Figures need at least two tasks embedded with the same probe and method."]
        where = f"probe {chosen.probe}, method {chosen.method}"
        self.plot_map(root / "figures" / "map.png", probe=chosen.probe, method=chosen.method, seed=seed)
        self.plot_distances(None, root / "figures" / "distances.png", probe=chosen.probe, method=chosen.method)
        return [
            Figure(
                "figures/map.png",
                f"Map of the tasks (t-SNE on d_sym, {where}); stars are expert "
                "models placed by their Model2Vec embeddings.",
            ),
            Figure(
                "figures/distances.png",
                f"d_sym between every pair of tasks ({where}), grouped by taxonomy and clustered within groups.",
            ),
        ], []


def _read_selection(selection: str | Path | None) -> Any:
    if selection is None:
        return None
    path = Path(selection)
    if not path.is_file():
        raise NotFound(
            f"no selection report at {path}: `zoo bench evaluate --out-dir DIR` writes DIR/selection.json; "
            f"pass that file, or leave out {arg('selection')}"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInput(
            f"{path} is not a JSON file ({err}); pass the JSON written by `zoo bench evaluate`"
        ) from None
