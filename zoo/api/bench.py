"""The ground truth and the bench (see docs/ARCHITECTURE.md).

``evaluate`` measures one model on one task under the transfer protocol of
:mod:`zoo.transfer`; ``build`` runs :mod:`zoo.bench.build` against this
registry; ``report`` computes what the bench shows and draws the heatmaps;
``train_probe`` and ``export_demo`` make the shipped probe and demo task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, NotFound, arg
from zoo.embedding import BENCH_METHODS, DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.records import Task
    from registry.store import Store
    from zoo.api.embedding import Embeddings
    from zoo.api.indexes import Indexes
    from zoo.api.judge import SelectionJudge
    from zoo.api.probes import Probes
    from zoo.api.training import Model2VecTraining
    from zoo.bench.build import Registry
    from zoo.bench.sizes import BenchSize

#: the forward-pass scorers ``zoo bench evaluate`` runs unless told otherwise (keys of zoo.scorers.SCORERS)
DEFAULT_SCORERS = ("logme", "leep")


def default_workdir(size: str) -> Path:
    """Where a bench of ``size`` is built when no ``workdir`` is given (user cache dir).

    ``full`` is built in the bench data root (``$ZOO_BENCH_ROOT``, see registry.locations), so its
    experts and tasks are recorded as ``bench:`` URIs that resolve on any machine.
    """
    from platformdirs import user_cache_dir

    if size == "full":
        from registry.locations import bench_root

        return bench_root()

    return Path(user_cache_dir("zoo")) / "bench" / size


def _task_folder(task: Task) -> Path:
    from zoo.data import local_path

    folder = local_path(task.data_uri)
    if not folder.is_dir():
        raise InvalidInput(
            f"task {task.name!r} points at {task.data_uri}, which is not a folder here; "
            f"re-register it with a local folder holding train/ and test/"
        )
    return folder


class Bench:
    """Measure transfer, build the bench into the registry, judge and report it."""

    def __init__(
        self,
        store: Store,
        probes: Probes,
        embeddings: Embeddings,
        training: Model2VecTraining,
        indexes: Indexes,
        judge: SelectionJudge,
    ) -> None:
        self.store = store
        self.probes = probes
        self.embeddings = embeddings
        self.training = training
        self.indexes = indexes
        self.judge = judge

    # ------------------------------------------------------------------ evaluate
    def evaluate(
        self, model: str, task: str, *, save: bool = True, progress: bool = False, device: str = "auto"
    ) -> dict:
        """Transfer error of registered ``model`` on registered ``task`` (zoo.transfer protocol).

        The model's weights are loaded from its source; the task's folder must hold
        ``train/<class>/`` and ``test/<class>/``. Stored in transfer_results unless
        ``save`` is False. ``device`` (``auto``: CUDA when there is one, ``cpu``,
        ``cuda``) runs the feature pass; the linear probe runs on the CPU.
        Returns {model, task, metric, value, protocol, ...}.
        """
        from zoo.bench.arrays import load_split
        from zoo.networks import data_config, load_network, resolve_device
        from zoo.transfer import PROTOCOL, ProtocolParams, evaluate_arrays

        device = resolve_device(device)
        record = self.store.get_model(model)
        task_record = self.store.get_task(task)
        folder = _task_folder(task_record)
        train, test = load_split(folder, "train"), load_split(folder, "test")
        network = load_network(record.source, arch=record.arch)
        cfg = data_config(network)
        params = ProtocolParams()
        result = evaluate_arrays(
            network,
            train,
            test,
            key=task_record.name,
            mean=cfg["mean"],
            std=cfg["std"],
            size=int(cfg["input_size"][-1]),
            params=params,
            device=device,
        )
        out = {
            "model": record.name,
            "task": task_record.name,
            "metric": "error",
            "value": result["error"],
            "protocol": PROTOCOL,
            "protocol_params": params.as_dict(),
            "train_size": result["train_size"],
            "test_size": result["test_size"],
            "saved": save,
        }
        if save:
            self.store.add_transfer_result(
                record.name,
                task_record.name,
                metric="error",
                value=result["error"],
                protocol=PROTOCOL,
                protocol_params=params.as_dict(),
                train_size=result["train_size"],
                test_size=result["test_size"],
            )
        return out

    # ------------------------------------------------------------------ build
    def build(
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
        """Build (or resume) the bench of ``size`` in ``workdir`` into this registry.

        ``overlap`` measures transfer in a thread while the tasks are embedded (see zoo.bench.build).
        ``ray_address`` (see :func:`zoo.api.jobs.run_units`) measures the transfer stage instead as
        one Ray task per (expert, task) pair, after the other stages; the summary's ``ray`` says how it went.
        """
        from zoo.bench.build import build
        from zoo.bench.sizes import get_size

        spec = get_size(size)
        folder = Path(workdir) if workdir is not None else default_workdir(size)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InvalidInput(
                f"cannot create the bench workdir {folder} ({err.strerror}); "
                f"pass {arg('workdir', 'DIR')} somewhere writable"
            ) from err
        registry, deferred = self._bench_registry(spec), []
        if ray_address:  # the build only collects the pairs it would measure; Ray measures them below
            measured = registry.has_transfer

            def collect(model: str, task: str) -> bool:
                if not measured(model, task):
                    deferred.append((model, task))
                return True

            registry.has_transfer = collect
        summary = build(
            spec, folder, registry, seed=seed, train_probe=train_probe, progress=progress, log=log, overlap=overlap
        )
        if ray_address:
            summary["ray"] = self._transfer_on_ray(deferred, ray_address, gpus_per_task, progress=progress, log=log)
            summary["seconds"]["transfer"] = summary["ray"]["seconds"]
            summary["seconds"]["total"] += summary["ray"]["seconds"]
        summary["model2vec"] = self._bench_model2vec(folder, progress=progress, log=log)
        return summary

    def _transfer_on_ray(
        self,
        pairs: list[tuple[str, str]],
        ray_address: str,
        gpus_per_task: float,
        *,
        progress: bool,
        log: Callable[[str], None],
    ) -> dict:
        """Measure the (model, task) ``pairs`` on Ray (:mod:`zoo.api.jobs`); raise when a unit failed."""
        from zoo.api.jobs import EvaluateUnit, run_units
        from zoo.transfer import PROTOCOL

        log(f"transfer: {len(pairs)} pairs on Ray ({ray_address})")
        units = [EvaluateUnit(model, task, PROTOCOL, self.store.get_model(model).source) for model, task in pairs]
        summary = run_units(
            units, self.store.url, ray_address=ray_address, gpus_per_task=gpus_per_task, progress=progress
        )
        if summary["failed"]:
            first = summary["errors"][0]
            raise InvalidInput(
                f"{summary['failed']} of {len(units)} transfer units failed on Ray "
                f"(first: {first['unit']['model']} on {first['unit']['task']}: {first['error']}); "
                "run the same command again to retry them"
            )
        return summary

    def _bench_model2vec(self, folder: Path, *, progress: bool, log: Callable[[str], None]) -> dict:
        """The last stage: Model2Vec on the expert tasks' results, the held-out queries left out entirely.

        Skipped when the latest run already saw exactly the results recorded
        now (a rerun or a resumed build), so the registry ends the same.
        """
        import json

        heldout = json.loads((folder / "sets.json").read_text())["heldout"]
        probe = str(self.probes.resolve("bundled"))
        embedded = {e.task for e in self.store.list_task_embeddings(probe=probe, method=DEFAULT_METHOD)}
        excluded = sorted(t for t in heldout if t in embedded)
        results = len(self.store.list_transfer_results())
        try:
            run = self.store.latest_model2vec_run(probe, DEFAULT_METHOD)
            if run.hyperparams.get("results_recorded") == results and run.hyperparams.get("excluded_tasks") == excluded:
                return {"run_id": run.id, "reused": True, "excluded_tasks": len(excluded)}
        except NotFound:
            pass
        log(f"model2vec: training on the expert tasks, {len(excluded)} held-out tasks left out")
        summary = self.training.train(
            probe=probe, method=DEFAULT_METHOD, exclude_tasks=excluded, results_recorded=results, progress=progress
        )
        self.indexes.rebuild(probe, DEFAULT_METHOD, progress=False)
        return {"run_id": summary["run_id"], "reused": False, "excluded_tasks": len(excluded)}

    def _bench_registry(self, spec: BenchSize) -> Registry:
        """The registry operations :func:`zoo.bench.build.build` needs, over this store."""
        from zoo.bench.build import Registry
        from zoo.transfer import PROTOCOL, ProtocolParams

        store = self.store
        params = ProtocolParams().as_dict()

        def ensure_task(folder: Path) -> None:
            from zoo.collections.tasks import read_task
            from zoo.data import fingerprint, load_labelled

            record = read_task(folder)
            try:
                store.get_task(record["name"])
                return
            except NotFound:
                pass
            from registry.locations import bench_root, bench_uri

            store.add_task(
                record["name"],
                data_uri=bench_uri(folder, bench_root()) or str(Path(folder).resolve()),
                num_classes=len(record["classes"]),
                num_samples=int(record["counts"]["train"]),
                fingerprint=fingerprint(load_labelled(folder)),
                taxonomy=f"{record['collection']}/{record['taxonomy']}",
            )

        def ensure_embedding(task: str, folder: Path, probe: str, method: str) -> bool:
            if store.list_task_embeddings(task=task, method=method):
                return False
            self.embeddings.embed_task(
                str(folder),
                name=task,
                probe=probe,
                method=method,
                max_samples=spec.embed_max_samples,
                seed=0,
                progress=False,
            )
            return True

        def ensure_model(expert: Any, path: Path) -> None:
            try:
                store.get_model(expert.name)
            except NotFound:
                _register_expert(store, expert, path)

        def has_transfer(model: str, task: str) -> bool:
            return any(
                r.protocol_params == params and r.metric == "error"
                for r in store.list_transfer_results(model=model, task=task, protocol=PROTOCOL)
            )

        def add_transfer(model: str, task: str, result: dict) -> None:
            store.add_transfer_result(
                model,
                task,
                metric="error",
                value=result["error"],
                protocol=PROTOCOL,
                protocol_params=params,
                train_size=result["train_size"],
                test_size=result["test_size"],
            )

        return Registry(
            ensure_task=ensure_task,
            ensure_embedding=ensure_embedding,
            ensure_model=ensure_model,
            has_transfer=has_transfer,
            add_transfer=add_transfer,
        )

    # ------------------------------------------------------------------ report
    def selection_report(
        self,
        *,
        out_dir: str | Path = ".",
        tasks: Sequence[str] | None = None,
        scorers: Sequence[str] = DEFAULT_SCORERS,
        max_samples: int | None = 200,
        plots: bool = True,
        progress: bool = True,
    ) -> dict:
        """Judge every selection method on the held-out tasks (METHOD section 7); write the report.

        Calls :meth:`zoo.api.judge.SelectionJudge.evaluate_selection` (default tasks: those the latest
        Model2Vec run left out), adds each task's spread of expert errors, and
        writes ``selection.json``, ``selection.md`` and ``selection.png`` to
        ``out_dir``. Returns the report dict with ``files``.
        """
        import json

        import numpy as np

        report = self.judge.evaluate_selection(tasks=tasks, scorers=scorers, max_samples=max_samples, progress=progress)
        spread = []
        for task in report["tasks"]:
            errors = np.array(
                [
                    r.value
                    for r in self.store.list_transfer_results(task=task)
                    if r.metric == report["metric"] and (report["protocol"] is None or r.protocol == report["protocol"])
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
        report["per_task"] = spread
        lines = [
            "",
            "",
            f"Spread of expert errors per held-out task ({report['protocol']}):",
            "",
            "| task | experts | best (%) | median (%) | worst (%) | spread (points) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['task']} | {r['experts']} | {100 * r['best']:.1f} | {100 * r['median']:.1f} | "
            f"{100 * r['worst']:.1f} | {r['spread_points']:.1f} |"
            for r in spread
        ]
        report["markdown"] += "\n".join(lines) + "\n"
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"json": folder / "selection.json", "markdown": folder / "selection.md"}
        files["json"].write_text(json.dumps(report, indent=2, default=float))
        files["markdown"].write_text(report["markdown"])
        if plots:
            from zoo.plots import selection_chart

            files["chart"] = selection_chart(report["rows"], folder / "selection.png")
        report["files"] = {k: str(v) for k, v in files.items()}
        return report

    def report(
        self, *, out_dir: str | Path = ".", methods: tuple[str, ...] = BENCH_METHODS, plots: bool = True
    ) -> dict:
        """Taxonomy agreement, difficulty and expert-error spread over this registry; heatmap PNGs.

        Each method's probe is the default of :meth:`zoo.api.probes.Probes.choose`
        over the bench tasks. Returns {"agreement": {method: {collection: {...}}},
        "difficulty": {method: {...}}, "errors": {...summary}, "per_task": {task: {...}}, "plots": [paths]}.
        """
        from zoo.bench.report import error_summary, expert_error_table
        from zoo.transfer import PROTOCOL, ProtocolParams

        params = ProtocolParams().as_dict()
        tasks = {t.name: t for t in self.store.list_tasks() if t.taxonomy and not t.taxonomy.startswith("union/")}
        results = [
            (r.model, r.task, r.value)
            for r in self.store.list_transfer_results(protocol=PROTOCOL)
            if r.metric == "error" and r.protocol_params == params
        ]
        table = expert_error_table(results)
        out: dict[str, Any] = {
            "agreement": {},
            "difficulty": {},
            "errors": error_summary(table),
            "per_task": table,
            "plots": [],
        }
        best = {task: row["best"] for task, row in table.items()}
        for method in methods:
            try:
                probe = self.probes.choose(None, method, tasks=tasks)[0]
            except NotFound:
                continue
            rows = sorted(
                (e for e in self.store.list_task_embeddings(probe=probe, method=method) if e.task in tasks),
                key=lambda e: tasks[e.task].taxonomy,
            )
            if len(rows) < 2:
                continue
            figures = _method_report(
                rows, [tasks[e.task].taxonomy for e in rows], best, probe, method, Path(out_dir) if plots else None
            )
            out["agreement"][method], out["difficulty"][method] = figures["agreement"], figures["difficulty"]
            out["plots"] += figures["plots"]
        if not out["agreement"] and not table:
            raise NotFound(
                "the registry has no bench tasks with embeddings or transfer results; "
                "run `zoo bench build --size ci` first"
            )
        return out

    # ------------------------------------------------------------------ shipped assets
    @staticmethod
    def train_probe(
        workdir: str | Path, *, steps: int = 1200, out: str | Path | None = None, seed: int = 0, progress: bool = True
    ) -> dict:
        """Train the bundled probe on every probe-pool task at once, rendered under ``workdir/tasks``.

        Writes probe.safetensors/probe.json to ``out`` (default: the shipped
        probe's folder); returns the probe record (``made`` says how).
        """
        from zoo.bench.probe import BUNDLED_DIR, train_probe
        from zoo.collections import catalogue, render_tasks

        specs = catalogue(seed)["probe"]
        folders = render_tasks(
            f"{workdir}/tasks", specs, train_per_class=40, test_per_class=20, seed=seed, progress=progress
        )
        command = f"zoo bench train-probe --workdir {workdir} --steps {steps}" + (f" --seed {seed}" if seed else "")
        return train_probe(folders, out or BUNDLED_DIR, steps=steps, seed=seed, progress=progress, command=command)

    @staticmethod
    def export_demo(out: str | Path, *, task: str | None = None, seed: int = 0) -> tuple[Path, dict]:
        """Write one small held-out task (10 train + 10 test images per class) under ``out`` for `zoo demo`.

        ``task`` defaults to the first held-out script. Returns (the task folder, its ``task.json`` record).
        """
        from zoo.collections import catalogue, read_task, renderer_for
        from zoo.collections.tasks import write_task

        heldout = catalogue(seed)["heldout"]
        if task is None:
            spec = next(s for s in heldout if s.collection == "scripts")
        else:
            matches = [s for s in heldout if s.name == task]
            if not matches:
                raise InvalidInput(
                    f"{arg('task', repr(task))} is not a held-out task; pick one of "
                    f"{', '.join(s.name for s in heldout[:5])}, ..."
                )
            spec = matches[0]
        folder = write_task(
            Path(out),
            spec,
            renderer_for(spec.collection),
            train_per_class=10,
            test_per_class=10,
            seed=seed,
            set_name="heldout",
        )
        return folder, read_task(folder)


def _register_expert(store: Store, expert: Any, path: Path) -> None:
    """Register a bench expert (a :class:`zoo.bench.experts` plan entry) from its weights file and sidecar."""
    import json

    from zoo.networks import weights_checksum

    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    origin = "fine-tuned from the probe" if expert.init == "probe" else "from scratch"
    from registry.locations import bench_root, bench_uri

    source = bench_uri(path, bench_root()) or f"file:{Path(path).resolve()}"  # bench: inside the bench data root
    store.add_model(
        expert.name,
        source,
        arch=expert.arch,
        num_params=sidecar.get("num_params"),
        checksum=weights_checksum(path),
        trained_on=expert.trained_on,
        description=f"bench expert ({expert.tags.get('kind')}): {expert.arch} {origin}"
        f" on {len(expert.tasks)} task(s), {expert.steps} steps",
        tags={
            **{k: str(v) for k, v in expert.tags.items()},
            "arch": expert.arch,
            "classes": str(sidecar["num_classes"]),
        },
    )


def _method_report(
    rows: list, paths: list[str], best: dict[str, float], probe: str, method: str, plot_dir: Path | None
) -> dict[str, Any]:
    """Taxonomy agreement per collection, difficulty, and the heatmap of one method's embeddings."""
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
