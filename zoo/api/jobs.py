"""The expensive jobs as idempotent units, planned from the registry and run locally or on Ray.

    from zoo.api.jobs import plan_evaluate, run_units
    units = plan_evaluate(store, models_glob="resnet*")      # every missing (model, task) pair
    summary = run_units(units, store.url)                    # local loop with a progress bar
    summary = run_units(units, store.url, ray_address="auto")  # one Ray task per unit

A plan lists only what the registry lacks, so a rerun (after a crash, a
killed worker, a new model) does only the rest. A unit opens the registry by
URL and writes its own row (see :mod:`zoo.api.jobs_units`); Ray is optional
(``pip install -e '.[ray]'`` in zoo's checkout) and its runner lives in :mod:`zoo.api.jobs_ray`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from zoo.api.jobs_units import (
    DONE,
    FAILED,
    METRIC,
    SKIPPED,
    EmbedUnit,
    EvaluateUnit,
    Outcome,
    ScoreUnit,
    Unit,
    close_all,
    resolve_device,
    run_unit,
    unit_dict,
)
from zoo.embedding import DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.store import Store
    from zoo.api import Zoo

#: the environment variable naming the Ray cluster when ``ray_address`` is not given
RAY_ENV = "ZOO_RAY_ADDRESS"

__all__ = [
    "DONE",
    "FAILED",
    "RAY_ENV",
    "SKIPPED",
    "EmbedUnit",
    "EvaluateUnit",
    "ScoreUnit",
    "Unit",
    "plan_embed",
    "plan_evaluate",
    "resolve_device",
    "run_units",
    "unit_dict",
]


def _store(store_or_zoo: Store | Zoo) -> Store:
    return getattr(store_or_zoo, "store", store_or_zoo)


def plan_evaluate(
    store: Store | Zoo,
    models_glob: str | None = None,
    tasks_glob: str | None = None,
    tags: Mapping[str, str] | None = None,
    *,
    device: str = "auto",
    counts: dict[str, int] | None = None,
) -> list[EvaluateUnit]:
    """One :class:`EvaluateUnit` per (model, task) pair with no result under the current protocol.

    ``models_glob``/``tasks_glob`` filter names (fnmatch); ``tags`` keeps the
    models carrying every KEY=VALUE. Ordered by model, then task. ``counts``, when given, receives
    ``"measured"``: the selected pairs already measured (what a rerun resumes after).
    """
    from zoo.transfer import PROTOCOL

    registry = _store(store)
    models = registry.list_models(pattern=models_glob, tags=tags)
    tasks = _with_splits(registry.list_tasks(pattern=tasks_glob))
    have = {(r.model, r.task) for r in registry.list_transfer_results(protocol=PROTOCOL) if r.metric == METRIC}
    units = [
        EvaluateUnit(m.name, t.name, PROTOCOL, m.source, device)
        for m in models
        for t in tasks
        if (m.name, t.name) not in have
    ]
    if counts is not None:
        counts["measured"] = len(models) * len(tasks) - len(units)
    return units


def _with_splits(tasks: Sequence[Any]) -> list[Any]:
    """``tasks`` less those whose local data folder has no train/ and test/ splits (a folder registered by
    ``recommend --save`` has none), which no protocol can measure: left out with one warning, so that they do
    not fail every pair on every rerun. A folder that is not here stays (its units say so)."""
    import warnings

    from registry.errors import ZooError
    from zoo.data import local_path
    from zoo.splits import split_folders

    kept, unsplit = [], []
    for task in tasks:
        try:
            folder = local_path(task.data_uri)
            measurable = not folder.is_dir() or len(split_folders(folder) or {}) >= 2
        except ZooError:  # a malformed split folder: its units fail with the one-line reason
            measurable = True
        (kept if measurable else unsplit).append(task)
    if unsplit:
        names = ", ".join(t.name for t in unsplit[:3]) + (f" and {len(unsplit) - 3} more" if len(unsplit) > 3 else "")
        warnings.warn(
            f"left out {len(unsplit)} task(s) without train/ and test/ splits, which cannot be measured: {names} "
            "(a folder saved by recommend --save has none; register a copy with both to measure it)",
            stacklevel=3,
        )
    return kept


def plan_embed(
    store: Store | Zoo,
    tasks_glob: str | None = None,
    probe: str = "bundled",
    method: str = DEFAULT_METHOD,
    *,
    device: str = "auto",
    max_samples: int | None = None,
    seed: int = 0,
) -> list[EmbedUnit]:
    """One :class:`EmbedUnit` per registered task lacking a ``method`` embedding by ``probe``.

    ``probe``: a probe spec (``bundled``, ``timm:NAME``, ``file:PATH``) or a
    registered probe's name; it is resolved once here, so every unit names the
    same registry probe. ``max_samples``/``seed``: each task's class-balanced
    subsample (see ``Zoo.embed_task``). Ordered by task.
    """
    from registry.errors import InvalidInput, NotFound, arg
    from zoo.embedding import METHODS

    if method not in METHODS:
        raise InvalidInput(f"unknown method {method!r}; pass {arg('method', '|'.join(METHODS))}")
    registry = _store(store)
    try:
        name = registry.get_probe(probe).name
    except NotFound:
        from zoo.api.probes import Probes

        name = str(Probes(registry).resolve(probe))
    tasks = registry.list_tasks(pattern=tasks_glob)
    have = {e.task for e in registry.list_task_embeddings(probe=name, method=method)}
    return [EmbedUnit(t.name, name, method, probe, device, max_samples, seed) for t in tasks if t.name not in have]


def run_units(
    units: Sequence[Unit],
    url: str,
    *,
    ray_address: str | None = None,
    gpus_per_task: float = 0,
    progress: bool = True,
    max_retries: int = 3,
) -> dict[str, Any]:
    """Run ``units`` against the registry at ``url``; a summary dict.

    ``ray_address``: None runs a plain loop in this process unless ``$ZOO_RAY_ADDRESS``
    is set; ``"local"`` starts Ray in this process, ``"auto"`` joins the running
    cluster, anything else is a cluster address. On Ray each unit is one task
    (``gpus_per_task`` GPUs, retried ``max_retries`` times when its worker dies).

    Returns {"units", "done", "skipped", "failed", "seconds", "runner", "errors"}:
    ``errors`` lists {"unit": {...}, "error": one line} for each failed unit;
    with :class:`ScoreUnit` units, also "values": each unit's score, in order (None where it failed).
    """
    from registry.engine import parse_url

    address = ray_address if ray_address is not None else (os.environ.get(RAY_ENV) or None)
    url = parse_url(url).render_as_string(hide_password=False)
    start = time.perf_counter()
    with _Progress(len(units), progress, unit_dict(units[0])["kind"] if units else None) as bar:
        if address is None:
            outcomes = _run_local(units, url, bar.update)
            runner = "local"
        else:
            from zoo.api.jobs_ray import import_ray, run_on_ray

            import_ray()  # says how to install the extra, even with nothing to do
            outcomes = (
                run_on_ray(
                    units, url, address, gpus_per_task=gpus_per_task, max_retries=max_retries, on_result=bar.update
                )
                if units
                else []
            )
            runner = "ray"
    return _summary(units, outcomes, runner, time.perf_counter() - start)


def _run_local(units: Sequence[Unit], url: str, on_result: Callable[[str], None]) -> list[Outcome]:
    outcomes, opened = [], {}  # this run's own connection: concurrent runs in one process stay apart
    try:
        for unit in units:
            outcomes.append(run_unit(unit, url, opened))
            on_result(outcomes[-1][0])
    finally:
        close_all(opened)
    return outcomes


def _summary(units: Sequence[Unit], outcomes: Sequence[Outcome], runner: str, seconds: float) -> dict[str, Any]:
    counts = {DONE: 0, SKIPPED: 0, FAILED: 0}
    errors = []
    for unit, (status, message, _) in zip(units, outcomes):
        counts[status] += 1
        if status == FAILED:
            errors.append({"unit": unit_dict(unit), "error": message})
    summary = {"units": len(units), **counts, "seconds": round(seconds, 3), "runner": runner, "errors": errors}
    if any(isinstance(unit, ScoreUnit) for unit in units):
        summary["values"] = [value for _, _, value in outcomes]
    return summary


class _Progress:
    """A tqdm bar over the units (count, rate, ETA), with the done/skipped/failed counts as postfix."""

    def __init__(self, total: int, enabled: bool, desc: str | None = None) -> None:
        self.counts = {DONE: 0, SKIPPED: 0, FAILED: 0}
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="unit", dynamic_ncols=True)

    def update(self, status: str) -> None:
        self.counts[status] += 1
        if self.bar is not None:
            self.bar.set_postfix(self.counts, refresh=False)
            self.bar.update(1)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
