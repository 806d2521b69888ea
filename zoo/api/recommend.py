"""Zoo methods for Model2Vec, the FAISS index and recommending (issue 5).

Passes data between the registry (``self.store``) and :mod:`zoo.model2vec`,
:mod:`zoo.index`, :mod:`zoo.scorers`, :mod:`zoo.selection`. Everything a
query compares comes from one probe and one method: the Model2Vec run's.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from registry.errors import InvalidInput, NotFound, ProbeMismatch

DEFAULT_METHOD = "montecarlo"
EVIDENCE_TASKS = 3


@dataclass(frozen=True)
class Evidence:
    """A known task near the query (d_sym) and the model's measured error on it (None if unmeasured)."""

    task: str
    distance: float
    error: float | None


@dataclass(frozen=True)
class Recommendation:
    """One recommended expert: rank, name, expected error, Model2Vec distance and the evidence behind it.

    ``distance`` is d_asym(m -> task) plus the model's learned shift (see
    :mod:`zoo.model2vec`); ``expected_error`` is the run's calibrated map of it.
    ``trained`` is False for a model registered after the Model2Vec run (its
    bias is 0 until ``zoo train-model2vec`` runs again). ``logme`` and
    ``verified_rank`` are set by ``verify``.
    """

    rank: int
    model: str
    expected_error: float
    distance: float
    evidence: tuple[Evidence, ...]
    trained: bool
    source: str
    arch: str | None = None
    logme: float | None = None
    verified_rank: int | None = None

    def load(self, num_classes: int | None = None):
        """The expert as a timm network with its weights and a fresh ``num_classes`` head (eval mode)."""
        from zoo.networks import load_network

        return load_network(self.source, arch=self.arch, num_classes=num_classes)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


@dataclass
class _Space:
    """What one (probe, method) pair provides: task vectors, t0, model sources."""

    probe: str
    method: str
    task_names: list[str]
    task_vectors: Any  # [T, D]
    t0: Any  # [D]
    models: list[Any] = field(default_factory=list)
    sources: Any = None  # [M, D]
    t0_source: str = "prior"


class RecommendMixin:
    store: Any

    # ------------------------------------------------------------------ probe / space
    def _probe_name(self, probe: str | None, method: str) -> str:
        """The registry name of the probe ``probe`` (a name or a spec); default: the only one with a run."""
        if probe is None:
            with_runs = self._probes_with_runs(method)
            if len(with_runs) == 1:
                return with_runs[0]
            embedded = sorted({e.probe for e in self.store.list_task_embeddings(method=method)})
            if not with_runs and len(embedded) == 1:
                return embedded[0]
            choices = with_runs or embedded
            if not choices:
                raise NotFound(f"no task embeddings with method {method!r}; embed tasks first with `zoo embed-task`")
            raise InvalidInput(f"several probes have data ({', '.join(choices)}); pass --probe NAME")
        try:
            return self.store.get_probe(probe).name
        except NotFound:
            resolve = getattr(self, "resolve_probe", None)
            if resolve is None:
                from zoo.embedding.probe import resolve_probe as resolve
            return resolve(probe).info.name

    def _probes_with_runs(self, method: str) -> list[str]:
        found = []
        for p in self.store.list_probes():
            try:
                self.store.latest_model2vec_run(p.name, method)
                found.append(p.name)
            except NotFound:
                pass
        return found

    def _space(self, probe: str, method: str) -> _Space:
        """Task embeddings [T, D], t0 [D] and every model's source embedding F_i [M, D] for one probe/method."""
        import numpy as np

        records = self.store.list_task_embeddings(probe=probe, method=method)
        if not records:
            raise NotFound(f"no task embeddings for probe {probe!r} and method {method!r}; "
                           f"embed tasks with `zoo embed-task --probe {probe} --method {method}`")
        names = [r.task for r in records]
        vectors = np.stack([np.asarray(r.vector, dtype=np.float64) for r in records])
        priors = [np.asarray(r.prior, dtype=np.float64) for r in records if r.prior is not None]
        # t0: the stored trivial embedding (prior) when the method has one, else the per-filter minimum
        # over known tasks (the least information any task carries); documented in docs/sections/recommend.md.
        t0 = np.mean(priors, axis=0) if priors else vectors.min(axis=0)
        default = vectors.mean(axis=0)  # model2vec.DEFAULT_SOURCE
        by_name = dict(zip(names, vectors))
        models = self.store.list_models()
        sources = np.stack([by_name.get(m.trained_on, default) for m in models]) if models else np.zeros((0, vectors.shape[1]))
        return _Space(probe, method, names, vectors, t0, models, sources,
                      "mean stored prior" if priors else "per-filter minimum of task embeddings")

    # ------------------------------------------------------------------ training
    def train_model2vec(self, *, probe: str | None = None, method: str = DEFAULT_METHOD, objective: str = "both",
                        epochs: int = 400, seed: int = 0, val_fraction: float = 0.2, lr: float = 0.05,
                        metric: str | None = None, val_tasks: Sequence[str] | None = None,
                        exclude_tasks: Sequence[str] | None = None, results_recorded: int | None = None,
                        own_task_pairs: bool = False, progress: bool = True) -> dict[str, Any]:
        """Train Model2Vec on the recorded transfer results and store the run (METHOD section 6).

        ``val_tasks`` are the validation tasks (early stopping) instead of a
        random ``val_fraction`` of the training tasks. ``exclude_tasks`` (e.g.
        the bench's held-out query tasks) take no part at all: neither
        training nor early stopping sees their results, so judging on them is
        honest. The run records them (``hyperparams["excluded_tasks"]``) and
        ``evaluate_selection`` judges on them by default.

        ``own_task_pairs`` False (default) leaves out each model's result on
        its own ``trained_on`` task: a query is a new data set, never an
        expert's training task, and those pairs (the expert nearly always
        best) teach the ranking the wrong lesson. On the full bench, leaving
        the 30 such pairs out took held-out relative error from 26.8% to
        22.7%. The number left out is recorded (``own_task_pairs_excluded``).

        Returns ``{"run_id", "probe", "method", "models", "trained", "tasks", "metrics", "hyperparams"}``.
        """
        import numpy as np

        from zoo import model2vec as m2v

        if not 0.0 <= val_fraction < 1.0:
            raise InvalidInput(f"--val-fraction must be in [0, 1), got {val_fraction}")
        if epochs < 1:
            raise InvalidInput(f"--epochs must be at least 1, got {epochs}")
        if objective not in m2v.OBJECTIVES:
            raise InvalidInput(f"--objective must be one of {', '.join(m2v.OBJECTIVES)}")
        probe = self._probe_name(probe, method)
        space = self._space(probe, method)
        results = self.store.list_transfer_results()
        if not results:
            raise NotFound("no transfer results recorded; run `zoo bench build` (or record transfer results) first")
        if metric is None:
            metric = _most_common(r.metric for r in results)
        excluded = sorted(set(exclude_tasks or ()))
        known = set(space.task_names)
        unknown = [t for t in excluded if t not in known]
        if unknown:
            raise InvalidInput(f"cannot exclude {', '.join(unknown[:3])}: no {method} embedding with probe {probe}; "
                               "check the task names")
        left_out = set(excluded)
        if val_tasks and set(val_tasks) & left_out:
            raise InvalidInput("a task cannot be both a validation task and excluded")
        # one protocol only: results measured under different protocols are not comparable
        protocol = _most_common(r.protocol for r in results if r.metric == metric)
        chosen = [r for r in results
                  if r.metric == metric and r.protocol == protocol and r.task not in left_out]
        own = {m.name: m.trained_on for m in space.models}
        own_pairs = [r for r in chosen if own.get(r.model) == r.task]
        if not own_task_pairs:
            chosen = [r for r in chosen if own.get(r.model) != r.task]
        model_names = [m.name for m in space.models]
        errors = m2v.error_matrix(((r.task, r.model, r.value) for r in chosen), space.task_names, model_names)
        data = m2v.TrainingData(tuple(space.task_names), space.task_vectors, tuple(model_names), space.sources,
                                errors, space.t0)
        config = m2v.Model2VecConfig(objective=objective, epochs=epochs, lr=lr, val_fraction=val_fraction, seed=seed)
        try:
            result = m2v.train_model2vec(data, config, val_tasks=val_tasks, progress=progress)
        except ValueError as err:
            raise InvalidInput(f"cannot train Model2Vec: {err}") from err
        hyperparams = {**result.hyperparams, "metric": metric, "protocol": protocol, "alpha": result.alpha, "tau": result.tau,
                       "error_map": list(result.error_map), "error_link": result.error_link, "t0": space.t0_source,
                       "val_tasks_given": bool(val_tasks), "excluded_tasks": excluded,
                       "own_task_pairs_excluded": 0 if own_task_pairs else len(own_pairs),
                       "results_recorded": len(results) if results_recorded is None else results_recorded}
        embeddings = {name: (result.bias[i], result.vectors[i], bool(result.trained[i]),
                             {"shift": float(result.shift[i]) if result.shift is not None else 0.0})
                      for i, name in enumerate(result.model_names)}
        run = self.store.add_model2vec_run(probe, method, hyperparams=hyperparams,
                                           metrics=_json_safe(result.metrics), embeddings=embeddings)
        return {"run_id": run.id, "probe": probe, "method": method, "models": len(model_names),
                "trained": int(np.sum(result.trained)), "tasks": len(space.task_names),
                "metrics": _json_safe(result.metrics), "hyperparams": hyperparams}

    # ------------------------------------------------------------------ index
    def _index_path(self, kind: str, probe: str, method: str) -> Path:
        from zoo.index import index_directory

        return index_directory(self.url) / f"{kind}-{_slug(probe)}-{_slug(method)}.npz"

    def _built_from(self, kind: str, probe: str, method: str, run_id: int | None) -> dict[str, Any]:
        revisions = {k: self.store.revision_token(k) for k in
                     (("models", "task_embeddings", "model_embeddings") if kind == "models" else ("task_embeddings",))}
        return {"kind": kind, "probe": probe, "method": method, "run_id": run_id, "revisions": revisions}

    def _model_index(self, probe: str, method: str, *, rebuild: bool = False, factory: str | None = None,
                     progress: bool = False):
        """The (fresh) index over model embeddings of the latest run, rebuilt when stale."""
        from zoo.index import EmbeddingIndex

        run = self.store.latest_model2vec_run(probe, method)
        path = self._index_path("models", probe, method)
        built_from = self._built_from("models", probe, method, run.id)
        if not rebuild:
            index = self._fresh_index(path, built_from)
            if index is not None:
                return run, index
        import numpy as np

        from zoo.embedding.distance import d_sym_matrix

        space = self._space(probe, method)
        learned = {e.model: e for e in self.store.list_model_embeddings(run.id)}
        names, vectors, untrained, shifts = [], [], [], []
        for model, source in zip(space.models, space.sources):
            emb = learned.get(model.name)
            names.append(model.name)
            if emb is not None and emb.trained:
                vectors.append(np.asarray(emb.vector, dtype=np.float64))
                shifts.append(float(emb.params.get("shift", 0.0)))
            else:  # cold start: b_i = 0, no shift
                vectors.append(source)
                untrained.append(model.name)
                shifts.append(0.0)
        if not names:
            raise NotFound("the zoo has no models; register one with `zoo register-model`")
        vectors = np.stack(vectors)
        alpha = float(run.hyperparams.get("alpha", 0.15))
        # ranked by d_asym(m_i -> t) + shift_i, the Model2Vec distance (zoo.model2vec): fold both into the offset
        offsets = alpha * d_sym_matrix(vectors, space.t0[None, :])[:, 0] - np.asarray(shifts)
        meta = {"built_from": built_from, "alpha": alpha, "untrained": len(untrained),
                "error_map": run.hyperparams.get("error_map", [0.0, 1.0]),
                "error_link": run.hyperparams.get("error_link", "identity")}
        cold = set(untrained)
        columns = {"source": [m.source for m in space.models], "arch": [m.arch or "" for m in space.models],
                   "trained": ["0" if m.name in cold else "1" for m in space.models]}
        index = EmbeddingIndex.build(names, vectors, offsets=offsets, factory=factory, meta=meta, columns=columns,
                                     progress=progress)
        index.save(path)
        self._index_cache()[str(path)] = index
        return run, index

    def _index_cache(self) -> dict[str, Any]:
        """Indexes loaded by this connection, by path (a query re-reads nothing while they stay fresh)."""
        cache = self.__dict__.get("_loaded_indexes")
        if cache is None:
            cache = self.__dict__["_loaded_indexes"] = {}
        return cache

    def _fresh_index(self, path: Path, built_from: dict[str, Any]):
        """The index at ``path`` if it was built from ``built_from`` (memory first, then disk), else None."""
        from zoo.index import EmbeddingIndex

        cached = self._index_cache().get(str(path))
        if cached is not None and cached.meta.get("built_from") == built_from:
            return cached
        if (EmbeddingIndex.read_sidecar(path) or {}).get("built_from") != built_from:
            return None
        index = EmbeddingIndex.load(path)
        if index is None or index.meta.get("built_from") != built_from:
            return None
        self._index_cache()[str(path)] = index
        return index

    def _task_index(self, probe: str, method: str, *, rebuild: bool = False, factory: str | None = None,
                    progress: bool = False):
        """The (fresh) index over task embeddings of one probe/method (d_sym, no offsets)."""
        from zoo.index import EmbeddingIndex

        path = self._index_path("tasks", probe, method)
        built_from = self._built_from("tasks", probe, method, None)
        if not rebuild:
            index = self._fresh_index(path, built_from)
            if index is not None:
                return index
        space = self._space(probe, method)
        index = EmbeddingIndex.build(space.task_names, space.task_vectors, factory=factory,
                                     meta={"built_from": built_from}, progress=progress)
        index.save(path)
        self._index_cache()[str(path)] = index
        return index

    def rebuild_index(self, *, probe: str | None = None, method: str = DEFAULT_METHOD, factory: str | None = None,
                      progress: bool = True) -> list[dict[str, Any]]:
        """Rebuild the model index (when a run exists) and the task index for probe/method; returns their sidecars."""
        probe = self._probe_name(probe, method)
        if factory is not None:
            import faiss

            try:
                faiss.index_factory(8, factory, faiss.METRIC_L2)
            except RuntimeError:
                raise InvalidInput(f"--factory {factory!r} is not a faiss index_factory string; "
                                   "try Flat, HNSW32,Flat or IVF256,Flat") from None
        built = []
        try:
            _, index = self._model_index(probe, method, rebuild=True, factory=factory, progress=progress)
            built.append({**index.meta, "path": str(self._index_path("models", probe, method))})
        except NotFound:
            pass
        index = self._task_index(probe, method, rebuild=True, factory=factory, progress=progress)
        built.append({**index.meta, "path": str(self._index_path("tasks", probe, method))})
        return built

    def similar_tasks_indexed(self, task_or_vector: Any, k: int = 5, *, probe: str | None = None,
                              method: str = DEFAULT_METHOD) -> list[tuple[str, float]]:
        """The ``k`` known tasks nearest (d_sym) to a registered task name or a vector [D], via the index."""
        probe = self._probe_name(probe, method)
        vector, name = self._target_vector(task_or_vector, probe, method)
        hits = self._task_index(probe, method).search(vector, k + (1 if name else 0))
        return [(h.name, h.distance) for h in hits if h.name != name][:k]

    # ------------------------------------------------------------------ recommending
    def _target_vector(self, target: Any, probe: str, method: str, *, spec: str | None = None,
                       save: str | None = None, progress: bool = False):
        """(vector [D], registered task name or None) for a task name, a folder, or a vector."""
        import numpy as np

        if isinstance(target, np.ndarray):
            return np.asarray(target, dtype=np.float64), None
        target = str(target)
        if not Path(target).exists():
            try:
                self.store.get_task(target)
            except NotFound:
                raise NotFound(f"{target!r} is neither a folder nor a registered task; "
                               "pass a folder of labelled images or a name from `zoo tasks list`") from None
            try:
                return np.asarray(self.store.get_task_embedding(target, probe, method).vector, dtype=np.float64), target
            except NotFound:
                others = self.store.list_task_embeddings(task=target)
                if others:
                    have = ", ".join(sorted({f"{e.probe}/{e.method}" for e in others}))
                    raise ProbeMismatch(f"task {target!r} is embedded with {have}, but the Model2Vec run uses "
                                        f"{probe}/{method}; run `zoo embed-task {target} --probe {probe} "
                                        f"--method {method}`") from None
                raise
        if save:  # embed once and store it, under the run's probe
            record = self.embed_task(target, name=save, probe=spec or probe, method=method, progress=progress)
            return np.asarray(record.vector, dtype=np.float64), save
        embedding = self.embed(target, probe=spec or probe, method=method, progress=progress)
        if embedding.probe.name != probe or embedding.method != method:
            raise ProbeMismatch(f"the folder was embedded with {embedding.probe.name}/{embedding.method}, but the "
                                f"Model2Vec run uses {probe}/{method}; pass --probe {probe} --method {method}")
        return np.asarray(embedding.vector, dtype=np.float64), None

    def recommend(self, data_or_name: Any, k: int = 5, *, probe: str | None = None, method: str = DEFAULT_METHOD,
                  save: str | None = None, verify: int = 0, evidence: int = EVIDENCE_TASKS,
                  progress: bool = True) -> list[Recommendation]:
        """The ``k`` experts most likely to transfer well to a folder, a registered task or a vector [D].

        One probe pass for a folder (none for a registered task); a search in
        the model index (cost independent of the zoo size); ``verify`` re-ranks
        the top ``verify`` by LogME on their own features (one forward pass
        each) and sets ``logme`` / ``verified_rank``.
        """
        import numpy as np

        from zoo.model2vec import expected_error

        if k < 1:
            raise InvalidInput(f"-k must be at least 1, got {k}")
        probe_name = self._probe_name(probe, method)
        try:
            run, index = self._model_index(probe_name, method, progress=progress)  # a stale index is rebuilt here
        except NotFound:
            trained = self._probes_with_runs(method)
            if probe is None or not trained:
                raise
            raise ProbeMismatch(f"Model2Vec was trained with probe {', '.join(trained)}, not {probe_name}; pass "
                                f"--probe {trained[0]} (or `zoo train-model2vec --probe {probe}`)") from None
        vector, task_name = self._target_vector(data_or_name, probe_name, method, spec=probe, save=save, progress=progress)
        if vector.shape[0] != index.vectors.shape[1]:
            raise ProbeMismatch(f"the task embedding has {vector.shape[0]} values but probe {probe_name} embeds to "
                                f"{index.vectors.shape[1]}; embed it with --probe {probe_name}")
        hits = index.search(vector, k)
        # evidence: the nearest tasks with measured results (a task nobody measured shows nothing); fetch a few
        # more neighbours than asked, since some tasks (a bench's probe pool) are embedded but never measured
        near = (self.similar_tasks_indexed(vector, 4 * evidence + 1, probe=probe_name, method=method)
                if evidence else [])
        near = [(t, d) for t, d in near if t != task_name]
        error_map = tuple(index.meta.get("error_map", (0.0, 1.0)))
        link = index.meta.get("error_link", "identity")
        # task -> model -> error, for the evidence tasks only, under the run's metric and protocol
        measured = {}
        for t, _ in near:
            if len(measured) == evidence:
                break
            found = self.measured_errors(t, protocol=run.hyperparams.get("protocol"),
                                         metric=run.hyperparams.get("metric", "error"))
            if found:
                measured[t] = found
        near = [(t, d) for t, d in near if t in measured] or near[:evidence]
        recs = []
        for rank, hit in enumerate(hits, start=1):
            recs.append(Recommendation(
                rank=rank, model=hit.name, expected_error=float(expected_error(np.array([hit.distance]), error_map, link)[0]),
                distance=hit.distance,
                evidence=tuple(Evidence(t, float(d), measured.get(t, {}).get(hit.name)) for t, d in near),
                trained=str(index.columns["trained"][hit.row]) == "1", source=str(index.columns["source"][hit.row]),
                arch=str(index.columns["arch"][hit.row]) or None))
        if verify:
            recs = self._verify(recs, data_or_name, verify, progress=progress)
        return recs

    def measured_errors(self, task: str, *, protocol: str | None = None, metric: str = "error") -> dict[str, float]:
        """{model: measured transfer error} on a registered ``task`` under one protocol.

        ``protocol`` None: the protocol with the most results on the task (a
        registry may also hold superseded protocols; they are never mixed).
        """
        results = [r for r in self.store.list_transfer_results(task=task) if r.metric == metric]
        if protocol is None:
            protocol = _most_common(r.protocol for r in results)
        return {r.model: r.value for r in results if r.protocol == protocol}

    def plot_recommendations(self, recs: Sequence[Recommendation], out: str | Path, *,
                             task: str | None = None) -> Path:
        """A chart of the expected errors (and measured ones when ``task`` is registered) via zoo.plots."""
        from zoo.plots import recommendation_chart

        measured: dict[str, float] = {}
        if task is not None:
            try:
                self.store.get_task(task)
                measured = self.measured_errors(task)
            except NotFound:
                pass
        rows = [{"model": r.model, "expected_error": r.expected_error, "measured_error": measured.get(r.model)}
                for r in recs]
        return recommendation_chart(rows, out, oracle=min(measured.values()) if measured else None)

    def _verify(self, recs: list[Recommendation], data: Any, top: int, *, progress: bool) -> list[Recommendation]:
        """LogME on each of the first ``top`` experts' features of ``data``; keeps the Model2Vec order."""
        import dataclasses

        from zoo.data import load_labelled
        from zoo.networks import extract_features, load_network
        from zoo.scorers import logme

        path = data if isinstance(data, (str, Path)) and Path(data).exists() else None
        if path is None and isinstance(data, str):
            uri = self.store.get_task(data).data_uri
            path = uri[len("file://"):] if uri.startswith("file://") else uri
        if path is None or not Path(path).exists():
            raise InvalidInput("--verify needs the images: pass a folder, or a task whose data_uri is a local folder")
        images = load_labelled(path)
        labels = images.labels
        scores = {}
        for rec in recs[:top]:
            network = load_network(rec.source, arch=rec.arch)
            scores[rec.model] = logme(extract_features(network, images, progress=progress), labels)
        order = sorted(scores, key=lambda m: -scores[m])
        return [dataclasses.replace(r, logme=scores.get(r.model),
                                    verified_rank=(order.index(r.model) + 1) if r.model in scores else None)
                for r in recs]

    # ------------------------------------------------------------------ judging
    def evaluate_selection(self, *, probe: str | None = None, method: str = DEFAULT_METHOD,
                           tasks: Sequence[str] | None = None, scorers: Sequence[str] = (),
                           max_samples: int | None = None, progress: bool = True) -> dict[str, Any]:
        """Every selection method of METHOD section 7 on held-out tasks: ``{"rows", "markdown", "tasks", ...}``.

        ``tasks`` defaults to the tasks the latest Model2Vec run excluded
        (the bench's held-out queries), else to its validation tasks.
        ``scorers`` (from :data:`zoo.scorers.SCORERS`) run every expert on
        each task's images (``data_uri``), so they cost one forward pass per
        expert and task.
        """
        import numpy as np

        from zoo import selection
        from zoo.embedding.distance import ALPHA, d_asym_matrix, d_sym_matrix
        from zoo.model2vec import error_matrix

        probe = self._probe_name(probe, method)
        run = self.store.latest_model2vec_run(probe, method)
        space = self._space(probe, method)
        names = [m.name for m in space.models]
        metric = run.hyperparams.get("metric", "error")
        protocol = run.hyperparams.get("protocol")
        results = [r for r in self.store.list_transfer_results()
                   if r.metric == metric and (protocol is None or r.protocol == protocol)]
        errors = error_matrix(((r.task, r.model, r.value) for r in results), space.task_names, names)
        row_of = {t: i for i, t in enumerate(space.task_names)}
        excluded = [t for t in run.hyperparams.get("excluded_tasks") or []
                    if t in row_of and np.isfinite(errors[row_of[t]]).any()]
        chosen = list(tasks) if tasks else (excluded or list(run.metrics.get("val_tasks") or []))
        missing = [t for t in chosen if t not in row_of]
        if not chosen or missing:
            raise InvalidInput(f"no held-out tasks to evaluate ({', '.join(missing) or 'the run has none'} "
                               f"not embedded with {probe}/{method}); pass tasks=[...] or retrain with --val-fraction > 0")
        rows = [row_of[t] for t in chosen]
        train = [row_of[t] for t in run.metrics.get("train_tasks", []) if t in row_of and row_of[t] not in rows]
        truth = errors[rows]
        targets = space.task_vectors[rows]
        probe_seconds = [float((e.params or {}).get("seconds") or 0.0)
                         for e in self.store.list_task_embeddings(probe=probe, method=method) if e.task in chosen]
        embed_cost = float(np.mean(probe_seconds)) if probe_seconds else 0.0
        methods = []

        def timed(name, compute, passes, note=""):
            start = time.perf_counter()
            scores = compute()
            seconds = (time.perf_counter() - start) / len(rows)
            # the Task2Vec methods also pay the probe pass that embedded the task
            methods.append(selection.MethodScores(name, scores, seconds + (embed_cost if passes == 1 else 0.0),
                                                  passes, note))

        generic = np.nanmean(errors[train], axis=0) if train else np.full(len(names), np.nan)
        timed("generic", lambda: np.tile(generic, (len(rows), 1)), 0, "best mean error over training tasks")
        timed("nearest source (d_sym)", lambda: d_sym_matrix(targets, space.sources), 1)
        timed("d_asym", lambda: d_asym_matrix(space.sources, targets, space.t0, ALPHA).T, 1)
        learned = {e.model: e for e in self.store.list_model_embeddings(run.id)}
        vectors = np.stack([np.asarray(learned[n].vector, dtype=np.float64) if n in learned and learned[n].trained
                            else src for n, src in zip(names, space.sources)])
        shifts = np.array([float(learned[n].params.get("shift", 0.0)) if n in learned and learned[n].trained else 0.0
                           for n in names])
        alpha = float(run.hyperparams.get("alpha", ALPHA))
        timed("Model2Vec", lambda: d_asym_matrix(vectors, targets, space.t0, alpha).T + shifts[None, :], 1,
              f"run {run.id}")
        for scorer in scorers:
            timed(scorer, lambda s=scorer: self._scorer_matrix(s, chosen, space.models, max_samples, progress),
                  len(names), "forward pass of every expert")
        timed("oracle", lambda: truth.copy(), len(names), "the measured transfer errors (the recorded protocol)")
        report_rows = selection.evaluate_methods(methods, truth)
        markdown = (f"Selection on {len(rows)} held-out tasks, probe {probe}, method {method}, "
                    f"Model2Vec run {run.id}, {len(names)} models, metric {metric}.\n\n"
                    + selection.markdown_table(report_rows))
        return {"probe": probe, "method": method, "run_id": run.id, "protocol": protocol, "metric": metric,
                "tasks": chosen, "models": names,
                "rows": _json_safe(report_rows), "markdown": markdown}

    def _scorer_matrix(self, scorer: str, tasks: Sequence[str], models: Sequence[Any], max_samples: int | None,
                       progress: bool):
        """``[T, M]`` minus the scorer's value (lower = better) of every model on every task's images."""
        import numpy as np
        import torch

        from zoo.data import load_labelled
        from zoo.networks import extract_features, load_network
        from zoo.scorers import SCORERS

        if scorer not in SCORERS:
            raise InvalidInput(f"unknown scorer {scorer!r}; use one of {', '.join(SCORERS)}")
        needs, function = SCORERS[scorer]
        out = np.full((len(tasks), len(models)), np.nan)
        for j, model in enumerate(models):
            network = load_network(model.source, arch=model.arch)
            for i, task in enumerate(tasks):
                uri = self.store.get_task(task).data_uri
                images = load_labelled(uri[len("file://"):] if uri.startswith("file://") else uri,
                                       max_samples=max_samples)
                feats = extract_features(network, images, progress=False)
                if needs == "probs":
                    with torch.no_grad():
                        logits = network.get_classifier()(torch.from_numpy(feats))
                    feats = torch.softmax(logits.double(), dim=1).numpy()
                out[i, j] = -function(feats, np.asarray(images.labels))
        return out


def _most_common(values: Iterable[str]) -> str | None:
    """The value seen most often (the first seen on a tie); None when there are none."""
    from collections import Counter

    ranked = Counter(values).most_common(1)
    return ranked[0][0] if ranked else None


def _json_safe(value: Any) -> Any:
    """Floats, lists and dicts only (NaN -> None) so the run's metrics store as JSON."""
    import math

    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
