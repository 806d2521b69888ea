"""LogME verification of a recommendation's shortlist: K forward passes on the query's own images.

The order is :func:`zoo.selection.hybrid_scores` (the same code ``bench evaluate`` judges as
"Model2Vec + LogME top-K"): the shortlist by LogME, then the rest in their order. The recommender
builds the shortlist (it always holds the generic pick for K >= 2, and only eligible experts: those of an
architecture :data:`VERIFY_POOL` admits, :func:`zoo.shrinkage.verify_candidates`); this module scores and
re-ranks it, locally or on Ray.

With a screen (the default), the shortlist is :func:`zoo.selection.screened_scores`'s ("Model2Vec +
screened LogME top-K" in ``bench evaluate``): every candidate's score on a class-balanced
:data:`SCREEN_FRACTION` of the images proposes experts the learned ranking places low (a left-out
collection's specialists), alternately with the default ranking. The score is
:func:`zoo.scorers.logme_gain` (LogME against label-permuted LogME): raw LogME on so few images mostly
ranks the features' width. The screened experts' features of that share are kept, so the shortlist's
full pass reads only the other images: M * f + K * (1 - f) passes, M the eligible experts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, ZooError, arg
from zoo.selection import SCREEN_DECIMALS as SCREEN_DECIMALS  # re-exported: screen values tie to this many decimals

if TYPE_CHECKING:
    from registry.store import Store
    from zoo.api.recommend import Recommendation

#: the shortlist ``verify="auto"`` re-ranks by LogME when the query extrapolates or the first pick is not generic
AUTO_VERIFY = 5
#: the share of the query's images every candidate's screen reads (fixed before any fold was judged)
SCREEN_FRACTION = 0.1
#: which experts a verification may shortlist (:func:`zoo.shrinkage.verify_candidates`): those of an architecture
#: whose best expert's expected error is within the hold margin of the generic pick's (LogME cannot see how
#: an architecture fine-tunes; pre-registered and judged in docs/figures/arch-preregistration.md)
VERIFY_POOL = "architecture"
#: what the screen scores on that share (:func:`zoo.scorers.logme_gain`: raw LogME on a few images ranks the
#: experts by their feature width; chosen on new-source set 1, docs/figures/screen-preregistration.md)
SCREEN_SCORER = "logme-gain"


def verify(
    store: Store,
    recs: list[Recommendation],
    data: Any,
    top: int,
    *,
    progress: bool,
    ray_address: str | None = None,
    gpus_per_task: float = 0,
    screen: Screen | None = None,
) -> list[Recommendation]:
    """LogME on each of the first ``top`` experts' features of ``data``, and the shortlist re-ranked by it.

    ``model2vec_rank`` keeps the order before, ``verified_rank`` the LogME rank in the shortlist.
    ``ray_address``: one Ray task per scoring, no model pickled (:func:`zoo.api.jobs_units.logme_scores`).
    ``screen``: the :class:`Screen` that proposed part of the shortlist; its scores go on each
    recommendation, its features of the screened share are reused (locally; on Ray every scoring reads
    all the images).
    """
    import dataclasses

    import numpy as np

    from zoo.selection import hybrid_scores

    if ray_address:
        from zoo.api.jobs_units import logme_scores

        shortlist = [rec.model for rec in recs[:top]]
        kwargs = {"ray_address": ray_address, "gpus_per_task": gpus_per_task, "progress": progress}
        scores = logme_scores(store, shortlist, data, **kwargs)
    else:
        full = screen or Screen(query_images(store, data, progress), 0.0)
        shortlist = recs[:top]
        scores = {}
        for i, rec in enumerate(shortlist, start=1):
            try:
                scores[rec.model] = full.full(rec, progress, desc=f"verify {i} of {len(shortlist)}: {rec.model}")
            except ZooError as err:  # unverified, ranked after the verified ones of the shortlist
                warnings.warn(f"the verification skipped {rec.model}, which cannot be loaded ({err})", stacklevel=2)
    logme = np.array([[scores.get(r.model, np.nan) for r in recs]])
    before = np.arange(len(recs), dtype=np.float64)[None, :]
    order = np.argsort(hybrid_scores(before, logme, top)[0], kind="stable")
    ranked = sorted(scores, key=lambda m: -scores[m])
    return [
        dataclasses.replace(
            recs[j],
            rank=rank,
            model2vec_rank=recs[j].rank,
            logme=scores.get(recs[j].model),
            verified_rank=(ranked.index(recs[j].model) + 1) if recs[j].model in scores else None,
            screen=screen.scores.get(recs[j].model) if screen else None,
        )
        for rank, j in enumerate(order, start=1)
    ]


def query_images(store: Store, data: Any, progress: bool = False) -> Any:
    """The labelled images of a folder, a Dataset (or LabelledImages), or a registered task whose data is a
    local folder (given by name or as its stored embedding; ``progress``: a bar while the image files are
    checked)."""
    from zoo.data import load_labelled, local_path

    if hasattr(data, "vector") and isinstance(getattr(data, "task", None), str):  # a stored task embedding
        data = data.task
    elif not isinstance(data, (str, Path)) and not hasattr(data, "vector") and not hasattr(data, "shape"):
        return load_labelled(data, progress=progress)  # a Dataset or LabelledImages
    path = Path(data) if isinstance(data, (str, Path)) and path_exists(data) else None
    if path is None and isinstance(data, str):
        path = local_path(store.get_task(data).data_uri)
    if path is None or not path.exists():
        raise InvalidInput(
            f"{arg('verify', 'K')} needs the images: pass a folder, or a task whose data_uri is a local folder"
        )
    return load_labelled(path, progress=progress)


def path_exists(path: Any) -> bool:
    """Whether ``path`` names a file or folder here (a name too long for the file system names neither)."""
    try:
        return Path(path).exists()
    except OSError:
        return False


def screen_size(images: Any, fraction: float) -> int:
    """How many of labelled ``images`` a screen reads: ``fraction`` of them (rounded up), at least one per class."""
    import math

    count = len(images.labels)
    return min(count, max(len(set(images.labels)), math.ceil(fraction * count)))


class Screen:
    """:data:`SCREEN_SCORER` of candidates on a class-balanced ``fraction`` of labelled ``images`` (the draw
    ``max_samples`` makes), keeping their features so :meth:`full` (LogME) reads only the other images.
    ``fraction`` 0: nothing screened, :meth:`full` is LogME on every image."""

    def __init__(self, images: Any, fraction: float) -> None:
        self.part, self.rest = screen_share(images, fraction)
        self.features: dict[str, Any] = {}
        self.scores: dict[str, float] = {}

    def run(self, recs: Sequence[Recommendation], progress: bool) -> dict[str, float]:
        """{model: the screen's score on its share} of every one of ``recs`` (one loaded network at a time)."""
        from tqdm.auto import tqdm

        from zoo.networks import extract_features
        from zoo.scorers import SCORERS

        score = SCORERS[SCREEN_SCORER][1]
        for rec in tqdm(recs, desc="screen", unit="expert", disable=not progress):
            try:
                network = rec.load()
            except ZooError as err:  # one expert that cannot be loaded proposes nothing; the rest go on
                warnings.warn(f"the screen skipped {rec.model}, which cannot be loaded ({err})", stacklevel=2)
                continue
            self.features[rec.model] = extract_features(network, self.part, progress=False)
            self.scores[rec.model] = score(self.features[rec.model], self.part.labels)
        return dict(self.scores)

    def run_on_ray(self, store: Store, recs: Sequence[Recommendation], data: Any, **ray: Any) -> dict[str, float]:
        """:meth:`run` as one Ray task per candidate (:func:`zoo.api.jobs_units.logme_scores` on the same
        class-balanced share of ``data``); only the scores come back. ``ray``: ``ray_address``,
        ``gpus_per_task``, ``progress``."""
        from zoo.api.jobs_units import logme_scores

        models = [rec.model for rec in recs]
        size = len(self.part.labels)
        self.scores = logme_scores(store, models, data, max_samples=size, scorer=SCREEN_SCORER, **ray)
        return dict(self.scores)

    def full(self, rec: Recommendation, progress: bool, desc: str = "features") -> float:
        """LogME of ``rec`` on every image: the screened share's features reused, the rest computed (``desc``:
        the bar's label over that pass)."""
        import numpy as np

        from zoo.networks import extract_features
        from zoo.scorers import logme

        parts, labels = [], []
        network = None
        for share in (self.part, self.rest):
            if not share.labels:
                continue
            if share is self.part and rec.model in self.features:
                parts.append(self.features[rec.model])
            else:
                network = network or rec.load()
                parts.append(extract_features(network, share, progress=progress, desc=desc))
            labels += share.labels
        return logme(np.concatenate(parts), np.asarray(labels))


def screen_discriminates(images: Any, fraction: float) -> bool:
    """Whether a screen of ``fraction`` of labelled ``images`` can tell experts apart: its share holds more
    images than classes. With one image per class the screen's score, LogME's gain over relabelled classes,
    is 0 for every expert (relabelling one image per class only renames the classes), so its passes would
    buy nothing and the shortlist is the ranking's top K either way (:func:`zoo.selection.screened_scores`
    ties go to the ranking)."""
    return fraction > 0 and screen_size(images, fraction) > len(set(images.labels))


def screen_share(images: Any, fraction: float) -> tuple[Any, Any]:
    """(the screened share, the other images) of labelled ``images``: the class-balanced draw of
    :func:`screen_size` that ``load_labelled(max_samples=...)`` makes of the same images (seed 0)."""
    from zoo.data import balanced_indices

    size = screen_size(images, fraction) if fraction > 0 else 0
    keep = set(balanced_indices(images.labels, size, seed=0)) if size else set()
    return images.subset(sorted(keep)), images.subset([i for i in range(len(images.labels)) if i not in keep])


def verify_count(verify: int | str, extrapolates: bool, disagrees: bool = False) -> int:
    """How many experts to verify: a number, or ``"auto"``: AUTO_VERIFY when the query extrapolates or the
    learned ranking's first pick is not the generic one (``disagrees``), else 0 (the two agree, nothing to check).
    """
    if verify == "auto":
        return AUTO_VERIFY if extrapolates or disagrees else 0
    try:
        count = int(verify)
    except (TypeError, ValueError):
        raise InvalidInput(f"{arg('verify', 'K')} must be a whole number or 'auto', got {verify!r}") from None
    if count < 0:
        raise InvalidInput(f"{arg('verify', 'K')} must be at least 0, got {count}")
    return count


def hybrid_methods(
    default: Any,
    logme: Any,
    generic: Any,
    extrapolates: Any,
    per_pass: float,
    ks: Sequence[int],
    *,
    unanchored: bool = False,
    preferred: Any = None,
    screen: Any = None,
    screen_seconds: float = 0.0,
    candidates: Any = None,
    screening: Any = None,
) -> list[Any]:
    """The verified rankings a report judges, as :class:`zoo.selection.MethodScores`.

    ``default`` ``[T, M]`` is the default ranking's scores (lower = better), ``logme`` ``[T, M]`` LogME
    (higher = better), ``generic`` ``[T]`` each task's generic pick, ``extrapolates`` ``[T]`` whether the
    query extrapolates, ``per_pass`` the seconds of one forward pass. One row per K of ``ks`` (the shortlist
    holds the generic pick; with ``unanchored`` also without it) and one for ``verify="auto"``: the
    anchored top :data:`AUTO_VERIFY` where the query extrapolates or Model2Vec's own first pick
    (``preferred`` ``[T]``, before the generic pick is held first; default: the default ranking's first)
    is not generic, the default ranking elsewhere (its passes are the mean over tasks).

    ``screen`` ``[T, M]`` (optional): :data:`SCREEN_SCORER` on the :data:`SCREEN_FRACTION` share (higher =
    better), measured in ``screen_seconds`` per task. It adds one "screened" row per K
    (:func:`zoo.selection.screened_scores`: M * f + K * (1 - f) passes), and the auto row screens too, as
    ``recommend --verify auto`` does.

    ``candidates`` ``[T, M]`` (optional, bool): the experts every verification may shortlist
    (:func:`zoo.shrinkage.verify_candidates`); the screen then scores only those, and its passes count them alone.
    ``screening`` ``[T]`` (optional, bool): the tasks whose screen can tell experts apart
    (:func:`screen_discriminates`); elsewhere the screen is skipped, as recommend skips it: no screen passes,
    the ranking's shortlist.
    """
    import numpy as np

    from zoo.selection import MethodScores, hybrid_scores, screened_scores

    def verified(d: Any, m: Any, g: Any, k: int, s: Any, c: Any) -> Any:
        return hybrid_scores(d, m, k, g, c) if s is None else screened_scores(d, s, m, k, g, c)

    experts = default.shape[1]
    screening = np.ones(len(default), dtype=bool) if screening is None else np.asarray(screening, dtype=bool)
    if screen is not None:  # a skipped screen proposes nothing (NaN), so the shortlist is the ranking's
        screen = np.where(screening[:, None], np.asarray(screen, dtype=np.float64), np.nan)

    def share(screened: Any) -> Any:
        """[T] the screened share a shortlisted expert reuses (0 where the screen was skipped or is absent)."""
        return np.where(screened, SCREEN_FRACTION, 0.0) if screen is not None else np.zeros(len(default))

    pool = np.full(len(default), float(experts)) if candidates is None else np.sum(candidates, axis=1).astype(float)

    def cost(k: Any, screened: Any) -> tuple[float, float]:
        """(seconds, passes) per task, the mean over tasks, of shortlists of ``k`` (``[T]`` or one for all) where
        the tasks ``screened`` ``[T]`` (bool) screen their candidates (the screen's seconds, measured over
        every expert on every task, scale with how many)."""
        if not len(pool):
            return 0.0, 0.0
        k = np.minimum(np.broadcast_to(np.asarray(k, dtype=np.float64), pool.shape), pool)  # candidates only
        screened = np.asarray(screened, dtype=bool) & (k < pool)  # a shortlist of every candidate needs no screen
        f = share(screened)
        read = np.where(screened, pool, 0.0)  # experts screened per task
        seconds = per_pass * k * (1 - f) + screen_seconds * read / max(experts, 1)
        return float(np.mean(seconds)), float(np.mean(read * f + k * (1 - f)))

    out = []
    for k in ks:
        note = "shortlist by the default ranking with the generic pick, re-ranked by LogME"
        seconds, passes = cost(k, np.zeros(len(pool), dtype=bool))
        scores = hybrid_scores(default, logme, k, generic, candidates)
        out.append(MethodScores(f"Model2Vec + LogME top-{k}", scores, seconds, passes, note))
        if unanchored:
            note = "shortlist by the default ranking alone, re-ranked by LogME"
            scores = hybrid_scores(default, logme, k, None, candidates)
            out.append(MethodScores(f"Model2Vec + LogME top-{k} (no anchor)", scores, seconds, passes, note))
        if screen is not None:
            note = "the generic pick, then the screen's and the default ranking's best in turn, re-ranked by LogME"
            seconds, passes = cost(k, screening)
            scores = screened_scores(default, screen, logme, k, generic, candidates)
            out.append(MethodScores(f"Model2Vec + screened LogME top-{k}", scores, seconds, passes, note))
    if preferred is None:
        preferred = [int(np.nanargmin(row)) for row in default]
    counts = [verify_count("auto", bool(x), int(p) != int(g)) for x, p, g in zip(extrapolates, preferred, generic)]
    rows = [
        verified(
            d[None],
            m[None],
            np.array([g]),
            k,
            None if screen is None else screen[t][None],
            None if candidates is None else candidates[t][None],
        )[0]
        if k
        else d
        for t, (d, m, g, k) in enumerate(zip(default, logme, generic, counts))
    ]
    seconds, passes = cost(
        np.array(counts, dtype=np.float64), np.array([k > 0 for k in counts], dtype=bool) & screening
    )
    how = "screened top" if screen is not None else "top"
    note = f"{how} {AUTO_VERIFY} with the generic pick re-ranked by LogME where it extrapolates or disagrees"
    out.append(MethodScores("Model2Vec + LogME auto", np.array(rows), seconds, passes, note))
    return out
