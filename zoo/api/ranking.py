"""Scoring every expert for one query: Model2Vec's expected error, shrunk toward each expert's prior by the
query's novelty (:mod:`zoo.shrinkage`), with an interval; and the constraints that narrow the candidates."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, NotFound, arg

if TYPE_CHECKING:
    from registry.records import Model2VecRun
    from registry.store import Store
    from zoo.index import EmbeddingIndex
    from zoo.shrinkage import Difficulty, Novelty, Shrinkage


@dataclass(frozen=True)
class Constraints:
    """What a candidate must satisfy: a name glob, tags, at most ``max_params`` parameters, an architecture glob."""

    pattern: str | None = None
    tags: Mapping[str, str] | Sequence[tuple[str, str]] | None = None
    max_params: int | None = None
    arch: str | None = None

    @property
    def active(self) -> bool:
        return any(v not in (None, {}, ()) for v in (self.pattern, self.tags, self.max_params, self.arch))

    def allowed(self, store: Store) -> set[str]:
        """Names of the registered models that satisfy every constraint; InvalidInput when none does."""
        if self.max_params is not None and self.max_params < 1:
            raise InvalidInput(f"{arg('max_params', 'N')} must be at least 1, got {self.max_params}")
        models = store.list_models(pattern=self.pattern, tags=self.tags or None)
        if self.max_params is not None:
            models = [m for m in models if m.num_params is not None and m.num_params <= self.max_params]
        if self.arch is not None:
            models = [m for m in models if m.arch and fnmatch.fnmatchcase(m.arch, self.arch)]
        if not models:
            raise InvalidInput(
                f"no registered model satisfies the constraints ({self.describe()}); "
                "loosen them or list the models with `zoo models list`"
            )
        return {m.name for m in models}

    def describe(self) -> str:
        parts = [
            f"name {self.pattern}" if self.pattern else "",
            ", ".join(f"tag {k}={v}" for k, v in dict(self.tags or {}).items()),
            f"at most {self.max_params:,} parameters" if self.max_params is not None else "",
            f"arch {self.arch}" if self.arch else "",
        ]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class RunTrust:
    """What a Model2Vec run says about trusting it: its shrinkage, novelty reference, seen tasks, model priors."""

    shrinkage: Shrinkage
    reference: Any  # [S] nearest-neighbour d_sym among the seen tasks
    seen_names: tuple[str, ...]
    seen_vectors: Any  # [S, D]
    prior: dict[str, float]  # model -> mean measured error over the seen tasks
    fitted: bool  # False: a run stored before shrinkage existed (its ranking is Model2Vec's alone)
    difficulty: Difficulty | None = None  # the prior's difficulty offset (None: no offset)

    @classmethod
    def load(cls, store: Store, run: Model2VecRun, task_names: Sequence[str], task_vectors: Any) -> RunTrust:
        """The run's trust figures; ``task_names``/``task_vectors`` ``[T, D]`` are the embedded tasks of its
        probe and method as the caller already holds them (the task index, or the embedding space)."""
        import numpy as np

        from zoo.shrinkage import Shrinkage, nn_distances

        row = {t: i for i, t in enumerate(task_names)}
        seen = [*(run.metrics.get("train_tasks") or []), *(run.metrics.get("val_tasks") or [])]
        names = tuple(t for t in seen if t in row)
        stacked = np.asarray(task_vectors, dtype=np.float64)[[row[t] for t in names]]
        reference = run.hyperparams.get("novelty_reference")
        if reference is None and len(names) > 1:
            from zoo.embedding.distance import d_sym_matrix

            matrix = d_sym_matrix(stacked, stacked)
            reference = nn_distances((matrix + matrix.T) / 2.0)
        embeddings = store.list_model_embeddings(run.id)
        prior = {
            e.model: float(e.params["prior_error"])
            for e in embeddings
            if e.trained and "prior_error" in (e.params or {})
        }
        fitted = "shrinkage" in run.hyperparams
        if fitted and not prior and any(e.trained for e in embeddings):
            # a run fitted with its shrinkage always stores its experts' priors: their loss (a schema downgrade
            # below 0003 drops every model embedding's params) would silently rank unmeasured models first
            raise NotFound(
                f"Model2Vec run {run.id} has lost its experts' priors (a schema downgrade drops them); "
                "retrain it with `zoo train-model2vec`"
            )
        reference = np.asarray([] if reference is None else reference, dtype=float)
        shrinkage = Shrinkage.from_dict(run.hyperparams.get("shrinkage"))
        held = [t for t in run.hyperparams.get("excluded_tasks") or [] if t in row and t not in set(names)]
        if not shrinkage.interval.floor and held and names and reference.size:
            # a run stored before intervals had a floor: its least novel held-out task, one of the examples
            # the interval was fitted on, as floor
            from zoo.embedding.distance import d_sym_matrix
            from zoo.shrinkage import novelty

            rows = np.asarray(task_vectors, dtype=np.float64)[[row[t] for t in held]]
            floor = min(n.ratio for n in novelty(d_sym_matrix(rows, stacked), reference, names))
            shrinkage = replace(shrinkage, interval=replace(shrinkage.interval, floor=floor))
        return cls(
            shrinkage,
            reference,
            names,
            stacked,
            prior,
            fitted,
            _run_difficulty(store, run, names, prior) if fitted else None,
        )

    def novelty(self, vector: Any) -> Novelty | None:
        """The query's distance to its nearest seen task, as a ratio and percentile of the seen tasks' own."""
        from zoo.embedding.distance import d_sym_matrix
        from zoo.shrinkage import novelty

        if not self.seen_names:
            return None
        row = d_sym_matrix(vector[None, :], self.seen_vectors)
        return novelty(row, self.reference, self.seen_names)[0]

    def offset(self, difficulty: float | None) -> float:
        """The difficulty offset delta(t) of the priors' logits at a query of this difficulty (0 if unknown)."""
        if self.difficulty is None or difficulty is None:
            return 0.0
        return float(self.difficulty.offset([difficulty])[0])

    def shrunk(self, raw: Any, names: Sequence[str], ratio: float, difficulty: float | None) -> Any:
        """``[M]`` the expected errors recommend ranks by: Model2Vec's ``raw`` ``[M]`` (models ``names``) shrunk
        toward each model's prior at novelty ``ratio``, the prior taken at the query's ``difficulty``. A model
        without a prior (registered after the run: the cold start) gets the experts' average prior
        (:func:`logit_mean`); in a run without any priors every model keeps its own figure."""
        import numpy as np

        from zoo.shrinkage import blend, logit_mean

        known = np.array([self.prior.get(n, np.nan) for n in names])
        prior = np.where(np.isfinite(known), known, logit_mean(known) if np.isfinite(known).any() else raw)
        offset = np.array([self.offset(difficulty)])
        return blend(np.asarray(raw)[None, :], prior, np.array([ratio]), self.shrinkage.weight, offset)[0]

    def margin(self, ratio: float) -> float | None:
        """How much lower another expert's expected error must be to displace the generic pick at novelty
        ``ratio``: half the interval's width, when it was calibrated on left-out folds (None: no hold)."""
        import numpy as np

        if not (self.fitted and self.shrinkage.fitted_on):
            return None
        return float(self.shrinkage.interval.half_width(np.array([ratio]))[0])

    def weight(self, novelty: Novelty | None) -> float:
        """How much of Model2Vec's task-dependent term the ranking keeps at this novelty (1 without a fit)."""
        from zoo.shrinkage import trust_weight

        if not self.fitted or novelty is None:
            return 1.0
        return float(trust_weight([novelty.ratio], self.shrinkage.weight)[0])


@dataclass(frozen=True)
class Scored:
    """Every model of the index scored for one query (arrays ``[M]`` in index row order)."""

    names: tuple[str, ...]
    rows: Any  # [M] index rows
    distance: Any  # Model2Vec distance d_asym + shift
    model2vec_error: Any  # the run's calibrated expected error
    expected_error: Any  # shrunk toward the prior by novelty: what the ranking sorts by
    low: Any
    high: Any
    novelty: Novelty | None
    weight: float
    prior: Any = None  # [M] each model's mean measured error over the run's seen tasks (NaN: none)
    difficulty: float | None = None  # the query's probe-head training error (None: not recorded)
    typical_difficulty: float | None = None  # the same of a typical task the run learned from
    offset: float = 0.0  # the logit offset the query's difficulty put on every prior
    margin: float | None = None  # how much lower another expected error must be to displace the generic pick

    def order(self, allowed: set[str] | None = None, *, hold: bool = True) -> list[int]:
        """Positions sorted by expected error (ties: by distance, then name), allowed names only.

        With ``hold`` (and a run with a fitted interval), the generic pick (:meth:`generic`) comes first
        unless another expert's expected error is lower by more than :attr:`margin`
        (:func:`zoo.shrinkage.held_first`).
        """
        keep = [i for i, n in enumerate(self.names) if allowed is None or n in allowed]
        order = sorted(keep, key=lambda i: (self.expected_error[i], self.distance[i], self.names[i]))
        generic = self.generic(allowed)
        if hold and self.margin is not None and generic is not None and order and order[0] != generic:
            from zoo.shrinkage import held_first

            values = [self.expected_error[i] for i in order]
            if held_first(values, order.index(generic), self.margin):
                order.remove(generic)
                order.insert(0, generic)
        return order

    def generic(self, allowed: set[str] | None = None) -> int | None:
        """The position of the allowed model with the lowest prior error (:func:`generic_position`)."""
        return None if self.prior is None else generic_position(self.names, self.prior, allowed)


def cold_start(raw: Any, trained: Any) -> Any:
    """``raw`` ``[..., M]`` Model2Vec errors with each untrained model's (``trained`` ``[M]`` False: registered
    after the run) replaced by the logit mean of the trained ones' in the same row: its vector is its source
    task's embedding (or the tasks' mean), whose distance the run's error map was never fitted on, so it counts
    as an expert of average quality. Unchanged when every model, or none, is trained."""
    import numpy as np

    from zoo.shrinkage import logit_mean

    raw, trained = np.asarray(raw, dtype=np.float64), np.asarray(trained, dtype=bool)
    if trained.all() or not trained.any():
        return raw
    rows = raw.reshape(-1, raw.shape[-1])
    average = np.array([logit_mean(row[trained]) for row in rows])[:, None]
    return np.where(trained[None, :], rows, average).reshape(raw.shape)


def generic_position(names: Sequence[str], prior: Sequence[float], allowed: set[str] | None = None) -> int | None:
    """The position of the allowed model with the lowest prior error ``prior`` ``[M]`` (NaN: none; ties: by
    name): the generic pick; None when no allowed model has a prior."""
    known = [i for i, n in enumerate(names) if (allowed is None or n in allowed) and math.isfinite(float(prior[i]))]
    return min(known, key=lambda i: (float(prior[i]), names[i])) if known else None


def _run_difficulty(store: Store, run: Model2VecRun, seen: Sequence[str], prior: dict[str, float]) -> Difficulty:
    """The run's difficulty offset: as stored with its shrinkage, else (a run stored before the offset existed)
    fitted here on its seen tasks' recorded errors, its metric and protocol, as training would have."""
    import numpy as np

    from zoo.shrinkage import Difficulty, fit_difficulty
    from zoo.shrinkage import trust as guard

    if len(seen) < guard.MIN_DIFFICULTY_TASKS:  # what a run stored before that guard fitted on too few tasks
        return Difficulty()
    stored = (run.hyperparams.get("shrinkage") or {}).get("difficulty")
    if stored:
        return Difficulty(float(stored["slope"]), float(stored["centre"]))
    # reading every transfer result costs about half a second on the shipped zoo: once per process and state
    key = (store.url, run.id, *(store.revision_token(k) for k in ("transfer_results", "task_embeddings")))
    if key in _REFITTED:
        return _REFITTED[key]

    from zoo.api.folds import task_difficulties
    from zoo.model2vec import error_matrix

    models = sorted(prior)
    wanted, metric = set(seen), run.hyperparams.get("metric", "error")
    results = (
        (r.task, r.model, r.value)
        for r in store.list_transfer_results(protocol=run.hyperparams.get("protocol"))
        if r.metric == metric and r.task in wanted
    )
    _REFITTED[key] = fit_difficulty(
        task_difficulties(store, run.probe, run.method, seen),
        error_matrix(results, list(seen), models),
        np.array([prior[m] for m in models]),
    )
    return _REFITTED[key]


#: difficulty fits of runs stored before the fit existed, by (registry, run, revision tokens)
_REFITTED: dict[tuple, Difficulty] = {}


def score_models(index: EmbeddingIndex, vector: Any, trust: RunTrust, difficulty: float | None = None) -> Scored:
    """Exact Model2Vec distances of every model, expected errors, the shrunk ranking errors and intervals.

    ``difficulty``: the query's (:func:`zoo.shrinkage.difficulty_of`); it moves every expected error by the
    same logit offset, never the order.
    """
    import numpy as np

    from zoo.model2vec import expected_error
    from zoo.shrinkage import sigmoid

    hits = index.search(vector, len(index), min_candidates=len(index))
    names = tuple(h.name for h in hits)
    distance = np.array([h.distance for h in hits], dtype=np.float64)
    raw = expected_error(
        distance, tuple(index.meta.get("error_map", (0.0, 1.0))), index.meta.get("error_link", "identity")
    )
    if "trained" in index.columns:
        raw = cold_start(raw, np.array([str(index.columns["trained"][h.row]) == "1" for h in hits]))
    novelty = trust.novelty(vector)
    weight = trust.weight(novelty)
    known = np.array([trust.prior.get(n, np.nan) for n in names])
    ratio = novelty.ratio if novelty is not None else 1.0
    if trust.fitted:
        shrunk = trust.shrunk(raw, names, ratio, difficulty)
        low, high = trust.shrinkage.interval.bounds(shrunk[None, :], np.array([ratio]))
        low, high = low[0], high[0]
    else:
        shrunk, low, high = raw, np.full_like(raw, np.nan), np.full_like(raw, np.nan)
    rows = np.array([h.row for h in hits])
    known_difficulty = difficulty is not None and math.isfinite(difficulty)
    fit = trust.difficulty
    return Scored(
        names,
        rows,
        distance,
        raw,
        shrunk,
        low,
        high,
        novelty,
        weight,
        known,
        float(sigmoid(difficulty)) if known_difficulty else None,
        float(sigmoid(fit.centre)) if known_difficulty and fit is not None and fit.slope else None,
        trust.offset(difficulty) if trust.fitted else 0.0,
        trust.margin(ratio),
    )
