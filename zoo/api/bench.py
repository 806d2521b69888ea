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
    from zoo.api.bench_build import Deferred
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
        network = load_network(record.source, arch=record.arch, model_name=record.name)
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
            progress=progress,
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
        ``ray_address`` (see :func:`zoo.api.jobs.run_units`) runs the experts, embedding and transfer
        stages instead as Ray units (:mod:`zoo.api.jobs_bench`: one per expert, per embedding, per
        (expert, task) pair), stage after stage; ``workdir`` must then be at the same absolute path on
        every node (a shared filesystem). The summary's ``ray`` says how each stage went.
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
        deferred = None
        if ray_address:
            from zoo.api.bench_build import Deferred
            from zoo.api.jobs_ray import import_ray

            import_ray()  # without Ray: one line now, not after the render
            folder, deferred = folder.resolve(), Deferred()  # units carry absolute paths
        summary = build(
            spec,
            folder,
            self._bench_registry(spec, deferred),
            seed=seed,
            train_probe=train_probe,
            progress=progress,
            log=log,
            overlap=overlap,
        )
        if deferred is not None:
            from zoo.api.jobs_bench import run_deferred

            summary["ray"] = run_deferred(
                self.store,
                self.probes,
                deferred,
                spec,
                ray_address,
                gpus_per_task=gpus_per_task,
                progress=progress,
                log=log,
            )
            for stage, ran in summary["ray"]["stages"].items():
                summary["seconds"][stage] = ran["seconds"]
            summary["seconds"]["total"] += summary["ray"]["seconds"]
        summary["model2vec"] = self._bench_model2vec(folder, progress=progress, log=log)
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

    def _bench_registry(self, spec: BenchSize, deferred: Deferred | None = None) -> Registry:
        """The registry operations :func:`zoo.bench.build.build` needs, over this store (:mod:`zoo.api.bench_build`).

        With ``deferred`` the experts, embeddings and transfer pairs are collected there, not computed.
        """
        from zoo.api.bench_build import BenchRegistry

        return BenchRegistry(self.store, self.embeddings, spec, deferred=deferred).registry()

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
        from zoo.api.bench_report import error_spread, spread_markdown, write_selection

        report = self.judge.evaluate_selection(tasks=tasks, scorers=scorers, max_samples=max_samples, progress=progress)
        spread = error_spread(self.store, report["tasks"], report["metric"], report["protocol"])
        report["per_task"] = spread
        report["markdown"] += spread_markdown(spread, report["protocol"])
        report["files"] = write_selection(report, out_dir, plots=plots)
        return report

    def report(
        self,
        *,
        out_dir: str | Path = ".",
        methods: tuple[str, ...] = BENCH_METHODS,
        plots: bool = True,
        progress: bool = False,
    ) -> dict:
        """Taxonomy agreement, difficulty and expert-error spread over this registry; heatmap PNGs.

        ``progress``: a bar over the embedding methods (each a few seconds: its figures and its heatmap).

        Each method's probe is the default of :meth:`zoo.api.probes.Probes.choose`
        over the bench tasks. Returns {"agreement": {method: {collection: {...}}},
        "difficulty": {method: {...}}, "errors": {...summary}, "per_task": {task: {...}}, "plots": [paths]}.
        """
        from tqdm.auto import tqdm

        from zoo.api.bench_report import method_report
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
        embedded = {}  # method -> (its probe, its embeddings of the bench tasks), for each method with two or more
        for method in methods:
            try:
                probe = self.probes.choose(None, method, tasks=tasks)[0]
            except NotFound:
                continue
            rows = sorted(
                (e for e in self.store.list_task_embeddings(probe=probe, method=method) if e.task in tasks),
                key=lambda e: tasks[e.task].taxonomy,
            )
            if len(rows) >= 2:
                embedded[method] = (probe, rows)
        if not embedded and not table:
            raise NotFound(
                "the registry has no bench tasks with embeddings or transfer results; "
                "run `zoo bench build --size ci` first"
            )
        for method, (probe, rows) in tqdm(embedded.items(), desc="bench report", unit="method", disable=not progress):
            figures = method_report(
                rows, [tasks[e.task].taxonomy for e in rows], best, probe, method, Path(out_dir) if plots else None
            )
            out["agreement"][method], out["difficulty"][method] = figures["agreement"], figures["difficulty"]
            out["plots"] += figures["plots"]
        return out

    # ------------------------------------------------------------------ shipped assets
    @staticmethod
    def train_probe(
        workdir: str | Path,
        *,
        steps: int = 1200,
        out: str | Path | None = None,
        seed: int = 0,
        progress: bool = True,
        augment: str = "shift",
        restart: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> dict:
        """Train the bundled probe on every probe-pool task at once, rendered under ``workdir/tasks``.

        Writes probe.safetensors/probe.json to ``out`` (default: the shipped
        probe's folder); returns the probe record (``made`` says how).
        ``augment``: ``shift`` (the bundled probe's) or ``strong`` (see zoo.bench.training).
        An interrupted run resumes from its checkpoint in ``out`` (``.train-probe.ckpt``)
        unless ``restart``; ``log`` gets the line that says so.
        """
        from zoo.bench.probe import BUNDLED_DIR, train_probe
        from zoo.collections import catalogue, render_tasks

        specs = catalogue(seed)["probe"]
        folders = render_tasks(
            f"{workdir}/tasks", specs, train_per_class=40, test_per_class=20, seed=seed, progress=progress
        )
        command = f"zoo bench train-probe --workdir {workdir} --steps {steps}" + (f" --seed {seed}" if seed else "")
        command += f" --augment {augment}" if augment != "shift" else ""
        return train_probe(
            folders,
            out or BUNDLED_DIR,
            steps=steps,
            seed=seed,
            progress=progress,
            command=command,
            augment=augment,
            restart=restart,
            log=log,
        )

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
