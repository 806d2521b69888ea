"""The units of work of :mod:`zoo.api.jobs`: what one unit is and how it runs, anywhere.

A unit is a small frozen record of names (no tensors, no models): it travels
to a Ray worker as a few hundred bytes, and the worker opens the registry by
URL, loads the weights from the model's recorded source (a path or URI every
node can read) and writes its one result row in its own transaction.

Every unit is idempotent. An embedding has a unique key (task, probe, method)
and is written by replacing; a transfer result is keyed by (model, task,
protocol, metric) and written only when absent, under a lock that makes the
check and the insert one step (PostgreSQL: a transaction-scoped advisory lock
on the key; SQLite: the write transaction's ``BEGIN IMMEDIATE``). A retried
unit, or the same unit in a concurrent run, therefore finds its row and skips.
A :class:`ScoreUnit` writes nothing: its value goes back to the caller.
"""

from __future__ import annotations

import hashlib
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
    """The forward-pass ``scorer`` of ``model`` on ``task``'s images (at most ``max_samples``): returned, not stored."""

    scorer: str
    model: str
    task: str
    max_samples: int | None = None
    device: str = "auto"

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
    """The scorer's matrix entry (minus its value: lower = better) for one model on one task."""
    matrix = zoo.judge.scorer_matrix(
        unit.scorer, [unit.task], [zoo.store.get_model(unit.model)], unit.max_samples, device=unit.device
    )
    return float(matrix[0, 0])


# ---------------------------------------------------------------------- the idempotent transfer write
def _lock_key(key: tuple[str, ...]) -> int:
    """A signed 64-bit advisory-lock key for a result key."""
    digest = hashlib.sha256("\0".join(key).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


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

    The check and the insert are one transaction, serialised per key (see the
    module docstring), so two writers of the same key leave one row.
    """
    from sqlalchemy import text

    from registry.orm import TransferResultRow, utcnow
    from registry.rows import bump, model_row, task_row
    from registry.validation import check_finite, check_json

    model, task, protocol = out["model"], out["task"], out["protocol"]
    value = check_finite("transfer result value", out["value"])
    params = check_json("protocol_params", out["protocol_params"])

    def work(session: Session) -> bool:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key((model, task, protocol, METRIC))}
            )
        if _existing_result(session, model, task, protocol) is not None:
            return False
        session.add(
            TransferResultRow(
                model=model_row(session, model),
                task=task_row(session, task),
                metric=METRIC,
                value=float(value),
                protocol=protocol,
                protocol_params=params,
                train_size=int(out["train_size"]),
                test_size=int(out["test_size"]),
                created_at=utcnow(),
            )
        )
        session.flush()
        bump(session, "transfer_results")
        return True

    return store.run(work, write=True)
