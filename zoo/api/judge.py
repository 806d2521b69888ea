"""Judging expert selection on held-out tasks: every method of METHOD section 7 side by side.

Task2Vec baselines, Model2Vec and the forward-pass scorers (:data:`zoo.scorers.SCORERS`)
are each turned into a ``[T, M]`` score matrix (lower = better) and compared
with the measured errors by :mod:`zoo.selection`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, arg
from zoo.api.results import json_safe
from zoo.api.space import EmbeddingSpace, learned_vectors, load_space
from zoo.api.verify import SCREEN_FRACTION, SCREEN_SCORER
from zoo.embedding import DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.records import Model, Model2VecRun
    from registry.store import Store
    from zoo.api.probes import Probes
    from zoo.api.ranking import RunTrust

#: the experts a recommendation shows by default (recommend's ``-k``): a report's "coverage of the top 5" counts
#: the intervals of the default ranking's first SHOWN experts, those a user reads
SHOWN = 5


class MethodTimer:
    """Collects :class:`zoo.selection.MethodScores`, each method's compute time spread over ``tasks`` tasks.

    A method of one forward pass (the Task2Vec ones) also pays ``probe_seconds``, the probe
    pass that embedded each task.
    """

    def __init__(self, tasks: int, probe_seconds: float) -> None:
        self.tasks = tasks
        self.probe_seconds = probe_seconds
        self.methods: list[Any] = []

    def add(self, name: str, compute: Callable[[], Any], passes: float, note: str = "") -> Any:
        """Run ``compute`` (-> ``[T, M]`` scores, lower = better), record it as method ``name``; return the scores."""

        def timed() -> tuple[Any, float]:
            start = time.perf_counter()
            scores = compute()
            return scores, (time.perf_counter() - start) / self.tasks

        return self.add_timed(name, timed, passes, note)

    def add_timed(self, name: str, compute: Callable[[], tuple[Any, float]], passes: float, note: str = "") -> Any:
        """:meth:`add` for a ``compute`` that says its own cost (-> ``([T, M]`` scores, seconds per task``)``):
        a scorer matrix read back from the cache costs what computing it did, not the reading."""
        from zoo import selection

        scores, seconds = compute()
        seconds += self.probe_seconds if passes == 1 else 0.0
        self.methods.append(selection.MethodScores(name, scores, seconds, passes, note))
        return scores


class SelectionJudge:
    """Score every selection method on held-out tasks against the measured transfer errors.

    ``ray_address``: where :meth:`scorer_matrix` runs its units (None: in this process; else a Ray
    address, see :mod:`zoo.api.jobs`), fixed for the judge's life.
    """

    def __init__(self, store: Store, probes: Probes, *, ray_address: str | None = None) -> None:
        self.store = store
        self.probes = probes
        self.ray_address = ray_address

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
        """Every selection method of METHOD section 7 on held-out tasks: ``{"rows", "markdown", "tasks", ...}``.

        ``tasks`` defaults to the tasks the latest Model2Vec run excluded
        (the bench's held-out queries), else to its validation tasks.
        ``scorers`` (from :data:`zoo.scorers.SCORERS`) run every expert on
        each task's images (``data_uri``), so they cost one forward pass per
        expert and task.
        """
        from zoo import selection
        from zoo.api.ranking import RunTrust
        from zoo.model2vec import error_matrix

        probe = self.probes.default(probe, method)
        run = self.store.latest_model2vec_run(probe, method)
        space = load_space(self.store, probe, method)
        names = [m.name for m in space.models]
        metric = run.hyperparams.get("metric", "error")
        protocol = run.hyperparams.get("protocol")
        results = [
            r
            for r in self.store.list_transfer_results()
            if r.metric == metric and (protocol is None or r.protocol == protocol)
        ]
        errors = error_matrix(((r.task, r.model, r.value) for r in results), space.task_names, names)
        chosen = _held_out(run, space, errors, tasks)
        # what recommend trusts of this run (shrinkage, novelty, priors), loaded once for every method
        trust = RunTrust.load(self.store, run, space.task_names, space.task_vectors)
        rows = [space.task_names.index(t) for t in chosen]
        novelties = [trust.novelty(t) for t in space.task_vectors[rows]]  # each task's, computed once
        methods, shrunk = self._methods(run, space, errors, chosen, scorers, max_samples, progress, trust, novelties)
        truth = errors[rows]
        report_rows = selection.evaluate_methods(methods, truth)
        default = next((m.scores for m in methods if m.name == "Model2Vec (shrunk)"), None)
        calibration = _calibration(shrunk, default, trust, novelties, truth) if shrunk is not None else {}
        markdown = (
            f"Selection on {len(chosen)} held-out tasks, probe {probe}, method {method}, "
            f"Model2Vec run {run.id}, {len(names)} models, metric {metric}.\n\n" + selection.markdown_table(report_rows)
        )
        if calibration:
            markdown += (
                f"\n\nThe default ranking's expected errors (what recommend prints) are off by "
                f"{calibration['expected_error_mae']:.1f} points on average; its 80% interval holds "
                f"{calibration['coverage']:.2f} of the measured errors ({calibration['coverage_shown']:.2f} of its "
                f"top {SHOWN}'s, those recommend shows).\n"
            )
        return {
            "probe": probe,
            "method": method,
            "run_id": run.id,
            "protocol": protocol,
            "metric": metric,
            "tasks": chosen,
            "models": names,
            "rows": json_safe(report_rows),
            "markdown": markdown,
            **calibration,
        }

    def _methods(
        self,
        run: Model2VecRun,
        space: EmbeddingSpace,
        errors: Any,
        chosen: list[str],
        scorers: Sequence[str],
        max_samples: int | None,
        progress: bool,
        trust: RunTrust,
        novelties: list[Any],
    ) -> tuple[list[Any], Any]:
        """Each method's :class:`zoo.selection.MethodScores` on the ``chosen`` tasks, timed per task, and the
        default ranking's expected errors ``[T, M]`` (None for a run without a shrinkage)."""
        import numpy as np

        from zoo.embedding.distance import ALPHA, d_asym_matrix, d_sym_matrix

        row_of = {t: i for i, t in enumerate(space.task_names)}
        rows = [row_of[t] for t in chosen]
        train = [row_of[t] for t in run.metrics.get("train_tasks", []) if t in row_of and row_of[t] not in rows]
        truth, targets = errors[rows], space.task_vectors[rows]
        probe_seconds = [
            float((e.params or {}).get("seconds") or 0.0)
            for e in self.store.list_task_embeddings(probe=space.probe, method=space.method)
            if e.task in chosen
        ]
        # the Task2Vec methods also pay the probe pass that embedded the task
        timer = MethodTimer(len(rows), float(np.mean(probe_seconds)) if probe_seconds else 0.0)
        models = len(space.models)
        generic = measured_means(errors[train]) if train else np.full(models, np.nan)
        timer.add("generic", lambda: np.tile(generic, (len(rows), 1)), 0, "best mean error over training tasks")
        timer.add("nearest source (d_sym)", lambda: d_sym_matrix(targets, space.sources), 1)
        timer.add("d_asym", lambda: d_asym_matrix(space.sources, targets, space.t0, ALPHA).T, 1)
        shrunk = self._model2vec_methods(timer, run, space, targets, trust, chosen, novelties)
        for scorer in scorers:
            timer.add_timed(
                scorer,
                lambda s=scorer: self.timed_scorer_matrix(s, chosen, space.models, max_samples, progress),
                models,
                "forward pass of every expert",
            )
        if "logme" in scorers:
            timer.add_timed(
                f"{SCREEN_SCORER}-screen",
                lambda: self.timed_scorer_matrix(
                    SCREEN_SCORER, chosen, space.models, max_samples, progress, share=SCREEN_FRACTION
                ),
                models * SCREEN_FRACTION,
                "every expert on the screen's share of the images (what the screened hybrids read)",
            )
            preferred = None if shrunk is None else np.nanargmin(shrunk, axis=1)
            archs = [m.arch or m.name for m in space.models]
            from zoo.api.scorer_matrix import screens_discriminate

            self._hybrids(
                timer,
                trust,
                novelties,
                _generic_pick(trust, space, generic),
                models,
                preferred,
                shrunk,
                archs,
                screens_discriminate(self.store, chosen, max_samples),
            )
        timer.add("oracle", lambda: truth.copy(), models, "the measured transfer errors (the recorded protocol)")
        return timer.methods, shrunk

    def _model2vec_methods(
        self,
        timer: MethodTimer,
        run: Model2VecRun,
        space: EmbeddingSpace,
        targets: Any,
        trust: RunTrust,
        chosen: list[str],
        novelties: list[Any],
    ) -> Any:
        """Add Model2Vec's raw ranking and, when the run has a fitted shrinkage, the shrunk one recommend uses
        (the generic pick held first unless beaten by more than the margin); return the latter's expected
        errors ``[T, M]`` before that hold (None without a shrinkage).

        ``targets`` is ``[T, D]``, the chosen tasks' embeddings, ``novelties`` their novelty (:class:`RunTrust`).
        """
        import numpy as np

        from zoo.embedding.distance import ALPHA, d_asym_matrix
        from zoo.shrinkage import hold_generic

        vectors, shifts, untrained = learned_vectors(self.store, run.id, space)
        alpha = float(run.hyperparams.get("alpha", ALPHA))
        timer.add(
            "Model2Vec",
            lambda: d_asym_matrix(vectors, targets, space.t0, alpha).T + shifts[None, :],
            1,
            f"run {run.id}",
        )
        if "shrinkage" not in run.hyperparams:
            return None
        ratios = [n.ratio for n in novelties]
        pick = _generic_pick(trust, space)
        held = trust.margin(1.0) is not None and pick >= 0  # as Scored.order: a calibrated margin
        picks = np.full(len(targets), pick if held else -1)
        margins = np.array([trust.margin(r) or 0.0 for r in ratios])
        expected: dict[str, Any] = {}

        def ranking() -> Any:
            expected["shrunk"] = self._shrunk(run, space, vectors, shifts, targets, trust, chosen, ratios, untrained)
            return hold_generic(expected["shrunk"], picks, margins)

        timer.add(
            "Model2Vec (shrunk)", ranking, 1, "the recommend ranking: shrunk toward each expert's prior by novelty"
        )
        return expected["shrunk"]

    def _hybrids(
        self,
        timer: MethodTimer,
        trust: RunTrust,
        novelties: list[Any],
        anchor: int,
        models: int,
        preferred: Any = None,
        shrunk: Any = None,
        architectures: Sequence[str] = (),
        screening: Any = None,
    ) -> None:
        """Add the verified rankings of ``recommend --verify`` over the default ranking (the shrunk one when the
        run has a shrinkage): top 3, top 5 (plain and screened) and auto, each shortlist holding the generic pick
        and, with a calibrated margin, drawn from :data:`zoo.api.verify.VERIFY_POOL`'s candidates as recommend's.
        ``anchor``: the generic pick's column (:func:`_generic_pick`; -1: none); ``screening`` ``[T]``: the tasks
        whose screen can tell experts apart (elsewhere it is skipped, as recommend skips it)."""
        import numpy as np

        from zoo.api.recommend import EXTRAPOLATION_TRUST
        from zoo.api.verify import VERIFY_POOL, hybrid_methods
        from zoo.shrinkage import verify_candidates

        by_name = {m.name: m for m in timer.methods}
        default = by_name.get("Model2Vec (shrunk)", by_name["Model2Vec"]).scores
        logme = -by_name["logme"].scores
        extrapolates = np.array([trust.weight(n) < EXTRAPOLATION_TRUST for n in novelties])
        picks = np.full(len(novelties), anchor)
        per_pass = by_name["logme"].seconds_per_task / max(models, 1)
        screen = by_name[f"{SCREEN_SCORER}-screen"]
        margins = [trust.margin(n.ratio) for n in novelties]
        candidates = None
        if shrunk is not None and all(m is not None for m in margins):
            candidates = verify_candidates(VERIFY_POOL, shrunk, picks, np.array(margins), architectures)
        timer.methods += hybrid_methods(
            default,
            logme,
            picks,
            extrapolates,
            per_pass,
            (3, 5),
            preferred=preferred,
            screen=-screen.scores,
            screen_seconds=screen.seconds_per_task,
            candidates=candidates,
            screening=screening,
        )

    def _shrunk(
        self,
        run: Model2VecRun,
        space: EmbeddingSpace,
        vectors: Any,
        shifts: Any,
        targets: Any,
        trust: RunTrust,
        names: list[str],
        ratios: list[float],
        untrained: Sequence[str] = (),
    ) -> Any:
        """``[T, M]`` the expected errors recommend gives the tasks ``names`` (embeddings ``targets`` ``[T, D]``,
        novelty ratios ``ratios``): :meth:`zoo.api.ranking.RunTrust.shrunk` of the raw errors with the models
        ``untrained`` counted as average (:func:`zoo.api.ranking.cold_start`), as :func:`score_models` calls it."""
        import numpy as np

        from zoo.api.folds import task_difficulties
        from zoo.api.ranking import cold_start
        from zoo.embedding.distance import ALPHA, d_asym_matrix
        from zoo.model2vec import expected_error

        difficulty = task_difficulties(self.store, space.probe, space.method, names)
        alpha = float(run.hyperparams.get("alpha", ALPHA))
        raw = expected_error(
            d_asym_matrix(vectors, targets, space.t0, alpha).T + shifts[None, :],
            tuple(run.hyperparams.get("error_map", (0.0, 1.0))),
            run.hyperparams.get("error_link", "identity"),
        )
        models = [m.name for m in space.models]
        raw = cold_start(raw, np.array([m not in set(untrained) for m in models]))
        return np.array([trust.shrunk(raw[i], models, ratios[i], float(difficulty[i])) for i in range(len(targets))])

    def scorer_matrix(
        self,
        scorer: str,
        tasks: Sequence[str],
        models: Sequence[Model],
        max_samples: int | None,
        progress: bool = False,
        *,
        device: str = "auto",
        share: float = 0.0,
    ) -> Any:
        """``[T, M]`` minus the scorer's value (lower = better) of every model on every task's images: the matrix
        of :func:`zoo.api.scorer_matrix.timed_scorer_matrix` (cached as computed; on Ray with :attr:`ray_address`)."""
        return self.timed_scorer_matrix(scorer, tasks, models, max_samples, progress, device=device, share=share)[0]

    def timed_scorer_matrix(
        self,
        scorer: str,
        tasks: Sequence[str],
        models: Sequence[Model],
        max_samples: int | None,
        progress: bool = False,
        *,
        device: str = "auto",
        share: float = 0.0,
    ) -> tuple[Any, float]:
        """(:meth:`scorer_matrix`, what it cost in seconds per task): :func:`zoo.api.scorer_matrix.timed_scorer_matrix`
        on this judge's registry and Ray address."""
        from zoo.api.scorer_matrix import timed_scorer_matrix

        return timed_scorer_matrix(
            self.store,
            scorer,
            tasks,
            models,
            max_samples,
            progress,
            device=device,
            share=share,
            ray_address=self.ray_address,
        )


def _generic_pick(trust: RunTrust, space: EmbeddingSpace, fallback: Any = None) -> int:
    """The column of the generic pick as recommend takes it (:func:`zoo.api.ranking.generic_position` of the run's
    priors); without priors the lowest of ``fallback`` ``[M]`` (the mean error over the run's training tasks),
    else -1."""
    import math

    import numpy as np

    from zoo.api.ranking import generic_position

    names = [m.name for m in space.models]
    pick = generic_position(names, [trust.prior.get(n, math.nan) for n in names])
    if pick is not None:
        return pick
    if fallback is not None and np.isfinite(fallback).any():
        return int(np.nanargmin(fallback))
    return -1


def _calibration(shrunk: Any, default: Any, trust: RunTrust, novelties: list[Any], truth: Any) -> dict:
    """How far the default ranking's expected errors ``shrunk`` ``[T, M]`` are from the measured ``truth``
    (mean absolute error in points) and the share of measured errors inside the run's 80% interval: over
    every measured pair, and over the pairs of the first :data:`SHOWN` experts of the default ranking's
    scores ``default`` ``[T, M]`` (what recommend shows)."""
    import numpy as np

    from zoo.selection import top_k_mask

    ratio = np.array([n.ratio for n in novelties])
    low, high = trust.shrinkage.interval.bounds(shrunk, ratio)
    ok = np.isfinite(truth) & np.isfinite(shrunk)
    inside = (truth >= low) & (truth <= high)
    shown = ok & top_k_mask(default if default is not None else shrunk, SHOWN)
    return {
        "coverage": float(inside[ok].mean()),
        "coverage_shown": float(inside[shown].mean()) if shown.any() else float("nan"),
        "expected_error_mae": 100.0 * float(np.mean(np.abs(truth[ok] - shrunk[ok]))),
    }


def _held_out(run: Model2VecRun, space: EmbeddingSpace, errors: Any, tasks: Sequence[str] | None) -> list[str]:
    """The tasks to judge on: those given, else the run's excluded tasks with results, else its validation tasks."""
    import numpy as np

    row_of = {t: i for i, t in enumerate(space.task_names)}
    excluded = [
        t for t in run.hyperparams.get("excluded_tasks") or [] if t in row_of and np.isfinite(errors[row_of[t]]).any()
    ]
    chosen = list(tasks) if tasks else (excluded or list(run.metrics.get("val_tasks") or []))
    missing = [t for t in chosen if t not in row_of]
    if not chosen or missing:
        raise InvalidInput(
            f"no held-out tasks to evaluate ({', '.join(missing) or 'the run has none'} "
            f"not embedded with {space.probe}/{space.method}); pass {arg('tasks', 'TASK')} "
            f"or retrain with {arg('val_fraction', 'F')} above 0"
        )
    return chosen


def measured_means(errors: Any) -> Any:
    """``[M]`` each column's mean over its measured (finite) rows of ``errors`` ``[T, M]``; NaN for a model
    never measured there, without numpy's "Mean of empty slice" warning (which reached users)."""
    import numpy as np

    errors = np.asarray(errors, dtype=np.float64)
    measured = np.isfinite(errors)
    counts = measured.sum(axis=0)
    sums = np.where(measured, errors, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
