"""Recommending experts for new data: the model index, the evidence behind each pick, LogME verification.

Everything a query compares comes from one probe and one method: the
Model2Vec run's. Training lives in :mod:`zoo.api.training`, the indexes in
:mod:`zoo.api.indexes`, judging selection methods in :mod:`zoo.api.judge`.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import AlreadyExists, InvalidInput, NotFound, ProbeMismatch, arg
from zoo.api.results import measured_errors
from zoo.api.verify import AUTO_VERIFY as AUTO_VERIFY  # re-exported: the shortlist of verify="auto"
from zoo.api.verify import SCREEN_FRACTION, path_exists, verify_count
from zoo.api.verify import verify as verify_shortlist
from zoo.embedding import DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.records import Model2VecRun, TaskEmbedding
    from registry.store import Store
    from zoo.api.embedding import Embeddings
    from zoo.api.indexes import Indexes
    from zoo.api.probes import Probes
    from zoo.index import EmbeddingIndex

EVIDENCE_TASKS = 3
#: below this share of Model2Vec's task-dependent term kept, a recommendation extrapolates (see zoo.shrinkage)
EXTRAPOLATION_TRUST = 0.5


@dataclass(frozen=True)
class Evidence:
    """A known task near the query (d_sym) and the model's measured error on it (None if unmeasured)."""

    task: str
    distance: float
    error: float | None


@dataclass(frozen=True)
class Recommendation:
    """One recommended expert: rank, name, expected error with its interval, and the evidence behind it.

    ``model2vec_error`` is the run's calibrated map of ``distance`` (d_asym(m -> task) plus the model's
    learned shift, see :mod:`zoo.model2vec`); ``expected_error`` is that figure shrunk toward the
    model's mean measured error as the query moves away from the tasks the run learned from
    (:mod:`zoo.shrinkage`), and is what the ranking sorts by; ``low``/``high`` bound it (the run's
    calibrated interval, nominally 80%; None for a run without one); the prior is taken at the query's
    ``difficulty`` (its probe head's training error against ``typical_difficulty``, the same of a typical
    task the run learned from; ``difficulty_offset`` is the logit offset, common to every expert, so it
    moves the figures and not the order). The generic pick (lowest prior) ranks first unless another
    expert's expected error is lower by more than ``margin`` (half the interval's width: an advantage
    within the prediction's own uncertainty does not count). ``novelty`` says how far the
    query is from that evidence and ``trust`` how much of the task-dependent term was kept (1: all).
    ``trained`` is False for a model registered after the run (cold start): with no measured result and an
    embedding the run never calibrated, it counts as an expert of average quality (``model2vec_error`` the
    mean of the trained experts' logits on this query, its prior the mean of their priors' logits). ``logme``,
    ``verified_rank`` and ``model2vec_rank`` are set by ``verify``, which re-ranks the shortlist, and
    ``screen`` (the screen's score of every expert, when the shortlist was screened); ``candidate`` says
    whether a verification could shortlist it (:data:`zoo.api.verify.VERIFY_POOL`: the experts of an
    architecture whose best expected error is within the margin of the generic pick's; None without one),
    and ``left_out`` names the allowed architectures it left out (the same on every pick); ``verify_asked`` is
    the shortlist's size asked for and ``shortlisted`` how many were verified (fewer when fewer experts are
    candidates), and
    ``screen_skipped`` says the screen was not run because its share held one image per class
    (:func:`zoo.api.verify.screen_discriminates`).
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
    model2vec_error: float | None = None
    low: float | None = None
    high: float | None = None
    novelty: Any = None  # zoo.shrinkage.Novelty
    trust: float = 1.0
    model2vec_rank: int | None = None
    difficulty: float | None = None  # the query's probe-head training error (how hard the probe finds it)
    typical_difficulty: float | None = None  # the same of a typical task the run learned from
    difficulty_offset: float = 0.0  # the logit offset that difficulty put on every expert's prior
    margin: float | None = None  # how much lower an expected error must be to displace the generic pick
    screen: float | None = None  # the verification screen's score on its share of the images (LogME gain)
    candidate: bool | None = None  # with --verify: whether its architecture let it be verified (VERIFY_POOL)
    left_out: tuple[str, ...] = ()  # with --verify: the architectures none of whose experts could be verified
    screen_skipped: bool = False  # with --verify: the screen's share held one image per class, so it was not run
    verify_asked: int | None = None  # with --verify: the shortlist's size asked for (K, or auto's), before the cap
    shortlisted: int | None = None  # with --verify: how many experts LogME verified (at most the candidates)
    learned_from: int | None = None  # how many tasks with measured results the Model2Vec run learned from

    @property
    def extrapolates(self) -> bool:
        """True when the query is far enough from the evidence that the ranking leans on the prior."""
        return self.trust < EXTRAPOLATION_TRUST

    @property
    def weights_here(self) -> bool:
        """Whether :meth:`load` can find the weights (:func:`_weights_here`)."""
        return _weights_here(self.source)

    def load(self, num_classes: int | None = None):
        """The expert as a timm network with its weights and a fresh ``num_classes`` head (eval mode).

        Weights that are not on this machine raise NotFound naming the command that brings them.
        """
        from registry.errors import NotFound
        from zoo.networks import load_network

        if not self.weights_here:
            remedy = _weights_remedy(self.source.startswith("bench:"), "copy the file there, or")
            raise NotFound(
                f"the weights of {self.model} ({self.source}) are not on this machine: {remedy} "
                f"point the model at its file with `zoo models set-source {self.model} file:PATH`"
            )
        return load_network(self.source, arch=self.arch, num_classes=num_classes, model_name=self.model)


class Recommender:
    """Rank the zoo's experts for a folder, a registered task or a task vector."""

    def __init__(self, store: Store, probes: Probes, embeddings: Embeddings, indexes: Indexes) -> None:
        self.store = store
        self.probes = probes
        self.embeddings = embeddings
        self.indexes = indexes

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
        tags: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        max_params: int | None = None,
        arch: str | None = None,
        ray_address: str | None = None,
        gpus_per_task: float = 0,
        screen: float = SCREEN_FRACTION,
    ) -> list[Recommendation]:
        """The ``k`` experts most likely to transfer well to a folder, a registered task or a vector [D].

        One probe pass for a folder (none for a registered task); every model
        scored exactly from the model index, its Model2Vec error shrunk toward
        its prior by the query's novelty. ``pattern`` (name glob), ``tags``,
        ``max_params`` and ``arch`` (glob) restrict the candidates first: the
        result is the best ``k`` of the allowed set. ``verify`` K re-ranks the
        top K by LogME on their own features (K forward passes: the hybrid of
        :func:`zoo.selection.hybrid_scores`); ``"auto"`` does so with K =
        :data:`AUTO_VERIFY` only when the query extrapolates or the first pick is not the
        generic one. With ``screen`` f > 0 (the default :data:`SCREEN_FRACTION`), every allowed expert's
        LogME gain (:func:`zoo.scorers.logme_gain`) on a class-balanced share f of the images proposes part
        of that shortlist, in turn with the ranking (:func:`zoo.selection.screened_scores`; M * f + K * (1 - f)
        passes); 0 shortlists the ranking's top K alone. ``ray_address`` runs those scorings as Ray tasks
        (``gpus_per_task`` GPUs each).
        """
        from zoo.api.ranking import Constraints, RunTrust, score_models

        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:  # numpy's ints too
            raise InvalidInput(f"{arg('k', 'K')} must be a whole number of at least 1, got {k!r}")
        if isinstance(screen, bool) or not isinstance(screen, numbers.Real) or not 0 <= screen <= 1:
            raise InvalidInput(f"{arg('screen', 'F')} is a share of the images, from 0 to 1; got {screen}")
        constraints = Constraints(pattern, tags, max_params, arch)
        allowed = constraints.allowed(self.store) if constraints.active else None
        try:
            probe_name = self.probes.default(probe, method)
            run, index = self._run_index(probe, probe_name, method, progress=progress)
        except NotFound:
            self._refuse_empty_registry()
            raise
        if verify != "auto" and verify_count(verify, False) > 0:  # before the probe pass, not after it
            _refuse_verify_without_weights(index, allowed)
        saving: list[Callable[[], Any]] = []  # --save's write, done once everything else has succeeded
        vector, task_name, difficulty = self._target_vector(
            data_or_name, probe_name, method, spec=probe, save=save, progress=progress, saving=saving
        )
        if vector.shape[0] != index.vectors.shape[1]:
            raise ProbeMismatch(
                f"the task embedding has {vector.shape[0]} values but probe {probe_name} embeds to "
                f"{index.vectors.shape[1]}; embed it with {arg('probe', probe_name)}"
            )
        tasks = self.indexes.tasks(probe_name, method)  # in memory while fresh: no embedding is read again
        trust = RunTrust.load(self.store, run, tasks.names, tasks.vectors)
        scored = score_models(index, vector, trust, difficulty)
        near, measured = self._evidence(vector, task_name, run, probe_name, method, evidence)
        order = scored.order(allowed)
        rank = {i: r for r, i in enumerate(order, start=1)}
        generic = scored.generic(allowed)
        preferred = scored.order(allowed, hold=False)[0]  # Model2Vec's own first pick, before the generic is held
        top = verify_count(verify, scored.weight < EXTRAPOLATION_TRUST, generic is not None and preferred != generic)
        ray = {"ray_address": ray_address, "gpus_per_task": gpus_per_task, "progress": progress}
        screened, pool = None, order
        if top:
            archs = [str(index.columns["arch"][int(r)]) or n for r, n in zip(scored.rows, scored.names, strict=True)]
            pool = _verify_pool(scored, archs, order, generic)
        asked, top = top, min(top, len(pool))  # a verification lists candidates only
        if top and verify == "auto":  # it chose to verify: refuse as an explicit K does, before the screen
            _refuse_verify_without_weights(index, allowed, auto=True)
        skipped = False
        if top and screen > 0 and top < len(pool):  # a shortlist of every candidate needs no screen
            from zoo.api.verify import Screen, query_images, screen_discriminates

            images = query_images(self.store, data_or_name, ray["progress"])
            if screen_discriminates(images, screen):

                def make(i: int) -> Recommendation:
                    return self._recommendation(rank[i], scored, i, index, [], {})

                order, screened = self._screened(order, pool, make, generic, top, images, screen, data_or_name, ray)
            else:  # one image per class: every expert's screen would read 0, so the shortlist is the ranking's
                skipped, screened = True, Screen(images, 0.0)
                order = _shortlist_first(order, pool, generic, top)
        elif top:  # the shortlist holds the generic pick, so LogME can fall back to the default on the query's images
            order = _shortlist_first(order, pool, generic, top)
        recs = [self._recommendation(rank[i], scored, i, index, near, measured) for i in order[: max(k, top)]]
        if top:
            recs = verify_shortlist(self.store, recs, data_or_name, top, screen=screened, **ray)
            eligible = {scored.names[i] for i in pool}
            left_out = tuple(sorted({archs[i] for i in order} - {archs[i] for i in pool}))
            recs = [
                dataclasses.replace(
                    r,
                    candidate=r.model in eligible,
                    left_out=left_out,
                    screen_skipped=skipped,
                    verify_asked=asked,
                    shortlisted=top,
                )
                for r in recs
            ]
        recs = [dataclasses.replace(r, learned_from=len(trust.seen_names)) for r in recs[:k]]
        for write in saving:  # a failure above (a verification, a bad expert) leaves the registry as it was
            write()
        return recs

    def _screened(
        self,
        order: list[int],
        pool: list[int],
        make: Callable[[int], Recommendation],
        generic: int | None,
        top: int,
        images: Any,
        fraction: float,
        data: Any,
        ray: dict[str, Any],
    ) -> tuple[list[int], Any]:
        """``order`` with :func:`zoo.selection.screened_scores`'s shortlist of ``top`` drawn from ``pool`` (the
        candidates, in ``order``'s order) first, and the :class:`zoo.api.verify.Screen` that scored the pool (its
        features, reused by the verification, stay empty on Ray). ``make`` builds position i's
        :class:`Recommendation` (for its weights)."""
        import numpy as np

        from zoo.api.verify import Screen

        candidates = [make(i) for i in pool]
        screen = Screen(images, fraction)
        if ray["ray_address"]:  # the scores only: each Ray task reads its own share, no features come back
            values = screen.run_on_ray(self.store, candidates, data, **ray)
        else:
            values = screen.run(candidates, ray["progress"])
        proposals = np.array([values.get(rec.model, np.nan) for rec in candidates])
        return _shortlist_first(order, pool, generic, top, proposals), screen

    def _run_index(
        self, probe: str | None, probe_name: str, method: str, *, progress: bool
    ) -> tuple[Model2VecRun, EmbeddingIndex]:
        """The latest run of ``probe_name`` and its model index (a stale index is rebuilt here)."""
        try:
            return self.indexes.models(probe_name, method, progress=progress)
        except NotFound:
            trained = self.probes.with_runs(method)
            if probe is None or not trained:
                raise
            raise ProbeMismatch(
                f"Model2Vec was trained with probe {', '.join(trained)}, not {probe_name}; pass "
                f"{arg('probe', trained[0])} (or `zoo train-model2vec --probe {probe}`)"
            ) from None

    def _evidence(
        self, vector: Any, task_name: str | None, run: Model2VecRun, probe: str, method: str, evidence: int
    ) -> tuple[list[tuple[str, float]], dict[str, dict[str, float]]]:
        """The nearest tasks with measured results, and {task: {model: error}} on them (the run's metric/protocol).

        A task nobody measured shows nothing, so a few more neighbours than
        asked are fetched: some tasks (a bench's probe pool) are embedded but never measured.
        """
        near = self.indexes.nearest_tasks(vector, 4 * evidence + 1, probe, method) if evidence else []
        near = [(t, d) for t, d in near if t != task_name]
        measured: dict[str, dict[str, float]] = {}
        for t, _ in near:
            if len(measured) == evidence:
                break
            found = measured_errors(
                self.store, t, protocol=run.hyperparams.get("protocol"), metric=run.hyperparams.get("metric", "error")
            )
            if found:
                measured[t] = found
        return [(t, d) for t, d in near if t in measured] or near[:evidence], measured

    @staticmethod
    def _recommendation(
        rank: int,
        scored: Any,
        i: int,
        index: EmbeddingIndex,
        near: list[tuple[str, float]],
        measured: dict[str, dict[str, float]],
    ) -> Recommendation:
        import math

        row, name = int(scored.rows[i]), scored.names[i]

        def number(value: float) -> float | None:
            return None if math.isnan(value) else float(value)

        return Recommendation(
            rank=rank,
            model=name,
            distance=float(scored.distance[i]),
            expected_error=float(scored.expected_error[i]),
            model2vec_error=float(scored.model2vec_error[i]),
            low=number(scored.low[i]),
            high=number(scored.high[i]),
            novelty=scored.novelty,
            trust=scored.weight,
            evidence=tuple(Evidence(t, float(d), measured.get(t, {}).get(name)) for t, d in near),
            trained=str(index.columns["trained"][row]) == "1",
            source=str(index.columns["source"][row]),
            arch=str(index.columns["arch"][row]) or None,
            difficulty=scored.difficulty,
            typical_difficulty=scored.typical_difficulty,
            difficulty_offset=scored.offset,
            margin=scored.margin,
        )

    def _target_vector(
        self,
        target: Any,
        probe: str,
        method: str,
        *,
        spec: str | None = None,
        save: str | None = None,
        progress: bool = False,
        saving: list | None = None,
    ) -> tuple[Any, str | None, float | None]:
        """(vector [D], registered task name or None, difficulty or None) for a task name, a folder, a Dataset
        (or :class:`zoo.data.LabelledImages`), an embedding (``embed``'s or a stored one) or a vector.

        The difficulty (:func:`zoo.shrinkage.difficulty_of`) comes from the probe pass's head, kept in an
        embedding's params; a bare vector has none.
        """
        import numpy as np

        from zoo.shrinkage import difficulty_of

        if isinstance(target, (np.ndarray, list, tuple)):
            return np.asarray(target, dtype=np.float64), None, None
        if hasattr(target, "vector") and hasattr(target, "params"):  # an Embedding, or a stored TaskEmbedding
            used = getattr(target.probe, "name", target.probe), target.method
            if used != (probe, method):
                raise ProbeMismatch(
                    f"the embedding was made with {used[0]}/{used[1]}, but the Model2Vec run uses {probe}/{method}; "
                    f"embed the data with {arg('probe', probe)} {arg('method', method)}"
                )
            return (
                np.asarray(target.vector, dtype=np.float64),
                getattr(target, "task", None),
                difficulty_of(target.params),
            )
        if not isinstance(target, (str, Path)):  # a Dataset or LabelledImages: embedded as a folder would be
            return self._embedded(target, probe, method, spec=spec, save=save, progress=progress, saving=saving)
        target = str(target)
        if not target.strip():
            raise InvalidInput(
                f"{arg('data_or_name', 'DIR')} is empty: give a folder of labelled images or a task name"
            )
        if not path_exists(target):
            record = self._registered_embedding(target, probe, method)
            return np.asarray(record.vector, dtype=np.float64), target, difficulty_of(record.params)
        return self._embedded(target, probe, method, spec=spec, save=save, progress=progress, saving=saving)

    def _embedded(
        self,
        target: Any,
        probe: str,
        method: str,
        *,
        spec: str | None,
        save: str | None,
        progress: bool,
        saving: list | None = None,
    ) -> tuple[Any, str | None, float | None]:
        """:meth:`_target_vector` of data to embed (a folder, a Dataset): one probe pass, stored with ``save``:
        appended to ``saving`` as the write to do once the recommendation has succeeded (None: at once)."""
        import numpy as np

        from zoo.shrinkage import difficulty_of

        if save:  # embed once and store it, under the run's probe
            elsewhere = self.embeddings.registered_elsewhere(save, target)
            if elsewhere is not None:
                raise AlreadyExists(
                    f"task {save!r} is registered from {elsewhere}, not {Path(target).expanduser().resolve()}: "
                    f"use another {arg('save', 'NAME')}, or {arg('data_or_name', save)} to use the registered task"
                )
            task, embedding = self.embeddings.prepare_task(
                target, name=save, probe=spec or probe, method=method, progress=progress
            )
            write = functools.partial(self.embeddings.record, task, embedding)
            if saving is None:
                write()
            else:
                saving.append(write)
            return np.asarray(embedding.vector, dtype=np.float64), save, difficulty_of(embedding.params)
        embedding = self.embeddings.embed(target, probe=spec or probe, method=method, progress=progress)
        if embedding.probe.name != probe or embedding.method != method:
            raise ProbeMismatch(
                f"the folder was embedded with {embedding.probe.name}/{embedding.method}, but the "
                f"Model2Vec run uses {probe}/{method}; pass {arg('probe', probe)} "
                f"{arg('method', method)}"
            )
        return np.asarray(embedding.vector, dtype=np.float64), None, difficulty_of(getattr(embedding, "params", None))

    def _refuse_empty_registry(self) -> None:
        """NotFound naming the fix that works when the registry has nothing to rank with (no run, no embedding)."""
        counts = self.store.counts()
        if counts.get("model2vec_runs") or counts.get("task_embeddings"):
            return
        url = self.store.display_url
        raise NotFound(
            f"the registry {url} has no task embeddings and no Model2Vec run to rank experts with; import the "
            f"shipped zoo (its experts, their results and a Model2Vec run) with `zoo --db {url} import --shipped`"
        )

    def _registered_embedding(self, task: str, probe: str, method: str) -> TaskEmbedding:
        """The stored probe/method embedding of the registered ``task``."""
        try:
            self.store.get_task(task)
        except NotFound:
            if _looks_like_path(task):  # a missing path is malformed input (exit 2), like everywhere else
                raise InvalidInput(
                    f"folder {task} does not exist and is not a registered task; "
                    "check the path, or pass a name from `zoo tasks list`"
                ) from None
            raise NotFound(
                f"{task!r} is neither a folder nor a registered task; "
                "pass a folder of labelled images or a name from `zoo tasks list`"
            ) from None
        try:
            return self.store.get_task_embedding(task, probe, method)
        except NotFound:
            others = self.store.list_task_embeddings(task=task)
            if others:
                have = ", ".join(sorted({f"{e.probe}/{e.method}" for e in others}))
                raise ProbeMismatch(
                    f"task {task!r} is embedded with {have}, but the Model2Vec run uses "
                    f"{probe}/{method}; run `zoo embed-task {task} --probe {probe} "
                    f"--method {method}`"
                ) from None
            raise

    def similar_tasks_indexed(
        self, task_or_vector: Any, k: int = 5, *, probe: str | None = None, method: str = DEFAULT_METHOD
    ) -> list[tuple[str, float]]:
        """The ``k`` known tasks nearest (d_sym) to a registered task name, a folder or a vector [D], via the index."""
        probe = self.probes.default(probe, method)
        vector, name, _ = self._target_vector(task_or_vector, probe, method)
        return self.indexes.nearest_tasks(vector, k, probe, method, exclude=name)

    def measured_errors(self, task: str, *, protocol: str | None = None, metric: str = "error") -> dict[str, float]:
        """{model: measured transfer error} on a registered ``task`` (see :func:`zoo.api.results.measured_errors`)."""
        return measured_errors(self.store, task, protocol=protocol, metric=metric)

    def plot_recommendations(self, recs: Sequence[Recommendation], out: str | Path, *, task: str | None = None) -> Path:
        """A chart of the expected errors (and measured ones when ``task`` is registered) via zoo.plots."""
        from zoo.plots import recommendation_chart

        measured: dict[str, float] = {}
        if task is not None:
            try:
                self.store.get_task(task)
                measured = self.measured_errors(task)
            except NotFound:
                pass
        rows = [
            {"model": r.model, "expected_error": r.expected_error, "measured_error": measured.get(r.model)}
            for r in recs
        ]
        return recommendation_chart(rows, out, oracle=min(measured.values()) if measured else None)


def _shortlist_first(order: list[int], pool: list[int], generic: int | None, top: int, screen: Any = None) -> list[int]:
    """``order`` with the verification's shortlist of ``top`` first, drawn from ``pool`` (its candidates, in
    ``order``'s order) and holding the generic pick (:func:`zoo.selection.hybrid_scores`; with the screen's
    values ``[len(pool)]``, :func:`zoo.selection.screened_scores`), the rest after it as they stand."""
    import numpy as np

    from zoo.selection import hybrid_scores, screened_scores

    positions = np.arange(len(pool), dtype=np.float64)[None, :]
    anchor = np.array([pool.index(generic) if generic in pool else -1])
    unread = np.full_like(positions, np.nan)  # no transferability yet: the shortlist keeps the pool's order
    if screen is None:
        ranks = hybrid_scores(positions, unread, top, anchor)[0]
    else:
        ranks = screened_scores(positions, np.asarray(screen, dtype=np.float64)[None, :], unread, top, anchor)[0]
    short = [pool[j] for j in sorted(int(j) for j in np.flatnonzero(ranks < top))]
    return short + [i for i in order if i not in short]


def _verify_pool(scored: Any, archs: Sequence[str], order: list[int], generic: int | None) -> list[int]:
    """The positions of ``order`` (the allowed experts) a verification may shortlist, in that order:
    :data:`zoo.api.verify.VERIFY_POOL`'s candidates (:func:`zoo.shrinkage.verify_candidates`; ``archs`` ``[M]``
    each position's architecture, its name when none is recorded) when the run has a calibrated margin and a
    generic pick, else all of them."""
    import numpy as np

    from zoo.api.verify import VERIFY_POOL
    from zoo.shrinkage import verify_candidates

    if scored.margin is None or generic is None:
        return list(order)
    expected = np.full(len(scored.names), np.nan)
    expected[order] = np.asarray(scored.expected_error)[order]  # the allowed experts only
    margin = np.array([scored.margin])
    mask = verify_candidates(VERIFY_POOL, expected[None, :], np.array([generic]), margin, archs)
    return list(order) if mask is None else [i for i in order if mask[0, i]]


def _looks_like_path(text: str) -> bool:
    """Whether ``text`` reads as a path (``./x``, ``~/x``, ``/x``, ``a/b``) rather than a task's name."""
    return "/" in text or "\\" in text or text.startswith(("~", "."))


def _refuse_verify_without_weights(index: EmbeddingIndex, allowed: set[str] | None, *, auto: bool = False) -> None:
    """NotFound, before any work (``auto``: before any work after the probe pass that chose to verify), when a
    verification could load none of the allowed experts: each one's source is a local file
    (``file:``/``bench:``) that is not on this machine. A remote source (timm:, hf-hub:) counts as reachable,
    and one reachable expert is enough to try (a missing one still fails when it is shortlisted, with its own
    name)."""
    sources = [
        str(source)
        for name, source in zip(index.names, index.columns.get("source", ()), strict=False)
        if allowed is None or name in allowed
    ]
    if not sources or any(_weights_here(source) for source in sources):
        return
    remedy = _weights_remedy(any(source.startswith("bench:") for source in sources), "copy them there, or")
    asked = f"{arg('verify', 'auto')} chose to verify this query, which" if auto else f"{arg('verify', 'K')}"
    raise NotFound(
        f"{asked} loads the experts' weights, and none of the {len(sources)} candidates' is on this "
        f"machine: {remedy} point each model at its file with `zoo models set-source NAME file:PATH`; "
        "the ranking without a verification needs no weights"
    )


def _weights_here(source: str) -> bool:
    """Whether an expert's weights can be loaded here: a remote source (timm:, hf-hub:) or a local file that
    exists."""
    from zoo.networks import local_weights

    path = local_weights(source)
    return path is None or path.is_file()


def _weights_remedy(bench: bool, otherwise: str) -> str:
    """The first fix for weights missing here: the bench's rebuild for ``bench:`` sources, else ``otherwise``."""
    return "run `zoo bench rebuild-experts` to rebuild the bench's experts here, or" if bench else otherwise
