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

    kind = "embed"

    @property
    def key(self) -> tuple[str, str, str]:
        """The embedding's unique key: (task, probe, method)."""
        return (self.task, self.probe, self.method)

    def label(self) -> str:
        return f"embed {self.task} ({self.probe}/{self.method})"


Unit = EvaluateUnit | EmbedUnit


def unit_dict(unit: Unit) -> dict[str, Any]:
    """The unit as JSON-able fields, with its ``kind``."""
    return {"kind": unit.kind, **asdict(unit)}


def resolve_device(device: str = "auto") -> str:
    """``"auto"``: ``"cuda"`` when torch sees a GPU, else ``"cpu"``; anything else as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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
def run_unit(unit: Unit, url: str, opened: dict[str, Zoo] | None = None) -> tuple[str, str]:
    """Run ``unit`` against the registry at ``url``: (status, message), never raising for a unit's own failure.

    The connection is taken from ``opened`` (see :func:`open_zoo`) and left open for the next unit.

    ``status`` is :data:`DONE`, :data:`SKIPPED` or :data:`FAILED`; ``message`` is
    the one-line reason of a failure (empty otherwise).
    """
    from registry.errors import ZooError

    try:
        zoo = open_zoo(url, opened)
        if isinstance(unit, EvaluateUnit):
            return _run_evaluate(zoo, unit), ""
        return _run_embed(zoo, unit), ""
    except ZooError as err:
        return FAILED, str(err)
    except Exception as err:  # a unit's crash is reported, the run goes on
        lines = str(err).strip().splitlines()
        return FAILED, f"{type(err).__name__}: {lines[0] if lines else ''}"[:500]


def _run_evaluate(zoo: Zoo, unit: EvaluateUnit) -> str:
    from registry.errors import InvalidInput
    from zoo.transfer import PROTOCOL

    if unit.protocol != PROTOCOL:
        raise InvalidInput(f"this node measures protocol {PROTOCOL!r}, the unit asks for {unit.protocol!r}; "
                           "install the same zoo version on every node")
    if has_transfer_result(zoo.store, unit):
        return SKIPPED
    resolve_device(unit.device)  # Zoo.evaluate runs on the CPU until the transfer protocol takes a device
    out = zoo.evaluate(unit.model, unit.task, save=False)
    return DONE if add_transfer_result_once(zoo.store, out) else SKIPPED


def _run_embed(zoo: Zoo, unit: EmbedUnit) -> str:
    from registry.errors import NotFound

    try:
        zoo.store.get_task_embedding(unit.task, unit.probe, unit.method)
        return SKIPPED
    except NotFound:
        pass
    resolve_device(unit.device)  # Task2Vec picks CUDA itself when there is one
    zoo.embed_task(None, unit.task, probe=unit.probe_spec, method=unit.method, progress=False)
    return DONE


# ---------------------------------------------------------------------- the idempotent transfer write
def _lock_key(key: tuple[str, ...]) -> int:
    """A signed 64-bit advisory-lock key for a result key."""
    digest = hashlib.sha256("\0".join(key).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _existing_result(session: Session, model: str, task: str, protocol: str) -> int | None:
    from sqlalchemy import select

    from registry.orm import TransferResultRow
    from registry.rows import model_row, task_row

    return session.scalar(select(TransferResultRow.id).where(
        TransferResultRow.model_id == model_row(session, model).id,
        TransferResultRow.task_id == task_row(session, task).id,
        TransferResultRow.protocol == protocol, TransferResultRow.metric == METRIC).limit(1))


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
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _lock_key((model, task, protocol, METRIC))})
        if _existing_result(session, model, task, protocol) is not None:
            return False
        session.add(TransferResultRow(model=model_row(session, model), task=task_row(session, task), metric=METRIC,
                                      value=float(value), protocol=protocol, protocol_params=params,
                                      train_size=int(out["train_size"]), test_size=int(out["test_size"]),
                                      created_at=utcnow()))
        session.flush()
        bump(session, "transfer_results")
        return True

    return store.run(work, write=True)
