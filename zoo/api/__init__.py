"""The Python API: one :class:`Zoo` object over a registry.

    import zoo
    z = zoo.connect()                 # $ZOO_DATABASE_URL or the default SQLite file
    z.register_model("resnet34.a1_in1k", "timm:resnet34.a1_in1k")
    picks = z.recommend("path/to/images", k=5)

``Zoo`` is a thin facade over services, each a plain class constructed with
what it needs and usable alone (every one holds the same store):

    catalog     = Catalog(store)
    probes      = Probes(store)                                   # the default-probe rule
    indexes     = Indexes(store)
    embeddings  = Embeddings(store, probes, indexes)
    training    = Model2VecTraining(store, probes)
    recommender = Recommender(store, probes, embeddings, indexes)
    judge       = SelectionJudge(store, probes)
    bench       = Bench(store, probes, embeddings, training, indexes, judge)
    visuals     = Visuals(store, probes, recommender)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import arg
from registry.validation import check_whole
from zoo.api.bench import DEFAULT_SCORERS, Bench
from zoo.api.catalog import Catalog
from zoo.api.embedding import Embeddings
from zoo.api.indexes import Indexes
from zoo.api.judge import SelectionJudge
from zoo.api.leaveout import LeaveOutJudge
from zoo.api.probes import ProbeName, Probes
from zoo.api.recommend import EVIDENCE_TASKS, Evidence, Recommendation, Recommender
from zoo.api.training import Model2VecTraining
from zoo.api.verify import SCREEN_FRACTION
from zoo.api.visual import EmbeddingSet, ReportFiles, Visuals
from zoo.embedding import BENCH_METHODS, DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.records import Model, Task, TaskEmbedding
    from registry.store import Store
    from zoo.api.demo import DemoRun
    from zoo.embedding.task2vec import Embedding


class Zoo:
    """A connection to a zoo registry. Use :func:`zoo.connect` to make one.

    Every method delegates to one service (see the module docstring); the
    services are attributes, e.g. ``z.recommender`` or ``z.probes``.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.catalog = Catalog(store)
        self.probes = Probes(store)
        self.indexes = Indexes(store)
        self.embeddings = Embeddings(store, self.probes, self.indexes)
        self.training = Model2VecTraining(store, self.probes)
        self.recommender = Recommender(store, self.probes, self.embeddings, self.indexes)
        self.judge = SelectionJudge(store, self.probes)
        self.bench = Bench(store, self.probes, self.embeddings, self.training, self.indexes, self.judge)
        self.leave_out = LeaveOutJudge(self.training, self.judge)
        self.visuals = Visuals(store, self.probes, self.recommender)

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> Zoo:
        """The registry at ``url``; the default one (``url`` None) starts as the shipped zoo (zoo.api.seed)."""
        from registry.store import Store

        if url is None:
            from zoo.api.seed import seed_default_registry

            seed_default_registry()
        return cls(Store.open(url, create=create))

    @property
    def url(self) -> str:
        return self.store.url

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Zoo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ catalogue
    def register_model(
        self,
        name: str,
        source: str,
        *,
        arch: str | None = None,
        trained_on: str | None = None,
        tags: Mapping[str, str] | Iterable[tuple[str, str] | str] | str | None = None,
        description: str | None = None,
        num_params: int | None = None,
        checksum: str | None = None,
        check: bool = True,
    ) -> Model:
        """See :meth:`Catalog.register_model`."""
        return self.catalog.register_model(
            name,
            source,
            arch=arch,
            trained_on=trained_on,
            tags=tags,
            description=description,
            num_params=num_params,
            checksum=checksum,
            check=check,
        )

    def models(
        self,
        pattern: str | None = None,
        *,
        tags: Mapping[str, str] | Iterable[tuple[str, str] | str] | str | None = None,
    ) -> list[Model]:
        """See :meth:`Catalog.models`."""
        return self.catalog.models(pattern, tags=tags)

    def get_model(self, name: str) -> Model:
        """See :meth:`Catalog.get_model`."""
        return self.catalog.get_model(name)

    def remove_model(self, name: str, *, force: bool = False) -> dict[str, int]:
        """See :meth:`Catalog.remove_model`."""
        return self.catalog.remove_model(name, force=force)

    def alias(self, alias: str, name: str) -> Model:
        """See :meth:`Catalog.alias`."""
        return self.catalog.alias(alias, name)

    def set_model_source(self, name: str, uri: str, *, check: bool = True) -> Model:
        """See :meth:`Catalog.set_model_source`."""
        return self.catalog.set_model_source(name, uri, check=check)

    def relocate_sources(self, old_folder: str | Path, new_folder: str | Path, *, check: bool = True) -> list[Model]:
        """See :meth:`Catalog.relocate_sources`."""
        return self.catalog.relocate_sources(old_folder, new_folder, check=check)

    def rebuild_experts(
        self,
        *,
        size: str = "full",
        workdir: str | Path | None = None,
        seed: int = 0,
        accept_different: bool = False,
        progress: bool = True,
        log: Callable[[str], None] = print,
    ) -> dict:
        """See :func:`zoo.api.rebuild.rebuild_experts`."""
        from zoo.api.rebuild import rebuild_experts

        return rebuild_experts(
            self.store,
            size=size,
            workdir=workdir,
            seed=seed,
            accept_different=accept_different,
            progress=progress,
            log=log,
        )

    def tasks(self, pattern: str | None = None) -> list[Task]:
        """See :meth:`Catalog.tasks`."""
        return self.catalog.tasks(pattern)

    def get_task(self, name: str) -> Task:
        """See :meth:`Catalog.get_task`."""
        return self.catalog.get_task(name)

    def task_embeddings(self, name: str) -> list[TaskEmbedding]:
        """See :meth:`Catalog.task_embeddings`."""
        return self.catalog.task_embeddings(name)

    def remove_task(self, name: str, *, force: bool = False) -> dict[str, int]:
        """See :meth:`Catalog.remove_task`."""
        return self.catalog.remove_task(name, force=force)

    def export(self, path: str | Path, *, force: bool = False) -> dict[str, int]:
        """See :meth:`Catalog.export`."""
        return self.catalog.export(path, force=force)

    def import_(self, path: str | Path) -> dict[str, int]:
        """See :meth:`Catalog.import_`."""
        return self.catalog.import_(path)

    def db_current(self) -> dict[str, object]:
        """See :meth:`Catalog.db_current`."""
        return self.catalog.db_current()

    db_upgrade = staticmethod(Catalog.db_upgrade)

    # ------------------------------------------------------------------ probes and Task2Vec
    def resolve_probe(self, spec: Any = "bundled", *, arch: str | None = None, allow_random: bool = False) -> ProbeName:
        """See :meth:`Probes.resolve`."""
        return self.probes.resolve(spec, arch=arch, allow_random=allow_random)

    def embed(
        self,
        data: Any,
        *,
        probe: Any = "bundled",
        method: str = DEFAULT_METHOD,
        max_samples: int | None = None,
        seed: int = 0,
        progress: bool = True,
        arch: str | None = None,
        allow_random: bool = False,
    ) -> Embedding:
        """See :meth:`Embeddings.embed`."""
        return self.embeddings.embed(
            data,
            probe=probe,
            method=method,
            max_samples=max_samples,
            seed=seed,
            progress=progress,
            arch=arch,
            allow_random=allow_random,
        )

    def embed_task(
        self,
        data: Any = None,
        name: str | None = None,
        *,
        probe: Any = "bundled",
        method: str = DEFAULT_METHOD,
        max_samples: int | None = None,
        seed: int = 0,
        taxonomy: str | None = None,
        progress: bool = True,
        arch: str | None = None,
        allow_random: bool = False,
    ) -> TaskEmbedding:
        """See :meth:`Embeddings.embed_task`."""
        return self.embeddings.embed_task(
            data,
            name,
            probe=probe,
            method=method,
            max_samples=max_samples,
            seed=seed,
            taxonomy=taxonomy,
            progress=progress,
            arch=arch,
            allow_random=allow_random,
        )

    def task_embedding(self, name: str, *, probe: Any = None, method: str = DEFAULT_METHOD) -> TaskEmbedding:
        """See :meth:`Embeddings.task_embedding`."""
        return self.embeddings.task_embedding(name, probe=probe, method=method)

    def similar_tasks(
        self,
        name: str,
        k: int = 5,
        *,
        asymmetric: bool = False,
        probe: Any = None,
        method: str = DEFAULT_METHOD,
        alpha: float | None = None,
    ) -> list[dict[str, Any]]:
        """See :meth:`Embeddings.similar_tasks` (``k``: an int; anything else is InvalidInput)."""
        k = check_whole(arg("k", "K"), k)
        return self.embeddings.similar_tasks(name, k, asymmetric=asymmetric, probe=probe, method=method, alpha=alpha)

    def distance(
        self, a: str, b: str, *, probe: Any = None, method: str = DEFAULT_METHOD, alpha: float | None = None
    ) -> dict[str, Any]:
        """See :meth:`Embeddings.distance`."""
        return self.embeddings.distance(a, b, probe=probe, method=method, alpha=alpha)

    # ------------------------------------------------------------------ Model2Vec, indexes, recommending
    def train_model2vec(
        self,
        *,
        probe: str | None = None,
        method: str = DEFAULT_METHOD,
        objective: str | None = None,
        epochs: int | None = None,
        seed: int | None = None,
        val_fraction: float | None = None,
        lr: float | None = None,
        metric: str | None = None,
        val_tasks: Sequence[str] | None = None,
        exclude_tasks: Sequence[str] | None = None,
        results_recorded: int | None = None,
        own_task_pairs: bool = False,
        progress: bool = True,
        shrinkage: bool = True,
    ) -> dict[str, Any]:
        """See :meth:`Model2VecTraining.train` (None: :class:`zoo.model2vec.Model2VecConfig`'s default)."""
        return self.training.train(
            probe=probe,
            method=method,
            objective=objective,
            epochs=epochs,
            seed=seed,
            val_fraction=val_fraction,
            lr=lr,
            metric=metric,
            val_tasks=val_tasks,
            exclude_tasks=exclude_tasks,
            results_recorded=results_recorded,
            own_task_pairs=own_task_pairs,
            progress=progress,
            shrinkage=shrinkage,
        )

    def rebuild_index(
        self,
        *,
        probe: str | None = None,
        method: str = DEFAULT_METHOD,
        factory: str | None = None,
        progress: bool = True,
    ) -> list[dict[str, Any]]:
        """See :meth:`Indexes.rebuild` (probe: :meth:`Probes.choose`)."""
        return self.indexes.rebuild(self.probes.default(probe, method), method, factory=factory, progress=progress)

    def similar_tasks_indexed(
        self, task_or_vector: Any, k: int = 5, *, probe: str | None = None, method: str = DEFAULT_METHOD
    ) -> list[tuple[str, float]]:
        """See :meth:`Recommender.similar_tasks_indexed`."""
        return self.recommender.similar_tasks_indexed(task_or_vector, k, probe=probe, method=method)

    def recommend(
        self,
        data_or_name: Any,
        k: int = 5,
        *,
        probe: str | None = None,
        method: str = DEFAULT_METHOD,
        save: str | None = None,
        verify: int | str = 0,
        evidence: int = EVIDENCE_TASKS,
        progress: bool = True,
        pattern: str | None = None,
        tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        max_params: int | None = None,
        arch: str | None = None,
        ray_address: str | None = None,
        gpus_per_task: float = 0,
        screen: float = SCREEN_FRACTION,
    ) -> list[Recommendation]:
        """See :meth:`Recommender.recommend` (``pattern``, ``tags``, ``max_params``, ``arch``: constraints).

        ``ray_address`` (``auto``, ``local`` or ``HOST:PORT``; None: this process) runs the ``verify``
        LogME scorings as Ray tasks, each asking for ``gpus_per_task`` GPUs.
        """
        return self.recommender.recommend(
            data_or_name,
            k,
            probe=probe,
            method=method,
            save=save,
            verify=verify,
            evidence=evidence,
            progress=progress,
            pattern=pattern,
            tags=tags,
            max_params=max_params,
            arch=arch,
            ray_address=ray_address,
            gpus_per_task=gpus_per_task,
            screen=screen,
        )

    def measured_errors(self, task: str, *, protocol: str | None = None, metric: str = "error") -> dict[str, float]:
        """See :meth:`Recommender.measured_errors`."""
        return self.recommender.measured_errors(task, protocol=protocol, metric=metric)

    def plot_recommendations(self, recs: Sequence[Recommendation], out: str | Path, *, task: str | None = None) -> Path:
        """See :meth:`Recommender.plot_recommendations`."""
        return self.recommender.plot_recommendations(recs, out, task=task)

    def evaluate_selection(
        self,
        *,
        probe: str | None = None,
        method: str = DEFAULT_METHOD,
        tasks: Sequence[str] | None = None,
        scorers: Sequence[str] = (),
        max_samples: int | None = None,
        progress: bool = True,
    ) -> dict[str, Any]:
        """See :meth:`SelectionJudge.evaluate_selection`."""
        return self.judge.evaluate_selection(
            probe=probe, method=method, tasks=tasks, scorers=scorers, max_samples=max_samples, progress=progress
        )

    # ------------------------------------------------------------------ ground truth and the bench
    def evaluate(
        self, model: str, task: str, *, save: bool = True, progress: bool = False, device: str = "auto"
    ) -> dict:
        """See :meth:`Bench.evaluate`."""
        return self.bench.evaluate(model, task, save=save, progress=progress, device=device)

    def bench_build(
        self,
        size: str = "ci",
        workdir: str | Path | None = None,
        *,
        seed: int = 0,
        train_probe: bool = False,
        progress: bool = True,
        log: Callable[[str], None] = print,
        overlap: bool = True,
        ray_address: str | None = None,
        gpus_per_task: float = 0,
    ) -> dict:
        """See :meth:`Bench.build`."""
        return self.bench.build(
            size,
            workdir,
            seed=seed,
            train_probe=train_probe,
            progress=progress,
            log=log,
            overlap=overlap,
            ray_address=ray_address,
            gpus_per_task=gpus_per_task,
        )

    def bench_evaluate(
        self,
        *,
        out_dir: str | Path = ".",
        tasks: Sequence[str] | None = None,
        scorers: Sequence[str] = DEFAULT_SCORERS,
        max_samples: int | None = 200,
        plots: bool = True,
        progress: bool = True,
        leave_out: Sequence[str] = (),
        log: Callable[[str], None] = print,
        ray_address: str | None = None,
    ) -> dict:
        """See :meth:`Bench.selection_report`; with ``leave_out`` (collections, or ``["all"]``),
        :meth:`zoo.api.leaveout.LeaveOutJudge.report` instead. ``ray_address``: the scorers' forward
        passes as one Ray task per (model, task) (see :meth:`SelectionJudge.scorer_matrix`)."""
        judge = SelectionJudge(self.store, self.probes, ray_address=ray_address) if ray_address else self.judge
        if leave_out:
            return LeaveOutJudge(self.training, judge).report(
                leave_out, out_dir=out_dir, scorers=scorers, max_samples=max_samples, progress=progress, log=log
            )
        bench = self.bench if judge is self.judge else self._bench_with(judge)
        return bench.selection_report(
            out_dir=out_dir, tasks=tasks, scorers=scorers, max_samples=max_samples, plots=plots, progress=progress
        )

    def _bench_with(self, judge: SelectionJudge) -> Bench:
        """The bench service over this registry, judging with ``judge`` (e.g. one that runs scorers on Ray)."""
        return Bench(self.store, self.probes, self.embeddings, self.training, self.indexes, judge)

    def bench_report(
        self,
        *,
        out_dir: str | Path = ".",
        methods: tuple[str, ...] = BENCH_METHODS,
        plots: bool = True,
        progress: bool = False,
    ) -> dict:
        """See :meth:`Bench.report`."""
        return self.bench.report(out_dir=out_dir, methods=methods, plots=plots, progress=progress)

    bench_train_probe = staticmethod(Bench.train_probe)
    bench_export_demo = staticmethod(Bench.export_demo)

    @staticmethod
    def run_demo(workdir: str | Path = "zoo-demo", *, k: int = 5, progress: bool = True) -> DemoRun:
        """See :func:`zoo.api.demo.run_demo`: the shipped zoo in a registry of its own under ``workdir``."""
        from zoo.api.demo import run_demo

        return run_demo(workdir, k=k, progress=progress)

    # ------------------------------------------------------------------ pictures
    def current_embedding_set(self, probe: str | None = None, method: str | None = None) -> EmbeddingSet:
        """See :meth:`Visuals.current_embedding_set`."""
        return self.visuals.current_embedding_set(probe, method)

    def plot_distances(
        self,
        tasks_glob: str | None = None,
        out: str | Path = "distances.png",
        probe: str | None = None,
        method: str | None = None,
        order: str = "cluster",
    ) -> Path:
        """See :meth:`Visuals.plot_distances`."""
        return self.visuals.plot_distances(tasks_glob, out, probe, method, order)

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
        """See :meth:`Visuals.plot_map`."""
        return self.visuals.plot_map(out, query, probe=probe, method=method, models=models, layout=layout, seed=seed)

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
        """See :meth:`Visuals.report`."""
        return self.visuals.report(
            out_dir,
            selection=selection,
            probe=probe,
            method=method,
            neighbours=neighbours,
            recommendations=recommendations,
            seed=seed,
            progress=progress,
        )


__all__ = [
    "Bench",
    "Catalog",
    "EmbeddingSet",
    "Embeddings",
    "Evidence",
    "Indexes",
    "Model2VecTraining",
    "ProbeName",
    "Probes",
    "Recommendation",
    "Recommender",
    "ReportFiles",
    "SelectionJudge",
    "Visuals",
    "Zoo",
]
