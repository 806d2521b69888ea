"""Zoo methods for the ground truth and the bench (see docs/ARCHITECTURE.md).

``evaluate`` measures one model on one task under the transfer protocol of
:mod:`zoo.transfer`; ``bench_build`` runs :mod:`zoo.bench.build` against this
registry; ``bench_report`` computes what the bench shows and draws the heatmaps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

METHODS = ("montecarlo", "variational")


def default_workdir(size: str) -> Path:
    """Where a bench of ``size`` is built when no --workdir is given (user cache dir)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zoo")) / "bench" / size


def _task_folder(task) -> Path:
    from registry.errors import InvalidInput

    uri = task.data_uri[len("file:"):] if task.data_uri.startswith("file:") else task.data_uri
    folder = Path(uri).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"task {task.name!r} points at {task.data_uri}, which is not a folder here; "
                           f"re-register it with a local folder holding train/ and test/")
    return folder


class BenchMixin:
    store: Any

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, model: str, task: str, *, save: bool = True, progress: bool = False) -> dict:
        """Transfer error of registered ``model`` on registered ``task`` (zoo.transfer protocol).

        The model's weights are loaded from its source; the task's folder must hold
        ``train/<class>/`` and ``test/<class>/``. Stored in transfer_results unless
        ``save`` is False. Returns {model, task, metric, value, protocol, ...}.
        """
        from zoo.bench.arrays import load_split
        from zoo.networks import data_config, load_network
        from zoo.transfer import PROTOCOL, ProtocolParams, evaluate_arrays

        record = self.store.get_model(model)
        task_record = self.store.get_task(task)
        folder = _task_folder(task_record)
        train, test = load_split(folder, "train"), load_split(folder, "test")
        network = load_network(record.source, arch=record.arch)
        cfg = data_config(network)
        params = ProtocolParams()
        result = evaluate_arrays(network, train, test, key=task_record.name, mean=cfg["mean"], std=cfg["std"],
                                 size=int(cfg["input_size"][-1]), params=params)
        out = {"model": record.name, "task": task_record.name, "metric": "error", "value": result["error"],
               "protocol": PROTOCOL, "protocol_params": params.as_dict(),
               "train_size": result["train_size"], "test_size": result["test_size"], "saved": save}
        if save:
            self.store.add_transfer_result(record.name, task_record.name, metric="error", value=result["error"],
                                           protocol=PROTOCOL, protocol_params=params.as_dict(),
                                           train_size=result["train_size"], test_size=result["test_size"])
        return out

    # ------------------------------------------------------------------ build
    def bench_build(self, size: str = "ci", workdir: str | Path | None = None, *, seed: int = 0,
                    train_probe: bool = False, progress: bool = True, log=print, overlap: bool = True) -> dict:
        """Build (or resume) the bench of ``size`` in ``workdir`` into this registry.

        ``overlap`` measures transfer in a thread while the tasks are embedded (see zoo.bench.build).
        """
        from zoo.bench.build import build
        from zoo.bench.sizes import get_size

        spec = get_size(size)
        folder = Path(workdir) if workdir is not None else default_workdir(size)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            from registry.errors import InvalidInput

            raise InvalidInput(f"cannot create the bench workdir {folder} ({err.strerror}); "
                               f"pass --workdir DIR somewhere writable") from err
        summary = build(spec, folder, self._bench_registry(spec), seed=seed, train_probe=train_probe,
                        progress=progress, log=log, overlap=overlap)
        summary["model2vec"] = self._bench_model2vec(folder, progress=progress, log=log)
        return summary

    def _bench_model2vec(self, folder: Path, *, progress: bool, log) -> dict:
        """The last stage: Model2Vec on the expert tasks' results, the held-out queries left out entirely.

        Skipped when the latest run already saw exactly the results recorded
        now (a rerun or a resumed build), so the registry ends the same.
        """
        import json

        from registry.errors import NotFound

        heldout = json.loads((folder / "sets.json").read_text())["heldout"]
        probe = str(self.resolve_probe("bundled"))
        embedded = {e.task for e in self.store.list_task_embeddings(probe=probe, method="montecarlo")}
        excluded = sorted(t for t in heldout if t in embedded)
        results = len(self.store.list_transfer_results())
        try:
            run = self.store.latest_model2vec_run(probe, "montecarlo")
            if (run.hyperparams.get("results_recorded") == results
                    and run.hyperparams.get("excluded_tasks") == excluded):
                return {"run_id": run.id, "reused": True, "excluded_tasks": len(excluded)}
        except NotFound:
            pass
        log(f"model2vec: training on the expert tasks, {len(excluded)} held-out tasks left out")
        summary = self.train_model2vec(probe=probe, method="montecarlo", exclude_tasks=excluded,
                                       results_recorded=results, progress=progress)
        self.rebuild_index(probe=probe, method="montecarlo", progress=False)
        return {"run_id": summary["run_id"], "reused": False, "excluded_tasks": len(excluded)}

    def _bench_registry(self, spec):
        from registry.errors import NotFound
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
            store.add_task(record["name"], data_uri=str(Path(folder).resolve()),
                           num_classes=len(record["classes"]), num_samples=int(record["counts"]["train"]),
                           fingerprint=fingerprint(load_labelled(folder)),
                           taxonomy=f"{record['collection']}/{record['taxonomy']}")

        def ensure_embedding(task: str, folder: Path, probe: str, method: str) -> bool:
            if store.list_task_embeddings(task=task, method=method):
                return False
            self.embed_task(str(folder), name=task, probe=probe, method=method,
                            max_samples=spec.embed_max_samples, seed=0, progress=False)
            return True

        def ensure_model(expert, path: Path) -> None:
            try:
                store.get_model(expert.name)
                return
            except NotFound:
                pass
            import json

            from zoo.networks import weights_checksum

            sidecar = json.loads(Path(path).with_suffix(".json").read_text())
            store.add_model(expert.name, f"file:{Path(path).resolve()}", arch=expert.arch,
                            num_params=sidecar.get("num_params"), checksum=weights_checksum(path), trained_on=expert.trained_on,
                            description=f"bench expert ({expert.tags.get('kind')}): {expert.arch} "
                                        f"{'fine-tuned from the probe' if expert.init == 'probe' else 'from scratch'}"
                                        f" on {len(expert.tasks)} task(s), {expert.steps} steps",
                            tags={**{k: str(v) for k, v in expert.tags.items()}, "arch": expert.arch,
                                  "classes": str(sidecar["num_classes"])})

        def has_transfer(model: str, task: str) -> bool:
            return any(r.protocol_params == params and r.metric == "error"
                       for r in store.list_transfer_results(model=model, task=task, protocol=PROTOCOL))

        def add_transfer(model: str, task: str, result: dict) -> None:
            store.add_transfer_result(model, task, metric="error", value=result["error"], protocol=PROTOCOL,
                                      protocol_params=params, train_size=result["train_size"],
                                      test_size=result["test_size"])

        return Registry(ensure_task=ensure_task, ensure_embedding=ensure_embedding, ensure_model=ensure_model,
                        has_transfer=has_transfer, add_transfer=add_transfer)

    # ------------------------------------------------------------------ report
    def bench_evaluate(self, *, out_dir: str | Path = ".", tasks: Sequence[str] | None = None,
                       scorers: Sequence[str] = ("logme", "leep"), max_samples: int | None = 200,
                       plots: bool = True, progress: bool = True) -> dict:
        """Judge every selection method on the held-out tasks (METHOD section 7); write the report.

        Calls :meth:`evaluate_selection` (default tasks: those the latest
        Model2Vec run left out), adds each task's spread of expert errors, and
        writes ``selection.json``, ``selection.md`` and ``selection.png`` to
        ``out_dir``. Returns the report dict with ``files``.
        """
        import json

        import numpy as np

        report = self.evaluate_selection(tasks=tasks, scorers=scorers, max_samples=max_samples, progress=progress)
        spread = []
        for task in report["tasks"]:
            errors = np.array([r.value for r in self.store.list_transfer_results(task=task)
                               if r.metric == report["metric"]
                               and (report["protocol"] is None or r.protocol == report["protocol"])])
            if errors.size:
                spread.append({"task": task, "experts": int(errors.size), "best": float(errors.min()),
                               "median": float(np.median(errors)), "worst": float(errors.max()),
                               "spread_points": float(100 * (errors.max() - errors.min()))})
        report["per_task"] = spread
        lines = ["", "", f"Spread of expert errors per held-out task ({report['protocol']}):", "",
                 "| task | experts | best (%) | median (%) | worst (%) | spread (points) |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['task']} | {r['experts']} | {100 * r['best']:.1f} | {100 * r['median']:.1f} | "
                  f"{100 * r['worst']:.1f} | {r['spread_points']:.1f} |" for r in spread]
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

    def bench_report(self, *, out_dir: str | Path = ".", methods: tuple[str, ...] = METHODS,
                     plots: bool = True) -> dict:
        """Taxonomy agreement, difficulty and expert-error spread over this registry; heatmap PNGs.

        Returns {"agreement": {method: {collection: {...}}}, "difficulty": {method: {...}},
        "errors": {...summary}, "per_task": {task: {...}}, "plots": [paths]}.
        """
        import numpy as np

        from registry.errors import NotFound
        from zoo.bench.report import difficulty, error_summary, expert_error_table, family_of, taxonomy_agreement
        from zoo.embedding.distance import d_sym_matrix
        from zoo.transfer import PROTOCOL, ProtocolParams

        params = ProtocolParams().as_dict()
        tasks = {t.name: t for t in self.store.list_tasks() if t.taxonomy and not t.taxonomy.startswith("union/")}
        results = [(r.model, r.task, r.value) for r in self.store.list_transfer_results(protocol=PROTOCOL)
                   if r.metric == "error" and r.protocol_params == params]
        table = expert_error_table(results)
        best = {task: row["best"] for task, row in table.items()}
        out: dict[str, Any] = {"agreement": {}, "difficulty": {}, "errors": error_summary(table),
                               "per_task": table, "plots": []}
        out_dir = Path(out_dir)
        for method in methods:
            rows = [e for e in self.store.list_task_embeddings(method=method) if e.task in tasks]
            if len(rows) < 2:
                continue
            probes = sorted({e.probe for e in rows}, key=lambda p: -sum(e.probe == p for e in rows))
            rows = sorted((e for e in rows if e.probe == probes[0]), key=lambda e: tasks[e.task].taxonomy)
            names = [e.task for e in rows]
            paths = [tasks[n].taxonomy for n in names]
            vectors = np.stack([np.asarray(e.vector, dtype=np.float64) for e in rows])
            matrix = np.asarray(d_sym_matrix(vectors, vectors), dtype=np.float64)
            matrix = (matrix + matrix.T) / 2
            np.fill_diagonal(matrix, 0.0)
            per_collection = {}
            collections = sorted({p.split("/")[0] for p in paths})
            for collection in collections + ["all"]:
                idx = [i for i, p in enumerate(paths) if collection == "all" or p.split("/")[0] == collection]
                if len(idx) >= 3:
                    per_collection[collection] = taxonomy_agreement(matrix[np.ix_(idx, idx)], [paths[i] for i in idx])
            out["agreement"][method] = per_collection
            norms = {e.task: float(np.linalg.norm(e.vector)) for e in rows}
            out["difficulty"][method] = difficulty(norms, best)
            if plots:
                from zoo.plots import distance_heatmap

                path = distance_heatmap(matrix, names, out_dir / f"bench-heatmap-{method}.png",
                                        groups=[family_of(p) for p in paths],
                                        title=f"Task2Vec d_sym ({method}, probe {probes[0]}), ordered by taxonomy")
                out["plots"].append(str(path))
        if not out["agreement"] and not table:
            raise NotFound("the registry has no bench tasks with embeddings or transfer results; "
                           "run `zoo bench build --size ci` first")
        return out
