"""Lookups and listings of tasks, probes, task embeddings and transfer results, and recording a transfer result.

The session work of :class:`registry.store.Store`'s read methods for these
rows (and of its change tracking); the store opens the transaction and turns
ORM rows into records through :mod:`registry.rows`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, selectinload

from registry import records as rec
from registry.errors import InvalidInput, NotFound
from registry.orm import (
    REVISION_KINDS,
    Model2VecRunRow,
    ModelEmbeddingRow,
    ModelRow,
    ProbeRow,
    RevisionRow,
    TaskEmbeddingRow,
    TaskRow,
    TransferResultRow,
    utcnow,
)
from registry.rows import (
    bump,
    count_rows,
    embedding_query,
    model_row,
    probe_record,
    task_embedding_record,
    task_record,
    task_row,
    transfer_record,
)
from registry.validation import MAX_INT32, check_count, check_finite, check_json, check_name


def list_tasks_in(session: Session, pattern: str | None) -> list[rec.Task]:
    """Tasks ordered by name, filtered by a glob on the name."""
    rows = session.scalars(select(TaskRow).order_by(TaskRow.name)).all()
    return [task_record(r) for r in rows if pattern is None or fnmatch.fnmatchcase(r.name, pattern)]


def list_probes_in(session: Session) -> list[rec.Probe]:
    """All probes ordered by name."""
    return [probe_record(r) for r in session.scalars(select(ProbeRow).order_by(ProbeRow.name))]


def task_embedding_in(session: Session, task: str, probe: str, method: str) -> rec.TaskEmbedding:
    """The current embedding of ``task`` by ``probe``/``method`` (NotFound names what is missing)."""
    row = session.scalar(
        embedding_query().where(TaskRow.name == task, ProbeRow.name == probe, TaskEmbeddingRow.method == method)
    )
    if row is None:
        task_row(session, task)
        raise NotFound(f"task {task!r} has no {method} embedding by probe {probe!r}; run `zoo embed-task {task}`")
    return task_embedding_record(row)


def list_task_embeddings_in(
    session: Session, probe: str | None, method: str | None, task: str | None
) -> list[rec.TaskEmbedding]:
    """Current embeddings, ordered by task, probe and method name; None filters nothing."""
    query = embedding_query()
    if probe is not None:
        query = query.where(ProbeRow.name == probe)
    if method is not None:
        query = query.where(TaskEmbeddingRow.method == method)
    if task is not None:
        query = query.where(TaskRow.name == task)
    query = query.order_by(TaskRow.name, ProbeRow.name, TaskEmbeddingRow.method)
    return [task_embedding_record(r) for r in session.scalars(query)]


@dataclasses.dataclass(frozen=True)
class NewResult:
    """A transfer result to record, checked when built (names, a finite value, counts, JSON params)."""

    metric: str
    value: float
    protocol: str
    protocol_params: str
    train_size: int
    test_size: int

    @classmethod
    def build(
        cls,
        metric: str,
        value: float,
        protocol: str,
        protocol_params: Mapping[str, Any],
        train_size: int,
        test_size: int,
    ) -> NewResult:
        """Check every field in the order the store always has; InvalidInput on the first bad one."""
        metric, protocol = check_name("metric", metric), check_name("protocol", protocol)
        value = check_finite("transfer result value", value)
        train_size = check_count("train_size", train_size, limit=MAX_INT32)
        test_size = check_count("test_size", test_size, limit=MAX_INT32)
        params_json = check_json("protocol_params", protocol_params)
        return cls(metric, float(value), protocol, params_json, int(train_size), int(test_size))


def lock_result_key(session: Session, model_id: int, task_id: int, protocol: str, metric: str) -> None:
    """Serialise the writers of one result key for the rest of the transaction.

    PostgreSQL: a transaction-scoped advisory lock on the key; SQLite: nothing to
    do, a write transaction (``BEGIN IMMEDIATE``) already excludes every other writer.
    The unique key (see :class:`registry.orm.TransferResultRow`) is the guarantee;
    the lock only keeps two writers of the same key from picking the same ``repeat``.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256("\0".join(map(str, (model_id, task_id, protocol, metric))).encode()).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)})


def next_repeat(session: Session, model_id: int, task_id: int, protocol: str, metric: str) -> int:
    """The ``repeat`` of a new measurement of the key: 0 for the first, else one past the last."""
    last = session.scalar(
        select(func.max(TransferResultRow.repeat)).where(
            TransferResultRow.model_id == model_id,
            TransferResultRow.task_id == task_id,
            TransferResultRow.protocol == protocol,
            TransferResultRow.metric == metric,
        )
    )
    return 0 if last is None else int(last) + 1


def import_repeat(session: Session, model_id: int, task_id: int, protocol: str, metric: str) -> int:
    """:func:`next_repeat` for an import's many rows: the registry's repeats read once, counted on in memory.

    Every transfer result the session adds must take its ``repeat`` from here.
    """
    counters = session.info.get("zoo_import_repeats")
    if counters is None:
        query = select(
            TransferResultRow.model_id,
            TransferResultRow.task_id,
            TransferResultRow.protocol,
            TransferResultRow.metric,
            func.max(TransferResultRow.repeat),
        ).group_by(
            TransferResultRow.model_id, TransferResultRow.task_id, TransferResultRow.protocol, TransferResultRow.metric
        )
        with session.no_autoflush:
            counters = {tuple(row[:4]): int(row[4]) + 1 for row in session.execute(query)}
        session.info["zoo_import_repeats"] = counters
    key = (model_id, task_id, protocol, metric)
    repeat = counters.get(key, 0)
    counters[key] = repeat + 1
    return repeat


def add_transfer_result_in(session: Session, model: str, task: str, result: NewResult) -> rec.TransferResult:
    """Insert ``result`` of ``model`` (name or alias) on ``task`` and bump the revision.

    A pair measured before gets another row, numbered by :func:`next_repeat`.
    """
    model_id, task_id = model_row(session, model).id, task_row(session, task).id
    lock_result_key(session, model_id, task_id, result.protocol, result.metric)
    row = TransferResultRow(
        model_id=model_id,
        task_id=task_id,
        metric=result.metric,
        value=result.value,
        protocol=result.protocol,
        protocol_params=result.protocol_params,
        train_size=result.train_size,
        test_size=result.test_size,
        created_at=utcnow(),
        repeat=next_repeat(session, model_id, task_id, result.protocol, result.metric),
    )
    session.add(row)
    session.flush()
    bump(session, "transfer_results")
    return transfer_record(row)


def list_transfer_results_in(
    session: Session, model: str | None, task: str | None, protocol: str | None
) -> list[rec.TransferResult]:
    """Transfer results in the order they were recorded; None filters nothing."""
    query = (
        select(TransferResultRow)
        .join(TransferResultRow.model)
        .join(TransferResultRow.task)
        .options(selectinload(TransferResultRow.model), selectinload(TransferResultRow.task))
    )
    if model is not None:
        query = query.where(ModelRow.id == model_row(session, model).id)
    if task is not None:
        query = query.where(TaskRow.name == task)
    if protocol is not None:
        query = query.where(TransferResultRow.protocol == protocol)
    return [transfer_record(r) for r in session.scalars(query.order_by(TransferResultRow.id))]


def check_revision_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`registry.orm.REVISION_KINDS`, else InvalidInput."""
    if kind not in REVISION_KINDS:
        raise InvalidInput(f"unknown revision kind {kind!r}; use one of {', '.join(REVISION_KINDS)}")
    return kind


def revision_token_in(session: Session, kind: str) -> str:
    """An opaque token that changes whenever rows of ``kind`` change."""
    row = session.get(RevisionRow, kind)
    return "0-none" if row is None else f"{row.counter}-{row.stamp}"


COUNTED_TABLES = {
    "models": ModelRow,
    "tasks": TaskRow,
    "probes": ProbeRow,
    "task_embeddings": TaskEmbeddingRow,
    "transfer_results": TransferResultRow,
    "model2vec_runs": Model2VecRunRow,
    "model_embeddings": ModelEmbeddingRow,
}


def counts_in(session: Session) -> dict[str, int]:
    """How many rows of each kind the registry holds."""
    return {k: count_rows(session, t) for k, t in COUNTED_TABLES.items()}
