"""Model2Vec training over the registry: gather transfer results, train (:mod:`zoo.model2vec`), store the run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, NotFound, arg
from zoo.api.folds import fit_run_shrinkage
from zoo.api.results import json_safe, most_common
from zoo.api.space import EmbeddingSpace, load_space
from zoo.embedding import DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.records import TransferResult
    from registry.store import Store
    from zoo.api.probes import Probes
    from zoo.model2vec import Model2VecConfig


@dataclass(frozen=True)
class _Selected:
    """The transfer results one run learns from, and how they were chosen."""

    results: list[TransferResult]
    metric: str | None
    protocol: str | None
    excluded: list[str]
    own_pairs: int
    recorded: list[TransferResult]


@dataclass(frozen=True)
class Prepared:
    """What a run would learn from: the space, the chosen results, their errors ``[T, M]`` and the config."""

    space: EmbeddingSpace
    selected: _Selected
    errors: Any  # [T, M] the chosen results (NaN: unmeasured or excluded)
    config: Model2VecConfig
    own_task_pairs: bool
    val_tasks: tuple[str, ...] = ()

    def excluding(self, tasks: Iterable[str]) -> Prepared:
        """The same settings with ``tasks`` left out too (no validation tasks given), from the same rows:
        nothing is read from the store again."""
        from zoo import model2vec as m2v

        left_out = sorted(set(self.selected.excluded) | set(tasks))
        selected = _select(
            self.selected.recorded,
            self.space,
            metric=self.selected.metric,
            exclude_tasks=left_out,
            val_tasks=None,
            own_task_pairs=self.own_task_pairs,
        )
        errors = m2v.error_matrix(
            ((r.task, r.model, r.value) for r in selected.results),
            self.space.task_names,
            [m.name for m in self.space.models],
        )
        return Prepared(self.space, selected, errors, self.config, self.own_task_pairs)


@dataclass(frozen=True)
class Fitted:
    """A trained (not stored) Model2Vec result and what it learned from."""

    result: Any  # zoo.model2vec.Model2VecResult
    prepared: Prepared

    @property
    def space(self) -> EmbeddingSpace:
        return self.prepared.space

    @property
    def selected(self) -> _Selected:
        return self.prepared.selected

    @property
    def errors(self) -> Any:
        return self.prepared.errors

    @property
    def seen_tasks(self) -> list[str]:
        """The tasks whose results trained the run or stopped it early."""
        return list(self.result.train_tasks) + list(self.result.val_tasks)

    def prior_errors(self) -> Any:
        """``[M]`` each model's mean measured error over the seen tasks (the generic ranking; NaN if none)."""
        import numpy as np

        rows = [self.space.task_names.index(t) for t in self.seen_tasks]
        block = self.errors[rows] if rows else np.full((1, self.errors.shape[1]), np.nan)
        with np.errstate(all="ignore"):
            counts = np.sum(np.isfinite(block), axis=0)
            return np.where(counts > 0, np.nansum(block, axis=0) / np.maximum(counts, 1), np.nan)

    def expected_errors(self) -> Any:
        """``[T, M]`` the run's calibrated expected error of every model on every task of the space."""
        from zoo.embedding.distance import d_asym_matrix
        from zoo.model2vec import expected_error

        result, space = self.result, self.space
        vectors = [v if ok else src for v, ok, src in zip(result.vectors, result.trained, space.sources)]
        import numpy as np

        shift = result.shift if result.shift is not None else np.zeros(len(vectors))
        shift = np.where(result.trained, shift, 0.0)
        distance = d_asym_matrix(np.stack(vectors), space.task_vectors, space.t0, result.alpha).T + shift[None, :]
        return expected_error(distance, tuple(result.error_map), result.error_link)


class Model2VecTraining:
    """Train Model2Vec on the recorded transfer results of one probe/method and store the run."""

    def __init__(self, store: Store, probes: Probes) -> None:
        self.store = store
        self.probes = probes

    def train(
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
        """Train Model2Vec on the recorded transfer results and store the run (METHOD section 6).

        ``objective``, ``epochs``, ``seed``, ``val_fraction`` and ``lr`` left
        None take :class:`zoo.model2vec.Model2VecConfig`'s defaults.
        ``val_tasks`` are the validation tasks (early stopping) instead of a
        random ``val_fraction`` of the training tasks. ``exclude_tasks`` (e.g.
        the bench's held-out query tasks) take no part at all: neither
        training nor early stopping sees their results, so judging on them is
        honest. The run records them (``hyperparams["excluded_tasks"]``) and
        ``evaluate_selection`` judges on them by default.

        ``own_task_pairs`` False (default) leaves out each model's result on
        its own ``trained_on`` task: a query is a new data set, never an
        expert's training task, and those pairs (the expert nearly always
        best) teach the ranking the wrong lesson. The number left out is
        recorded (``own_task_pairs_excluded``).

        ``shrinkage`` (default) also trains one run per task collection with
        that collection left out, and fits on their predictions how far to
        trust the task-dependent term as a query moves away from the training
        tasks (:mod:`zoo.shrinkage`; stored in ``hyperparams["shrinkage"]``,
        with each model's mean training error as ``params["prior_error"]``).

        Returns ``{"run_id", "probe", "method", "models", "trained", "untrained", "tasks", "metrics",
        "hyperparams"}`` (``untrained``: the models with no result it could learn from, by name).
        """
        prepared = self.prepare(
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
            own_task_pairs=own_task_pairs,
        )
        fitted = self.fit(prepared, progress=progress)
        shrink = fit_run_shrinkage(self, fitted, progress=progress) if shrinkage else None
        hyperparams = _run_hyperparams(fitted, shrink, bool(val_tasks), results_recorded)
        result = fitted.result
        run = self.store.add_model2vec_run(
            fitted.space.probe,
            method,
            hyperparams=hyperparams,
            metrics=json_safe(result.metrics),
            embeddings=_model_embeddings(fitted),
        )
        return {
            "run_id": run.id,
            "probe": fitted.space.probe,
            "method": method,
            "models": len(result.model_names),
            "trained": int(sum(bool(t) for t in result.trained)),
            "untrained": [m for m, t in zip(result.model_names, result.trained, strict=True) if not t],
            "tasks": len(fitted.space.task_names),
            "metrics": json_safe(result.metrics),
            "hyperparams": hyperparams,
        }

    def fit(self, prepared: Prepared, *, progress: bool = True) -> Fitted:
        """Train Model2Vec on what :meth:`prepare` chose, without storing anything."""
        from zoo import model2vec as m2v

        space = prepared.space
        data = m2v.TrainingData(
            tuple(space.task_names),
            space.task_vectors,
            tuple(m.name for m in space.models),
            space.sources,
            prepared.errors,
            space.t0,
        )
        try:
            result = m2v.train_model2vec(
                data, prepared.config, val_tasks=list(prepared.val_tasks) or None, progress=progress
            )
        except ValueError as err:
            raise InvalidInput(f"cannot train Model2Vec: {err}") from err
        return Fitted(result, prepared)

    def prepare(
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
        own_task_pairs: bool = False,
    ) -> Prepared:
        """The space, results and configuration a run with these settings learns from (nothing trained)."""
        from zoo import model2vec as m2v

        config = _config(objective=objective, epochs=epochs, seed=seed, val_fraction=val_fraction, lr=lr)
        probe = self.probes.default(probe, method)
        space = load_space(self.store, probe, method)
        selected = _select(
            self.store.list_transfer_results(),
            space,
            metric=metric,
            exclude_tasks=exclude_tasks,
            val_tasks=val_tasks,
            own_task_pairs=own_task_pairs,
        )
        errors = m2v.error_matrix(
            ((r.task, r.model, r.value) for r in selected.results), space.task_names, [m.name for m in space.models]
        )
        return Prepared(space, selected, errors, config, own_task_pairs, tuple(val_tasks or ()))


def _run_hyperparams(
    fitted: Fitted, shrink: Any, val_tasks_given: bool, results_recorded: int | None
) -> dict[str, Any]:
    """What a stored run records about how it was made (and its shrinkage, when fitted)."""
    result, selected = fitted.result, fitted.selected
    hyperparams = {
        **result.hyperparams,
        "metric": selected.metric,
        "protocol": selected.protocol,
        "alpha": result.alpha,
        "tau": result.tau,
        "error_map": list(result.error_map),
        "error_link": result.error_link,
        "t0": fitted.space.t0_source,
        "val_tasks_given": val_tasks_given,
        "excluded_tasks": selected.excluded,
        "own_task_pairs_excluded": selected.own_pairs,
        "results_recorded": len(selected.recorded) if results_recorded is None else results_recorded,
    }
    if shrink is not None:
        hyperparams["shrinkage"] = shrink.shrinkage.as_dict()
        hyperparams["novelty_reference"] = [float(x) for x in shrink.reference]
    return hyperparams


def _model_embeddings(fitted: Fitted) -> dict[str, tuple]:
    """Each model's (bias [D], vector [D], trained, params): its shift and, when measured, its prior error."""
    import numpy as np

    result, prior = fitted.result, fitted.prior_errors()
    shift = result.shift if result.shift is not None else np.zeros(len(result.model_names))
    return {
        name: (
            result.bias[i],
            result.vectors[i],
            bool(result.trained[i]),
            {"shift": float(shift[i]), **({"prior_error": float(prior[i])} if np.isfinite(prior[i]) else {})},
        )
        for i, name in enumerate(result.model_names)
    }


def _config(**given: Any) -> Model2VecConfig:
    """The run's :class:`zoo.model2vec.Model2VecConfig`: the given values over its defaults, checked."""
    from zoo.model2vec import OBJECTIVES, Model2VecConfig

    chosen = {k: v for k, v in given.items() if v is not None}
    val_fraction = chosen.get("val_fraction", Model2VecConfig.val_fraction)
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInput(f"{arg('val_fraction', 'F')} must be in [0, 1), got {val_fraction}")
    if chosen.get("epochs", Model2VecConfig.epochs) < 1:
        raise InvalidInput(f"{arg('epochs', 'N')} must be at least 1, got {chosen['epochs']}")
    if chosen.get("objective", Model2VecConfig.objective) not in OBJECTIVES:
        raise InvalidInput(f"{arg('objective', 'NAME')} must be one of {', '.join(OBJECTIVES)}")
    return Model2VecConfig(**chosen)


def _select(
    recorded: list[TransferResult],
    space: EmbeddingSpace,
    *,
    metric: str | None,
    exclude_tasks: Sequence[str] | None,
    val_tasks: Sequence[str] | None,
    own_task_pairs: bool,
) -> _Selected:
    """The results to learn from: one metric, one protocol, no excluded task, no own-task pair unless asked."""
    if not recorded:
        raise NotFound(
            "no transfer results recorded: measure your experts on your tasks with `zoo evaluate --all` "
            "(or build the bench's with `zoo bench build`) first"
        )
    if metric is None:
        metric = most_common(r.metric for r in recorded)
    excluded = sorted(set(exclude_tasks or ()))
    known = set(space.task_names)
    unknown = [t for t in excluded if t not in known]
    if unknown:
        raise InvalidInput(
            f"cannot exclude {', '.join(unknown[:3])}: no {space.method} embedding with probe "
            f"{space.probe}; check the task names"
        )
    strangers = [t for t in dict.fromkeys(val_tasks or ()) if t not in known]
    if strangers:
        raise InvalidInput(
            f"no validation task {', '.join(strangers[:3])}: no task of that name has a {space.method} embedding "
            f"with probe {space.probe}; check the names (`zoo tasks list`)"
        )
    left_out = set(excluded)
    if val_tasks and set(val_tasks) & left_out:
        raise InvalidInput("a task cannot be both a validation task and excluded")
    # one protocol only: results measured under different protocols are not comparable
    protocol = most_common(r.protocol for r in recorded if r.metric == metric)
    chosen = [r for r in recorded if r.metric == metric and r.protocol == protocol and r.task not in left_out]
    own = {m.name: m.trained_on for m in space.models}
    own_pairs = [r for r in chosen if own.get(r.model) == r.task]
    if not own_task_pairs:
        chosen = [r for r in chosen if own.get(r.model) != r.task]
    return _Selected(chosen, metric, protocol, excluded, 0 if own_task_pairs else len(own_pairs), recorded)
