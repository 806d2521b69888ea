"""The units of work of :mod:`zoo.api.jobs`: what one unit is and how it runs, anywhere.

A unit is a small frozen record of names (no tensors, no models): it travels
to a Ray worker as a few hundred bytes, and the worker opens the registry by
URL, loads the weights from the model's recorded source (a path or URI every
node can read) and writes its one result row in its own transaction.

Every unit is idempotent. An embedding has a unique key (task, probe, method)
and is written by replacing; a transfer result is written only when its key
(model, task, protocol, metric) has no row, as the key's first measurement:
the registry's unique key (model, task, protocol, metric, repeat) admits one
such row, and the insert is "on conflict do nothing". A retried unit, or the
same unit in a concurrent run, therefore finds its row, or loses the insert,
and counts as skipped.
A :class:`ScoreUnit` writes nothing: its value goes back to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from registry.store import Store
    from zoo.api import Zoo

#: the outcome of one unit: "done" (it wrote its row), "skipped" (the row was there)
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
METRIC = "error"


@dataclass(frozen=True)
class EvaluateUnit:
    """Measure ``model`` on ``task`` under transfer protocol ``protocol``; weights from ``source``."""

    model: str
    task: str
    protocol: str
    source: str = ""
    device: str = "auto"

    kind = "evaluate"

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The result's unique key: (model, task, protocol, metric)."""
        return (self.model, self.task, self.protocol, METRIC)

    def label(self) -> str:
        return f"evaluate {self.model} on {self.task}"


@dataclass(frozen=True)
class EmbedUnit:
    """Embed registered ``task`` with registry probe ``probe`` (loaded from ``probe_spec``) and ``method``."""

    task: str
    probe: str
    method: str
    probe_spec: str = "bundled"
    device: str = "auto"
    max_samples: int | None = None
    seed: int = 0

    kind = "embed"

    @property
    def key(self) -> tuple[str, str, str]:
        """The embedding's unique key: (task, probe, method)."""
        return (self.task, self.probe, self.method)

    def label(self) -> str:
        return f"embed {self.task} ({self.probe}/{self.method})"


@dataclass(frozen=True)
class ScoreUnit:
    """The forward-pass ``scorer`` of ``model`` on ``task``'s images (at most ``max_samples``): returned, not stored.

    ``folder``: an absolute path every node reads; when set, the images come from
    this folder (``load_labelled``) instead of a registered task (``task`` then only labels it).
    """

    scorer: str
    model: str
    task: str
    max_samples: int | None = None
    device: str = "auto"
    folder: str = ""

    kind = "score"

    @property
    def key(self) -> tuple[str, str, str]:
        """(scorer, model, task)."""
        return (self.scorer, self.model, self.task)

    def label(self) -> str:
        return f"score {self.model} on {self.task} ({self.scorer})"


Unit = EvaluateUnit | EmbedUnit | ScoreUnit
#: what one unit ends with: (status, one-line failure reason or "", the value of a ScoreUnit else None)
Outcome = tuple[str, str, "float | None"]


def unit_dict(unit: Unit) -> dict[str, Any]:
    """The unit as JSON-able fields, with its ``kind``."""
    return {"kind": unit.kind, **asdict(unit)}


def resolve_device(device: str = "auto") -> str:
    """``"auto"``: ``"cuda"`` when torch sees a GPU, else ``"cpu"``; CUDA where there is none: InvalidInput."""
    from zoo.networks import resolve_device as resolve

    return resolve(device)


# ---------------------------------------------------------------------- one open registry per process
#: the connections of this process's units, by URL (a Ray worker keeps one small pool for all its units)
_OPEN: dict[str, Zoo] = {}


def open_zoo(url: str, opened: dict[str, Zoo] | None = None) -> Zoo:
    """The connection to ``url`` held in ``opened`` (default: the process's), opened on first use."""
    opened = _OPEN if opened is None else opened
    zoo = opened.get(url)
    if zoo is None:
        from zoo.api import Zoo

        zoo = opened[url] = Zoo.open(url, create=False)
    return zoo


def close_all(opened: dict[str, Zoo] | None = None) -> None:
    """Close the connections held in ``opened`` (default: the process's)."""
    opened = _OPEN if opened is None else opened
    while opened:
        opened.popitem()[1].close()


# ---------------------------------------------------------------------- running a unit
def run_unit(unit: Unit, url: str, opened: dict[str, Zoo] | None = None) -> Outcome:
    """Run ``unit`` against the registry at ``url``: (status, message, value), never raising for its own failure.

    The connection is taken from ``opened`` (see :func:`open_zoo`) and left open for the next unit.

    ``status`` is :data:`DONE`, :data:`SKIPPED` or :data:`FAILED`; ``message`` is
    the one-line reason of a failure (empty otherwise); ``value`` is a
    :class:`ScoreUnit`'s score (None for the units that write a row).
    """
    from registry.errors import ZooError

    try:
        zoo = open_zoo(url, opened)
        if hasattr(unit, "run"):  # a unit kind defined elsewhere (zoo.api.jobs_bench) runs itself
            return unit.run(zoo)
        if isinstance(unit, EvaluateUnit):
            return _run_evaluate(zoo, unit), "", None
        if isinstance(unit, ScoreUnit):
            return DONE, "", _run_score(zoo, unit)
        return _run_embed(zoo, unit), "", None
    except ZooError as err:
        return FAILED, str(err), None
    except Exception as err:  # a unit's crash is reported, the run goes on
        lines = str(err).strip().splitlines()
        return FAILED, f"{type(err).__name__}: {lines[0] if lines else ''}"[:500], None


def _run_evaluate(zoo: Zoo, unit: EvaluateUnit) -> str:
    from registry.errors import InvalidInput
    from zoo.transfer import PROTOCOL

    if unit.protocol != PROTOCOL:
        raise InvalidInput(
            f"this node measures protocol {PROTOCOL!r}, the unit asks for {unit.protocol!r}; "
            "install the same zoo version on every node"
        )
    if has_transfer_result(zoo.store, unit):
        return SKIPPED
    out = zoo.evaluate(unit.model, unit.task, save=False, device=unit.device)
    return DONE if add_transfer_result_once(zoo.store, out) else SKIPPED


def _run_embed(zoo: Zoo, unit: EmbedUnit) -> str:
    from registry.errors import NotFound

    try:
        zoo.store.get_task_embedding(unit.task, unit.probe, unit.method)
        return SKIPPED
    except NotFound:
        pass
    resolve_device(unit.device)  # Task2Vec picks CUDA itself when there is one
    zoo.embed_task(
        None,
        unit.task,
        probe=unit.probe_spec,
        method=unit.method,
        max_samples=unit.max_samples,
        seed=unit.seed,
        progress=False,
    )
    return DONE


def _run_score(zoo: Zoo, unit: ScoreUnit) -> float:
    """The scorer's matrix entry (minus its value: lower = better) for one model on one task or folder."""
    if unit.folder:
        return _score_folder(zoo, unit)
    matrix = zoo.judge.scorer_matrix(
        unit.scorer, [unit.task], [zoo.store.get_model(unit.model)], unit.max_samples, device=unit.device
    )
    return float(matrix[0, 0])


def _score_folder(zoo: Zoo, unit: ScoreUnit) -> float:
    """Minus the scorer's value of ``unit.model`` on the labelled images of ``unit.folder`` (as ``scorer_matrix``)."""
    from pathlib import Path

    from registry.errors import InvalidInput, NotFound
    from zoo.api.scorer_matrix import scorer_value
    from zoo.data import load_labelled
    from zoo.networks import load_network
    from zoo.scorers import SCORERS

    if unit.scorer not in SCORERS:
        raise InvalidInput(f"unknown scorer {unit.scorer!r}; use one of {', '.join(SCORERS)}")
    if not Path(unit.folder).is_dir():
        raise NotFound(f"{unit.folder} is not a folder on this node: put the images where every node reads them")
    model = zoo.store.get_model(unit.model)
    network = load_network(model.source, arch=model.arch, device=resolve_device(unit.device), model_name=model.name)
    return -scorer_value(unit.scorer, network, load_labelled(Path(unit.folder), max_samples=unit.max_samples))


def logme_scores(
    store: Store,
    models: Sequence[str],
    data: Any,
    *,
    ray_address: str,
    gpus_per_task: float = 0,
    progress: bool = True,
    max_samples: int | None = None,
    scorer: str = "logme",
) -> dict[str, float]:
    """{model: LogME (higher = better)} of each of ``models`` on ``data``, one Ray task (a :class:`ScoreUnit`) each.

    ``max_samples``: on the class-balanced subset of that many images (:func:`zoo.data.load_labelled`);
    ``scorer``: another forward-pass scorer of :data:`zoo.scorers.SCORERS` (the screen's).

    ``data``: a folder of labelled images (sent as its absolute path, which every
    node must read) or a registered task whose ``data_uri`` every node reads.
    Each worker loads the weights from the model's recorded source. A unit that fails (an expert that
    cannot be loaded) is left out with a one-line warning, as the local screen and verification leave such an
    expert out; when every unit fails (a cause they share, such as data no node can read), the first one's
    reason is raised.
    """
    import math
    import warnings
    from pathlib import Path

    from registry.errors import InvalidInput, ZooError, arg
    from zoo.api.jobs import run_units

    if isinstance(data, (str, Path)) and Path(data).exists():
        folder = str(Path(data).resolve())
        units = [ScoreUnit(scorer, m, folder, max_samples, folder=folder) for m in models]
    elif isinstance(data, str):
        store.get_task(data)  # NotFound names it
        units = [ScoreUnit(scorer, m, data, max_samples) for m in models]
    else:
        raise InvalidInput(
            f"{arg('verify', 'K')} needs the images: pass a folder, or a task whose data_uri is a local folder"
        )
    summary = run_units(units, store.url, ray_address=ray_address, gpus_per_task=gpus_per_task, progress=progress)
    failed = {error["unit"]["model"]: error["error"] for error in summary["errors"]}
    scores = {}
    for unit, value in zip(units, summary["values"]):
        if value is not None and math.isfinite(value):
            scores[unit.model] = -float(value)
        elif unit.model not in failed:  # a registered task's scorer matrix leaves an unloadable expert empty
            failed[unit.model] = "no value: its weights could not be loaded on the node"
    if failed and not scores:
        model, reason = next(iter(failed.items()))
        raise ZooError(f"{len(failed)} of {len(units)} {scorer} units failed on Ray; first: {model}: {reason}")
    for model, reason in failed.items():
        warnings.warn(f"{scorer} on Ray skipped {model}: {reason}", stacklevel=2)
    return scores


# ---------------------------------------------------------------------- the idempotent transfer write
def _existing_result(session: Session, model: str, task: str, protocol: str) -> int | None:
    from sqlalchemy import select

    from registry.orm import TransferResultRow
    from registry.rows import model_row, task_row

    return session.scalar(
        select(TransferResultRow.id)
        .where(
            TransferResultRow.model_id == model_row(session, model).id,
            TransferResultRow.task_id == task_row(session, task).id,
            TransferResultRow.protocol == protocol,
            TransferResultRow.metric == METRIC,
        )
        .limit(1)
    )


def has_transfer_result(store: Store, unit: EvaluateUnit) -> bool:
    """Whether the registry holds ``unit``'s result already (a cheap read before the work)."""
    return store.run(lambda s: _existing_result(s, unit.model, unit.task, unit.protocol), write=False) is not None


def add_transfer_result_once(store: Store, out: dict[str, Any]) -> bool:
    """Store the result ``out`` of ``Zoo.evaluate(..., save=False)`` unless its key is there: True when written.

    One transaction: any row of the key means skip; otherwise the row is
    inserted as the key's first measurement (``repeat`` 0) with "on conflict
    do nothing", so a writer that got there first (a retried or concurrent
    unit) leaves its row and this one counts as skipped, never as an error.
    """
    from registry.orm import TransferResultRow, utcnow
    from registry.results import lock_result_key
    from registry.rows import bump, model_row, task_row
    from registry.validation import check_finite, check_json

    model, task, protocol = out["model"], out["task"], out["protocol"]
    value = check_finite("transfer result value", out["value"])
    params = check_json("protocol_params", out["protocol_params"])

    def work(session: Session) -> bool:
        model_id, task_id = model_row(session, model).id, task_row(session, task).id
        lock_result_key(session, model_id, task_id, protocol, METRIC)
        if _existing_result(session, model, task, protocol) is not None:
            return False
        row = {
            "model_id": model_id,
            "task_id": task_id,
            "metric": METRIC,
            "value": float(value),
            "protocol": protocol,
            "protocol_params": params,
            "train_size": int(out["train_size"]),
            "test_size": int(out["test_size"]),
            "created_at": utcnow(),
            "repeat": 0,
        }
        written = _insert_once(session, TransferResultRow.__table__, row)
        if written:
            bump(session, "transfer_results")
        return written

    return store.run(work, write=True)


def _insert_once(session: Session, table: Any, row: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` of ``row`` into ``table``: True when the row went in."""
    if session.get_bind().dialect.name == "postgresql":  # psycopg reports no rowcount here: ask for the id
        from sqlalchemy.dialects.postgresql import insert

        statement = insert(table).values(**row).on_conflict_do_nothing().returning(table.c.id)
        return session.execute(statement).first() is not None
    from sqlalchemy.dialects.sqlite import insert

    return session.execute(insert(table).values(**row).on_conflict_do_nothing()).rowcount == 1
