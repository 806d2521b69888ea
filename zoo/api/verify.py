"""LogME verification of a recommendation's shortlist: K forward passes on the query's own images.

The order is :func:`zoo.selection.hybrid_scores` (the same code ``bench evaluate`` judges as
"Model2Vec + LogME top-K"): the shortlist by LogME, then the rest in their order. The recommender
builds the shortlist (it always holds the generic pick for K >= 2, see
:meth:`zoo.api.ranking.Scored.order`); this module scores and re-ranks it, locally or on Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, arg

if TYPE_CHECKING:
    from registry.store import Store
    from zoo.api.recommend import Recommendation

#: the shortlist ``verify="auto"`` re-ranks by LogME when the query extrapolates or the first pick is not generic
AUTO_VERIFY = 5


def verify(
    store: Store,
    recs: list[Recommendation],
    data: Any,
    top: int,
    *,
    progress: bool,
    ray_address: str | None = None,
    gpus_per_task: float = 0,
) -> list[Recommendation]:
    """LogME on each of the first ``top`` experts' features of ``data``, and the shortlist re-ranked by it.

    ``model2vec_rank`` keeps the order before, ``verified_rank`` the LogME rank in the shortlist.
    ``ray_address``: one Ray task per scoring, no model pickled (:func:`zoo.api.jobs_units.logme_scores`).
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
        images = _images(store, data)
        scores = {rec.model: _logme(rec, images, progress) for rec in recs[:top]}
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
        )
        for rank, j in enumerate(order, start=1)
    ]


def _images(store: Store, data: Any) -> Any:
    """The labelled images of a folder, or of a registered task whose data is a local folder."""
    from zoo.data import load_labelled, local_path

    path = Path(data) if isinstance(data, (str, Path)) and Path(data).exists() else None
    if path is None and isinstance(data, str):
        path = local_path(store.get_task(data).data_uri)
    if path is None or not path.exists():
        raise InvalidInput(
            f"{arg('verify', 'K')} needs the images: pass a folder, or a task whose data_uri is a local folder"
        )
    return load_labelled(path)


def _logme(rec: Recommendation, images: Any, progress: bool) -> float:
    """LogME of one expert's features of ``images`` (one forward pass)."""
    from zoo.api.judge import scorer_value

    return scorer_value("logme", rec.load(), images, progress=progress)


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
) -> list[Any]:
    """The verified rankings a report judges, as :class:`zoo.selection.MethodScores`.

    ``default`` ``[T, M]`` is the default ranking's scores (lower = better), ``logme`` ``[T, M]`` LogME
    (higher = better), ``generic`` ``[T]`` each task's generic pick, ``extrapolates`` ``[T]`` whether the
    query extrapolates, ``per_pass`` the seconds of one forward pass. One row per K of ``ks`` (the shortlist
    holds the generic pick; with ``unanchored`` also without it) and one for ``verify="auto"``: the
    anchored top :data:`AUTO_VERIFY` where the query extrapolates or Model2Vec's own first pick
    (``preferred`` ``[T]``, before the generic pick is held first; default: the default ranking's first)
    is not generic, the default ranking elsewhere (its passes are the mean over tasks).
    """
    import numpy as np

    from zoo.selection import MethodScores, hybrid_scores

    out = []
    for k in ks:
        note = "shortlist by the default ranking with the generic pick, re-ranked by LogME"
        out.append(
            MethodScores(f"Model2Vec + LogME top-{k}", hybrid_scores(default, logme, k, generic), per_pass * k, k, note)
        )
        if unanchored:
            note = "shortlist by the default ranking alone, re-ranked by LogME"
            scores = hybrid_scores(default, logme, k)
            out.append(MethodScores(f"Model2Vec + LogME top-{k} (no anchor)", scores, per_pass * k, k, note))
    if preferred is None:
        preferred = [int(np.nanargmin(row)) for row in default]
    counts = [verify_count("auto", bool(x), int(p) != int(g)) for x, p, g in zip(extrapolates, preferred, generic)]
    rows = [
        hybrid_scores(d[None], m[None], k, np.array([g]))[0] if k else d
        for d, m, g, k in zip(default, logme, generic, counts)
    ]
    passes = float(np.mean(counts)) if counts else 0.0
    note = f"top {AUTO_VERIFY} with the generic pick re-ranked by LogME where it extrapolates or disagrees"
    out.append(MethodScores("Model2Vec + LogME auto", np.array(rows), per_pass * passes, passes, note))
    return out
