"""The forward-pass scorer matrix: every expert's scorer value on every task's images, timed and resumable.

What ``zoo bench evaluate``'s LogME, LEEP and screen rows cost (one forward pass of each expert over each task's
images): computed here a chunk of experts at a time, each value kept in the user cache as soon as it is computed
(:mod:`zoo.api.scorer_cache`) and read back by a later call with the same inputs, or run as one Ray task per
(expert, task). :class:`zoo.api.judge.SelectionJudge` calls it for the in-collection report and
:mod:`zoo.api.leaveout` for the left-out folds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, ZooError, arg

if TYPE_CHECKING:
    from registry.records import Model
    from registry.store import Store

#: experts held in memory at once by :func:`timed_scorer_matrix` (each task's images are read once per chunk of
#: this many experts)
SCORER_CHUNK = 8


def timed_scorer_matrix(
    store: Store,
    scorer: str,
    tasks: Sequence[str],
    models: Sequence[Model],
    max_samples: int | None,
    progress: bool = False,
    *,
    device: str = "auto",
    share: float = 0.0,
    ray_address: str | None = None,
) -> tuple[Any, float]:
    """(``[T, M]`` minus the scorer's value (lower = better) of every model on every task's images, what it cost
    in seconds per task).

    ``share`` > 0: on the share of those images a screen reads (:func:`zoo.api.verify.screen_size` of them, the
    same seeded class-balanced draw, so nested in the sample), not all of them. The forward passes run on
    ``device`` (``auto``: CUDA when there is one); the scorer itself runs on the CPU. Each value is kept in the
    user cache as soon as it is computed and read back by a later call with the same inputs, so an interrupted
    matrix resumes where it stopped; a value read back counts the seconds computing it took (its share of
    loading the network and the images, and its pass), so a resumed report shows the scorer's cost, not the
    reading's. With ``ray_address``, each (model, task) value is one Ray task (:class:`zoo.api.jobs.ScoreUnit`),
    gathered here and written nowhere (nor read from the cache).
    """
    import numpy as np

    from zoo.api.scorer_cache import ScoreCache
    from zoo.data import load_labelled, local_path
    from zoo.networks import load_network, resolve_device
    from zoo.scorers import SCORERS

    if scorer not in SCORERS:
        raise InvalidInput(f"unknown scorer {scorer!r} in {arg('scorers', 'NAME')}; use one of {', '.join(SCORERS)}")
    began = time.perf_counter()
    sizes = sample_sizes(store, tasks, max_samples, share)
    if ray_address:  # each worker resolves "auto" itself
        out = _on_ray(store, ray_address, scorer, tasks, models, sizes, progress, device)
        return out, (time.perf_counter() - began) / max(len(tasks), 1)
    sizing = time.perf_counter() - began  # paid by every call, cached or not
    from tqdm.auto import tqdm

    device = resolve_device(device)
    records = [store.get_task(t) for t in tasks]
    cache = ScoreCache()
    keys = cache.keys(scorer, share, device, records, [sizes[t] for t in tasks], models)
    out = np.full((len(tasks), len(models)), np.nan)
    cost = np.zeros(out.shape)
    done = np.zeros(out.shape, dtype=bool)
    for i, row in enumerate(keys):
        for j, key in enumerate(row):
            if (hit := cache.read(key)) is not None:
                out[i, j], cost[i, j], done[i, j] = -hit.value, hit.seconds, True
    # the pairs read back count as done, so the bar's rate and ETA are those of the passes left
    bar = tqdm(total=out.size, initial=int(done.sum()), desc=scorer, unit="pair", disable=not progress)
    pending = [j for j in range(len(models)) if not done[:, j].all()]
    # a few networks in memory at a time, so each task's images are read once per chunk, not once per model
    with bar:
        for start in range(0, len(pending), SCORER_CHUNK):
            chunk = pending[start : start + SCORER_CHUNK]
            began = time.perf_counter()
            networks = {}
            for j in chunk:
                try:
                    networks[j] = load_network(
                        models[j].source, arch=models[j].arch, device=device, model_name=models[j].name
                    )
                except ZooError as err:  # one expert that cannot be loaded leaves its column empty, not the run
                    warnings.warn(f"{scorer}: skipped {models[j].name}, which cannot be loaded ({err})", stacklevel=2)
                    bar.update(int((~done[:, j]).sum()))
                    done[:, j] = True
            loading = (time.perf_counter() - began) / max(int((~done[:, chunk]).sum()), 1)  # per value it serves
            for i, (name, task) in enumerate(zip(tasks, records)):
                todo = [j for j in chunk if not done[i, j]]
                if not todo:
                    continue
                began = time.perf_counter()
                images = load_labelled(local_path(task.data_uri), max_samples=sizes[name])
                reading = (time.perf_counter() - began) / len(todo)
                for j in todo:
                    began = time.perf_counter()
                    value = scorer_value(scorer, networks[j], images)
                    out[i, j], cost[i, j] = -value, loading + reading + time.perf_counter() - began
                    cache.write(keys[i][j], value, float(cost[i, j]))  # kept at once: a kill loses one pass
                    bar.update(1)
            del networks
    return out, (sizing + float(cost.sum())) / max(len(tasks), 1)


def sample_sizes(store: Store, tasks: Sequence[str], max_samples: int | None, share: float) -> dict[str, int | None]:
    """{task: how many of its images a score reads}: ``max_samples``, or with ``share`` > 0 the screen's
    :func:`zoo.api.verify.screen_size` of that sample (the same seeded class-balanced draw, smaller, so
    nested in it); each task's folder is read once here, not once per chunk."""
    if not share:
        return {t: max_samples for t in tasks}
    from zoo.api.verify import screen_size
    from zoo.data import load_labelled, local_path

    return {
        t: screen_size(load_labelled(local_path(store.get_task(t).data_uri), max_samples=max_samples), share)
        for t in tasks
    }


def screens_discriminate(store: Store, tasks: Sequence[str], max_samples: int | None) -> Any:
    """``[T]`` bool: whether a screen of :data:`zoo.api.verify.SCREEN_FRACTION` of each task's sample (the
    ``max_samples`` class-balanced draw the scorers read) can tell experts apart
    (:func:`zoo.api.verify.screen_discriminates`); where not, recommend skips the screen, and so does the judge."""
    import numpy as np

    from zoo.api.verify import SCREEN_FRACTION, screen_discriminates
    from zoo.data import load_labelled, local_path

    return np.array(
        [
            screen_discriminates(
                load_labelled(local_path(store.get_task(t).data_uri), max_samples=max_samples), SCREEN_FRACTION
            )
            for t in tasks
        ],
        dtype=bool,
    )


def _on_ray(
    store: Store,
    ray_address: str,
    scorer: str,
    tasks: Sequence[str],
    models: Sequence[Model],
    sizes: dict[str, int | None],
    progress: bool,
    device: str,
) -> Any:
    """:func:`timed_scorer_matrix`'s matrix as one Ray task per (model, task), each on ``sizes[task]`` images; a failed
    unit raises its one-line reason."""
    import numpy as np

    from registry.errors import ZooError
    from zoo.api.jobs import ScoreUnit, run_units

    units = [ScoreUnit(scorer, m.name, t, sizes[t], device) for t in tasks for m in models]
    summary = run_units(units, store.url, ray_address=ray_address, progress=progress)
    if summary["errors"]:
        first = summary["errors"][0]
        raise ZooError(
            f"{summary['failed']} of {len(units)} {scorer} units failed on Ray; first: "
            f"{first['unit']['model']} on {first['unit']['task']}: {first['error']}"
        )
    return np.array(summary["values"], dtype=np.float64).reshape(len(tasks), len(models))


def scorer_value(scorer: str, network: Any, images: Any, *, progress: bool = False) -> float:
    """The forward-pass ``scorer``'s value (higher = better) of ``network`` on labelled ``images``: one pass.

    LogME and the like read the penultimate features; LEEP and NCE (``needs == "probs"``) the source
    head's class probabilities of them.
    """
    import numpy as np
    import torch

    from zoo.networks import extract_features
    from zoo.scorers import SCORERS

    needs, function = SCORERS[scorer]
    feats = extract_features(network, images, progress=progress)
    if needs == "probs":
        head = network.get_classifier()
        with torch.no_grad():
            logits = head(torch.from_numpy(feats).to(next(head.parameters()).device)).cpu()
        feats = torch.softmax(logits.double(), dim=1).numpy()
    return float(function(feats, np.asarray(images.labels)))
