"""``bench evaluate --leave-out``: selection judged on whole collections Model2Vec never saw.

For each reported collection C, one Model2Vec run is trained with every task
of C excluded (training and early stopping, on top of the registry's own
held-out tasks) and is judged on C's held-out tasks against every baseline.
The shrinkage that run's default ranking uses is fitted on the OTHER
collections' fold runs only, with every task of C skipped, so nothing about
C's tasks chooses it (:mod:`zoo.api.folds`, :mod:`zoo.shrinkage`). The hybrid
re-ranks the default ranking's top K by LogME on the task's images
(:func:`zoo.selection.hybrid_scores`), or a shortlist drawn in turn from it and a cheap LogME screen of
every expert on a tenth of the images (:func:`zoo.selection.screened_scores`, the code
``recommend --verify K`` runs by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, NotFound, arg
from zoo.api.judge import SHOWN
from zoo.api.recommend import EXTRAPOLATION_TRUST
from zoo.api.results import json_safe
from zoo.api.verify import SCREEN_FRACTION, SCREEN_SCORER, VERIFY_POOL, hybrid_methods

if TYPE_CHECKING:
    from zoo.api.folds import FoldCache, FoldContext, FoldRun
    from zoo.api.judge import MethodTimer, SelectionJudge
    from zoo.api.training import Model2VecTraining

HYBRID_K = (3, 5)
#: the cache name of the screen's matrix (SCREEN_SCORER of every expert on the SCREEN_FRACTION share of each task)
SCREEN = f"{SCREEN_SCORER}-screen"
#: the columns the mean over folds averages
MEAN_KEYS = (
    "relative_error",
    "gap_points",
    "top1",
    "top3",
    "kendall_tau",
    "weighted_tau",
    "seconds_per_task",
    "forward_passes_per_task",
)


class LeaveOutJudge:
    """Leave-one-collection-out selection report over the registry's measured tasks."""

    def __init__(self, training: Model2VecTraining, judge: SelectionJudge, verify_pool: str = VERIFY_POOL) -> None:
        self.training = training
        self.judge = judge
        #: which experts every verification row may shortlist (:func:`zoo.shrinkage.verify_candidates`): what
        #: recommend does; another pool is judged by benchmarks/verify_pool.py
        self.verify_pool = verify_pool

    def evaluate(
        self,
        leave_out: Sequence[str],
        *,
        probe: str | None = None,
        scorers: Sequence[str] = (),
        hybrid_k: Sequence[int] = HYBRID_K,
        max_samples: int | None = 200,
        progress: bool = True,
        log: Callable[[str], None] = print,
        cache_dir: str | Path | None = None,
    ) -> dict[str, Any]:
        """``{"folds": [{collection, tasks, rows, coverage, shrinkage, per_task}], "mean": rows, "markdown"}``.

        With ``cache_dir``, fold runs and scorer matrices are kept there and reused by a rerun on the same
        registry and settings (the report resumes).
        """
        from zoo.api.folds import FoldCache, FoldContext, cache_key

        context = FoldContext(self.training, self._base(probe))
        cache = FoldCache(Path(cache_dir) if cache_dir else None, cache_key(context, max_samples))
        collections = context.collections()
        folds = _chosen_folds(leave_out, collections)
        if len(collections) < 2:
            raise InvalidInput(
                f"leaving a collection out needs at least two collections of measured tasks; "
                f"this registry has {', '.join(collections) or 'none'}"
            )
        runs: dict[str, FoldRun] = {}
        for collection in collections:
            cached = cache.load_run([collection])
            if cached is not None:
                runs[collection] = cached
                log(f"leave-out: {collection} left out, fold run read back from the cache")
                continue
            log(f"leave-out: training Model2Vec without {collection}")
            start = time.perf_counter()
            runs[collection] = context.run([collection], progress=progress)
            cache.save_run(runs[collection])
            log(
                f"leave-out: {collection} left out, {len(runs[collection].seen)} tasks seen, "
                f"{time.perf_counter() - start:.0f} s"
            )
        reports = [self._fold(context, runs, c, scorers, hybrid_k, max_samples, progress, cache) for c in folds]
        return _assemble(reports, context)

    def report(self, leave_out: Sequence[str], *, out_dir: str | Path = ".", **kwargs: Any) -> dict[str, Any]:
        """:meth:`evaluate`, written to ``out_dir`` as ``leave-out.json`` and ``leave-out.md`` (paths in ``files``)."""
        import json

        folder = Path(out_dir)
        report = self.evaluate(leave_out, cache_dir=folder / "leave-out-cache", **kwargs)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"json": folder / "leave-out.json", "markdown": folder / "leave-out.md"}
        files["json"].write_text(json.dumps(report, indent=2, default=float))
        files["markdown"].write_text(report["markdown"])
        report["files"] = {k: str(v) for k, v in files.items()}
        return report

    def _base(self, probe: str | None) -> Any:
        """What every fold run shares: the latest run's probe, method and excluded (held-out) tasks."""
        from zoo.embedding import DEFAULT_METHOD

        name = self.training.probes.default(probe, DEFAULT_METHOD)
        excluded: list[str] = []
        try:
            excluded = list(
                self.training.store.latest_model2vec_run(name, DEFAULT_METHOD).hyperparams.get("excluded_tasks") or []
            )
        except NotFound:  # no run yet: nothing is held out beyond the left-out collection
            excluded = []
        return self.training.prepare(probe=name, method=DEFAULT_METHOD, exclude_tasks=excluded)

    def _fold(
        self,
        context: FoldContext,
        runs: dict[str, FoldRun],
        collection: str,
        scorers: Sequence[str],
        hybrid_k: Sequence[int],
        max_samples: int | None,
        progress: bool,
        cache: FoldCache,
    ) -> dict[str, Any]:
        """One collection's report: every method on its held-out tasks, the interval's coverage, spreads."""
        from dataclasses import replace

        from zoo import selection
        from zoo.shrinkage import coverage, coverage_spread, fit_shrinkage, mean_abs_error

        run = runs[collection]
        tasks = _judged(context, collection)
        in_fold = {t for t, c in context.collection.items() if c == collection}
        fitting = []
        for other, other_run in runs.items():
            if other != collection:
                fitting += context.fit_examples(other_run, skip=lambda t: t in in_fold)
        shrink = fit_shrinkage(fitting, [c for c in runs if c != collection])
        examples = context.examples(run, tasks)
        methods = self._methods(context, run, examples, shrink, scorers, hybrid_k, max_samples, progress, cache)
        truth = context.truth[[context.row[e.task] for e in examples]]
        rows = selection.evaluate_methods(methods, truth)
        default = next(m.scores for m in methods if m.name == "Model2Vec")
        shown = selection.top_k_mask(default, SHOWN)
        return {
            "collection": collection,
            "tasks": [e.task for e in examples],
            "rows": json_safe(rows),
            "coverage": coverage(examples, shrink.weight, shrink.interval),
            "coverage_spread": list(coverage_spread(examples, shrink.weight, shrink.interval)),
            "coverage_shown": coverage(examples, shrink.weight, shrink.interval, shown),
            "expected_error_mae": mean_abs_error(examples, shrink.weight),
            "expected_error_mae_without_offset": mean_abs_error(
                [replace(e, offset=0.0) for e in examples], shrink.weight
            ),
            "shrinkage": shrink.as_dict(),
            "per_task": _spreads(examples),
        }

    def _methods(
        self,
        context: FoldContext,
        run: FoldRun,
        examples: list,
        shrink: Any,
        scorers: Sequence[str],
        hybrid_k: Sequence[int],
        max_samples: int | None,
        progress: bool,
        cache: FoldCache,
    ) -> list[Any]:
        """Each method's :class:`zoo.selection.MethodScores` on the fold's judged ``examples``, timed per task."""
        import numpy as np

        from zoo.api.judge import MethodTimer
        from zoo.embedding.distance import ALPHA, d_asym_matrix, d_sym_matrix
        from zoo.shrinkage import blend, hold_generic, trust_weight, verify_candidates

        space = context.base.space
        rows = [context.row[e.task] for e in examples]
        targets, models = space.task_vectors[rows], len(space.models)
        expected, ratio = run.expected[rows], np.array([e.ratio for e in examples])
        offsets = np.array([e.offset for e in examples])
        tasks = [e.task for e in examples]
        timer = MethodTimer(len(rows), _probe_seconds(self.training.store, space, tasks))
        timer.add(
            "generic", lambda: np.tile(run.prior, (len(rows), 1)), 0, "lowest mean error over the fold's seen tasks"
        )
        timer.add("nearest source (d_sym)", lambda: d_sym_matrix(targets, space.sources), 1)
        timer.add("d_asym", lambda: d_asym_matrix(space.sources, targets, space.t0, ALPHA).T, 1)
        timer.add("Model2Vec (no shrinkage)", lambda: expected.copy(), 1, "the fold run's expected errors")
        generic = np.full(len(rows), int(np.nanargmin(run.prior)))
        margins = shrink.interval.half_width(ratio)
        shrunk = blend(expected, run.prior, ratio, shrink.weight, offsets)
        default = timer.add(
            "Model2Vec",
            lambda: hold_generic(shrunk, generic, margins),
            1,
            "shrunk toward the prior by novelty, the generic pick first unless beaten by more than the margin",
        )
        extrapolates = trust_weight(ratio, shrink.weight) < EXTRAPOLATION_TRUST
        preferred = np.nanargmin(shrunk, axis=1)
        self._scorer_methods(
            timer,
            default,
            extrapolates,
            preferred,
            verify_candidates(self.verify_pool, shrunk, generic, margins, [m.arch or m.name for m in space.models]),
            run,
            tasks,
            space.models,
            scorers,
            hybrid_k,
            max_samples,
            progress,
            cache,
        )
        timer.add("oracle", lambda: context.truth[rows].copy(), models, "the measured transfer errors")
        return timer.methods

    def _scorer_methods(
        self,
        timer: MethodTimer,
        default: Any,
        extrapolates: Any,
        preferred: Any,
        candidates: Any,
        run: FoldRun,
        tasks: list[str],
        experts: Sequence[Any],
        scorers: Sequence[str],
        hybrid_k: Sequence[int],
        max_samples: int | None,
        progress: bool,
        cache: FoldCache,
    ) -> None:
        """Add each scorer's ``[T, M]`` matrix of ``experts`` on ``tasks``; when LogME ran, hybrids of ``default``.

        A hybrid re-ranks the default ranking's top K by LogME; it costs K of LogME's forward passes. Its
        shortlist always holds the generic pick (the anchor), so LogME on the query's own images decides
        between the learned ranking's proposals and the safe default; the unanchored variant is reported beside.
        The screened hybrid also runs every expert on the screen's share of the images (one more LogME matrix,
        cached as the others) and shortlists its best in turn with the default ranking's. Every verification
        shortlists only ``candidates`` ``[T, M]`` (None: every expert; :attr:`verify_pool`), as recommend
        does; the screen's passes count those alone.
        """
        import numpy as np

        from zoo import selection
        from zoo.api.scorer_matrix import screens_discriminate

        models = len(experts)
        collection = "+".join(run.left_out)

        def matrix(name: str, scorer: str, share: float = 0.0) -> tuple[Any, float]:
            """(the ``[T, M]`` matrix, seconds per task), from the cache or computed and cached."""
            cached = cache.load_scores(name, collection)
            if cached is None:  # the seconds computing it cost, values read back from the scorer cache included
                cached = self.judge.timed_scorer_matrix(scorer, tasks, experts, max_samples, progress, share=share)
                cache.save_scores(name, collection, *cached)
            return cached

        out = timer.methods
        computed = {scorer: matrix(scorer, scorer) for scorer in scorers}
        for scorer, (scores, seconds) in computed.items():
            out.append(selection.MethodScores(scorer, scores, seconds, models, "forward pass of every expert"))
        if "logme" not in computed:
            return
        logme, logme_seconds = computed["logme"]
        screen = matrix(SCREEN, SCREEN_SCORER, SCREEN_FRACTION)
        note = "every expert on the screen's share of the images (what the screened hybrids read)"
        out.append(selection.MethodScores(SCREEN, *screen, models * SCREEN_FRACTION, note))
        generic = np.full(len(tasks), int(np.nanargmin(run.prior)))
        out += hybrid_methods(
            default,
            -logme,
            generic,
            extrapolates,
            logme_seconds / max(models, 1),
            hybrid_k,
            unanchored=True,
            preferred=preferred,
            screen=-screen[0],
            screen_seconds=screen[1],
            candidates=candidates,
            screening=screens_discriminate(self.judge.store, tasks, max_samples),
        )


def _probe_seconds(store: Any, space: Any, tasks: list[str]) -> float:
    """Mean seconds of the probe pass that embedded ``tasks`` (the Task2Vec methods pay it once per query)."""
    import numpy as np

    wanted = set(tasks)
    seconds = [
        float((e.params or {}).get("seconds") or 0.0)
        for e in store.list_task_embeddings(probe=space.probe, method=space.method)
        if e.task in wanted
    ]
    return float(np.mean(seconds)) if seconds else 0.0


def _chosen_folds(leave_out: Sequence[str], collections: list[str]) -> list[str]:
    """The collections to report: ``all`` means each in turn; unknown names are a one-line error."""
    wanted = sorted(set(collections) if "all" in leave_out else set(leave_out))
    unknown = [c for c in wanted if c not in collections]
    if unknown or not wanted:
        raise InvalidInput(
            f"cannot leave out {', '.join(unknown) or 'nothing'}: {arg('leave_out', 'COLLECTION')} "
            f"takes one of {', '.join(collections) or '(no collections)'} or all"
        )
    return wanted


def _judged(context: FoldContext, collection: str) -> list[str]:
    """The collection's held-out tasks (the registry's excluded ones), else all its measured tasks."""
    measured = set(context.measured)
    held = [t for t in context.base.selected.excluded if context.collection.get(t) == collection and t in measured]
    return held or sorted(t for t in measured if context.collection[t] == collection)


def _spread(report: dict[str, Any]) -> str:
    """The coverage's 90% range over the fold's tasks resampled, as the fold heading prints it."""
    low, high = report["coverage_spread"]
    if low != low:  # no measured pair
        return "no range over resampled tasks"
    return f"{low:.2f}-{high:.2f} over resampled tasks"


def _spreads(examples: list) -> list[dict[str, Any]]:
    import numpy as np

    out = []
    for e in examples:
        errors = e.truth[np.isfinite(e.truth)]
        out.append(
            {
                "task": e.task,
                "experts": int(errors.size),
                "best": float(errors.min()),
                "median": float(np.median(errors)),
                "spread_points": float(100 * (errors.max() - errors.min())),
                "novelty_ratio": float(e.ratio),
            }
        )
    return out


def _assemble(reports: list[dict[str, Any]], context: FoldContext) -> dict[str, Any]:
    """Per-fold tables, the mean over folds, and the Markdown of both."""
    import numpy as np

    from zoo import selection

    names = [row["method"] for row in reports[0]["rows"]]
    mean_rows = []
    for name in names:
        per_fold = [next(r for r in rep["rows"] if r["method"] == name) for rep in reports]
        row = {"method": name, "tasks": int(sum(r.get("tasks", 0) for r in per_fold))}
        for key in MEAN_KEYS:
            values = [r[key] for r in per_fold if r.get(key) is not None]
            row[key] = float(np.mean(values)) if values else None
        mean_rows.append(row)
    lines = [
        f"# Selection on collections Model2Vec never saw ({len(reports)} folds, probe {context.base.space.probe})",
        "",
    ]
    for rep in reports:
        lines += [
            f"## {rep['collection']} left out: {len(rep['tasks'])} held-out tasks; "
            f"80% interval coverage {rep['coverage']:.2f} ({_spread(rep)}; {rep['coverage_shown']:.2f} of the "
            f"default ranking's top {SHOWN}); expected errors off by "
            f"{rep['expected_error_mae']:.1f} points on average "
            f"({rep['expected_error_mae_without_offset']:.1f} without the difficulty offset)",
            "",
            selection.markdown_table(rep["rows"]),
            "",
        ]
    lines += ["## Mean over folds", "", selection.markdown_table(mean_rows), ""]
    return {
        "folds": reports,
        "mean": json_safe(mean_rows),
        "markdown": "\n".join(lines),
        "coverage": {rep["collection"]: rep["coverage"] for rep in reports},
        "coverage_shown": {rep["collection"]: rep["coverage_shown"] for rep in reports},
        "expected_error_mae": {rep["collection"]: rep["expected_error_mae"] for rep in reports},
    }
