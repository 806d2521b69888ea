"""Leave-one-collection-out: Model2Vec runs that never saw a whole collection of tasks, and what they teach.

A collection is the first segment of a task's taxonomy (``scripts/...``,
``emoji/...``; a bench union task ``union/<group>/<collection>`` belongs to
its last segment). A fold run is trained with every task of its left-out
collections excluded (training and early stopping) on top of the base run's
own exclusions, so its predictions on those tasks are predictions on a source
it never saw. :func:`fit_run_shrinkage` fits :mod:`zoo.shrinkage` on them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.api.training import Fitted, Model2VecTraining, Prepared
    from zoo.shrinkage import Difficulty, FoldExample, Shrinkage


def collection_of(taxonomy: str | None) -> str | None:
    """The collection a taxonomy path belongs to (None without a taxonomy)."""
    if not taxonomy:
        return None
    parts = taxonomy.split("/")
    return parts[-1] if parts[0] == "union" and len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class FoldRun:
    """One run with ``left_out`` collections unseen: expected errors ``[T, M]``, priors ``[M]``, novelty reference."""

    left_out: tuple[str, ...]
    fitted: Fitted | None  # None when read back from a FoldCache
    expected: Any  # [T, M]
    prior: Any  # [M]
    reference: Any  # [S] each seen task's d_sym to its nearest other seen task
    seen: tuple[int, ...]  # rows of the seen tasks in the space


@dataclass(frozen=True)
class RunShrinkage:
    """What a stored run carries about trust: the fitted shrinkage and its novelty reference distances."""

    shrinkage: Shrinkage
    reference: Any  # [S]


class FoldContext:
    """Everything fold runs share for one base run: collections, d_sym between tasks, the truth ``[T, M]``."""

    def __init__(self, training: Model2VecTraining, base: Prepared) -> None:
        import numpy as np

        from zoo.embedding.distance import d_sym_matrix
        from zoo.model2vec import error_matrix

        self.training, self.base = training, base
        space = base.space
        tasks = {t.name: t for t in training.store.list_tasks()}
        self.collection = {
            name: collection_of(tasks[name].taxonomy if name in tasks else None) for name in space.task_names
        }
        matrix = d_sym_matrix(space.task_vectors, space.task_vectors)
        self.dsym = (matrix + matrix.T) / 2.0
        chosen = [
            r
            for r in base.selected.recorded
            if r.metric == base.selected.metric and r.protocol == base.selected.protocol
        ]
        self.truth = error_matrix(
            ((r.task, r.model, r.value) for r in chosen), space.task_names, [m.name for m in space.models]
        )
        self.measured = [t for i, t in enumerate(space.task_names) if np.isfinite(self.truth[i]).any()]
        self.row = {t: i for i, t in enumerate(space.task_names)}
        self.difficulty = task_difficulties(training.store, space.probe, space.method, space.task_names)

    def collections(self) -> list[str]:
        """The collections of the measured tasks the base run may learn from (only they can be left out)."""
        held = set(self.base.selected.excluded)
        return sorted({c for t in self.measured if t not in held and (c := self.collection[t]) is not None})

    def run(self, left_out: Iterable[str], *, progress: bool = False) -> FoldRun:
        """Train (without storing) a run that never sees the tasks of ``left_out``."""
        from zoo.shrinkage import nn_distances

        left = tuple(sorted(set(left_out)))
        fitted = self.training.fit(
            self.base.excluding(t for t, c in self.collection.items() if c in left), progress=progress
        )
        seen = tuple(self.row[t] for t in fitted.seen_tasks)
        rows = list(seen)
        reference = nn_distances(self.dsym[rows][:, rows]) if len(rows) > 1 else self.dsym[rows][:, rows].ravel()
        return FoldRun(left, fitted, fitted.expected_errors(), fitted.prior_errors(), reference, seen)

    def examples(self, fold: FoldRun, tasks: Sequence[str]) -> list[FoldExample]:
        """One :class:`zoo.shrinkage.FoldExample` per measured task of ``tasks`` the fold run never saw."""
        from zoo.shrinkage import FoldExample, novelty

        seen_names = {self.base.space.task_names[i] for i in fold.seen}
        unseen = [t for t in tasks if t in self.row and t not in seen_names and t in set(self.measured)]
        if not unseen:
            return []
        rows = [self.row[t] for t in unseen]
        near = novelty(self.dsym[rows][:, list(fold.seen)], fold.reference)
        offsets = self.difficulty_of(fold).offset(self.difficulty[rows])
        return [
            FoldExample(
                t, fold.expected[r], fold.prior, self.truth[r], n.ratio, self.collection[t] in fold.left_out, float(o)
            )
            for t, r, n, o in zip(unseen, rows, near, offsets)
        ]

    def difficulty_of(self, fold: FoldRun) -> Difficulty:
        """The fold run's difficulty offset, fitted on its seen tasks' measured errors (:func:`fit_difficulty`)."""
        from zoo.shrinkage import fit_difficulty

        seen = list(fold.seen)
        return fit_difficulty(self.difficulty[seen], self.truth[seen], fold.prior)

    def fit_examples(self, fold: FoldRun, skip: Callable[[str], bool] = lambda t: False) -> list[FoldExample]:
        """A fold run's fitting examples: its left-out collections' measured tasks (novel) and the base
        run's excluded tasks of other collections (familiar), minus any task ``skip`` names."""
        novel = [t for t in self.measured if self.collection[t] in fold.left_out]
        familiar = [t for t in self.base.selected.excluded if self.collection.get(t) not in fold.left_out]
        return [e for e in self.examples(fold, novel + familiar) if not skip(e.task)]


def task_difficulties(store: Any, probe: str, method: str, names: Sequence[str]) -> Any:
    """``[T]`` each task's difficulty (:func:`zoo.shrinkage.difficulty_of`) from its ``probe``/``method``
    embedding's params; NaN for a task without one."""
    import numpy as np

    from zoo.shrinkage import difficulty_of

    by_task = {e.task: difficulty_of(e.params) for e in store.list_task_embeddings(probe=probe, method=method)}
    return np.array([by_task.get(t, np.nan) for t in names], dtype=np.float64)


def cache_key(context: FoldContext, max_samples: int | None) -> str:
    """What fold runs and scorer matrices depend on: the registry's rows and the runs' settings."""
    import dataclasses
    import hashlib
    import json

    base, store = context.base, context.training.store
    state = {
        "tokens": [store.revision_token(kind) for kind in ("models", "task_embeddings")],
        "counts": store.counts(),
        "excluded": base.selected.excluded,
        "config": dataclasses.asdict(base.config),
        "own_task_pairs": base.own_task_pairs,
        "probe": base.space.probe,
        "max_samples": max_samples,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:16]


class FoldCache:
    """Fold runs and scorer matrices on disk under ``folder``, valid for one ``key`` (the registry's state and
    the runs' settings), so an interrupted leave-out report resumes where it stopped."""

    def __init__(self, folder: Path | None, key: str) -> None:
        self.folder, self.key = folder, key

    def _path(self, kind: str, name: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{kind}-{name}-{self.key}.npz"

    def load_run(self, left_out: Sequence[str]) -> FoldRun | None:
        import numpy as np

        path = self._path("fold", "+".join(sorted(left_out)))
        if path is None or not path.is_file():
            return None
        with np.load(path) as data:
            return FoldRun(
                tuple(sorted(left_out)),
                None,
                data["expected"],
                data["prior"],
                data["reference"],
                tuple(int(i) for i in data["seen"]),
            )

    def clear(self) -> None:
        """Remove every file of this key (fold runs and scorer matrices)."""
        if self.folder is not None and self.folder.is_dir():
            for path in self.folder.glob(f"*-{self.key}.npz"):
                path.unlink(missing_ok=True)

    def save_run(self, run: FoldRun) -> None:
        import numpy as np

        path = self._path("fold", "+".join(run.left_out))
        if path is not None:
            _save_npz(
                path,
                expected=run.expected,
                prior=run.prior,
                reference=np.asarray(run.reference),
                seen=np.asarray(run.seen, dtype=np.int64),
            )

    def load_scores(self, scorer: str, collection: str) -> tuple[Any, float] | None:
        path = self._path(f"scores-{scorer}", collection)
        if path is None or not path.is_file():
            return None
        import numpy as np

        with np.load(path) as data:
            return data["scores"], float(data["seconds"])

    def save_scores(self, scorer: str, collection: str, scores: Any, seconds: float) -> None:
        path = self._path(f"scores-{scorer}", collection)
        if path is not None:
            _save_npz(path, scores=scores, seconds=seconds)


def _save_npz(path: Path, **arrays: Any) -> None:
    """Write arrays to ``path`` atomically (a temporary file, then a rename)."""
    import os

    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, path)


def fit_run_shrinkage(
    training: Model2VecTraining, base: Fitted, *, progress: bool = False, log: Callable[[str], None] | None = None
) -> RunShrinkage:
    """The shrinkage of a run to be stored: fitted on one fold run per collection (the default
    when there are fewer than two collections), with the base run's own novelty reference."""
    from dataclasses import replace

    from zoo.shrinkage import Shrinkage, fit_difficulty, fit_shrinkage, nn_distances

    context = FoldContext(training, base.prepared)
    seen = [context.row[t] for t in base.seen_tasks]
    reference = nn_distances(context.dsym[seen][:, seen]) if len(seen) > 1 else []
    difficulty = fit_difficulty(context.difficulty[seen], context.truth[seen], base.prior_errors())
    folds = context.collections()
    if len(folds) < 2:
        return RunShrinkage(Shrinkage(difficulty=difficulty), reference)
    cache = pending_folds(context)
    examples = []
    for i, collection in enumerate(folds, start=1):
        run = cache.load_run([collection])
        done = " (finished by an interrupted run: read back)" if run is not None else ""
        line = f"model2vec: fold run {i} of {len(folds)}, without {collection} (fits the shrinkage){done}"
        if log is not None:
            log(line)
        elif progress:  # each fold's epoch bar looks like the main run's: say which one it is
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stderr)
        if run is None:
            run = context.run([collection], progress=progress)
            cache.save_run(run)
        examples += context.fit_examples(run)
    shrink = replace(fit_shrinkage(examples, folds), difficulty=difficulty)
    cache.clear()  # kept only to resume an interrupted run: a finished one leaves nothing behind
    return RunShrinkage(shrink, reference)


def pending_folds(context: FoldContext) -> FoldCache:
    """Where a run's fold runs wait while it trains (``platformdirs.user_cache_dir("zoo")/fold-runs``), keyed
    by the registry's state and the run's settings, so an interrupted ``train-model2vec`` resumes with the
    folds it finished; :meth:`FoldCache.clear` removes them once the run is fitted."""
    return FoldCache(fold_runs_directory(), cache_key(context, None))


def fold_runs_directory() -> Path:
    """Where :func:`pending_folds` keeps fold runs: ``platformdirs.user_cache_dir("zoo")/fold-runs``."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zoo")) / "fold-runs"
