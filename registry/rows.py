"""Row access inside a session, and the conversion of ORM rows into frozen records.

Used by the store and the modules it composes (:mod:`registry.model_writes`,
:mod:`registry.task_writes`, :mod:`registry.model2vec_runs`, :mod:`registry.import_rows`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, func, literal, select, update
from sqlalchemy.orm import Session, selectinload

from registry import records as rec
from registry.errors import AlreadyExists, NotFound
from registry.orm import (
    Model2VecRunRow,
    ModelAliasRow,
    ModelEmbeddingRow,
    ModelRow,
    ProbeRow,
    RevisionRow,
    TaskEmbeddingRow,
    TaskRow,
    TransferResultRow,
)
from registry.validation import check_lengths, normalise_name, stored_length


def refuse_taken_model_name(session: Session, name: str) -> None:
    """Raise AlreadyExists when ``name`` is a model name or an alias (one query)."""
    name = normalise_name(name)
    taken = session.execute(
        select(ModelRow.id, literal("model"))
        .where(ModelRow.name == name)
        .union_all(select(ModelAliasRow.id, literal("alias")).where(ModelAliasRow.alias == name))
    ).first()
    if taken is not None and taken[1] == "model":
        raise AlreadyExists(f"model {name!r} already exists; choose another name or `zoo models remove {name}`")
    if taken is not None:
        raise AlreadyExists(f"{name!r} is already an alias of another model; choose another name")


def model_row(session: Session, name: str, *, aliases: bool = True) -> ModelRow:
    name = normalise_name(name)
    row = session.scalar(select(ModelRow).where(ModelRow.name == name))
    if row is None and aliases:
        row = session.scalar(select(ModelRow).join(ModelRow.aliases).where(ModelAliasRow.alias == name))
    if row is None:
        raise NotFound(f"no model named {name!r}; see `zoo models list`")
    return row


def task_row(session: Session, name: str) -> TaskRow:
    name = normalise_name(name)
    row = session.scalar(select(TaskRow).where(TaskRow.name == name))
    if row is None:
        raise NotFound(f"no task named {name!r}; see `zoo tasks list`")
    return row


def probe_row(session: Session, name: str) -> ProbeRow:
    name = normalise_name(name)
    row = session.scalar(select(ProbeRow).where(ProbeRow.name == name))
    if row is None:
        raise NotFound(f"no probe named {name!r}; embed a task with it first")
    return row


def embedding_query():
    return (
        select(TaskEmbeddingRow)
        .join(TaskEmbeddingRow.task)
        .join(TaskEmbeddingRow.probe)
        .options(selectinload(TaskEmbeddingRow.task), selectinload(TaskEmbeddingRow.probe))
    )


def count_rows(session: Session, table: type, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def bump(session: Session, *kinds: str) -> None:
    """Advance the change counters of ``kinds`` (same transaction as the change)."""
    for kind in dict.fromkeys(kinds):
        result = session.execute(
            update(RevisionRow)
            .where(RevisionRow.kind == kind)
            .values(counter=RevisionRow.counter + 1, stamp=uuid.uuid4().hex)
        )
        if result.rowcount == 0:
            session.add(RevisionRow(kind=kind, counter=1, stamp=uuid.uuid4().hex))
            session.flush()


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def model_record(row: ModelRow) -> rec.Model:
    """The frozen record of a model row."""
    return rec.Model(
        id=row.id,
        name=row.name,
        source=row.source,
        arch=row.arch,
        num_params=row.num_params,
        checksum=row.checksum,
        trained_on=row.trained_on,
        description=row.description,
        created_at=_utc(row.created_at),
        tags={t.key: t.value for t in sorted(row.tags, key=lambda t: t.key)},
        aliases=tuple(sorted(a.alias for a in row.aliases)),
    )


def task_record(row: TaskRow) -> rec.Task:
    """The frozen record of a task row."""
    return rec.Task(
        id=row.id,
        name=row.name,
        data_uri=row.data_uri,
        num_classes=row.num_classes,
        num_samples=row.num_samples,
        fingerprint=row.fingerprint,
        taxonomy=row.taxonomy,
        created_at=_utc(row.created_at),
    )


def probe_record(row: ProbeRow) -> rec.Probe:
    """The frozen record of a probe row."""
    return rec.Probe(
        id=row.id,
        name=row.name,
        arch=row.arch,
        weights_checksum=row.weights_checksum,
        embedding_length=row.embedding_length,
        layers=tuple(row.layers),
        created_at=_utc(row.created_at),
    )


def task_embedding_record(row: TaskEmbeddingRow) -> rec.TaskEmbedding:
    """The frozen record of a task embedding row."""
    prior = None if row.prior is None else rec.vector_from_bytes(row.prior, row.length)
    return rec.TaskEmbedding(
        id=row.id,
        task=row.task.name,
        probe=row.probe.name,
        method=row.method,
        vector=rec.vector_from_bytes(row.vector, row.length),
        prior=prior,
        sample_count=row.sample_count,
        seed=row.seed,
        params=dict(row.params),
        package_version=row.package_version,
        created_at=_utc(row.created_at),
    )


def transfer_record(row: TransferResultRow) -> rec.TransferResult:
    """The frozen record of a transfer result row."""
    return rec.TransferResult(
        id=row.id,
        model=row.model.name,
        task=row.task.name,
        metric=row.metric,
        value=row.value,
        protocol=row.protocol,
        protocol_params=dict(row.protocol_params),
        train_size=row.train_size,
        test_size=row.test_size,
        created_at=_utc(row.created_at),
    )


def run_record(row: Model2VecRunRow) -> rec.Model2VecRun:
    """The frozen record of a Model2Vec run row."""
    return rec.Model2VecRun(
        id=row.id,
        probe=row.probe.name,
        method=row.method,
        hyperparams=dict(row.hyperparams),
        metrics=dict(row.metrics),
        created_at=_utc(row.created_at),
    )


def model_embedding_record(row: ModelEmbeddingRow) -> rec.ModelEmbedding:
    """The frozen record of a model embedding row."""
    return rec.ModelEmbedding(
        run_id=row.run_id,
        model=row.model.name,
        bias=rec.vector_from_bytes(row.bias, row.length),
        vector=rec.vector_from_bytes(row.vector, row.length),
        trained=bool(row.trained),
        params=dict(row.params or {}),
    )


def check_stored_vectors(row: TaskEmbeddingRow | ModelEmbeddingRow) -> None:
    """A task or model embedding row's vectors: one length, its ``length`` column and its probe's.

    Runs before every flush (see :func:`_vectors_before_flush`), so no write
    path (store, import, a future one) can store a vector its probe cannot read.
    """
    if isinstance(row, TaskEmbeddingRow):
        probe = row.probe
        what = f"task embedding of {getattr(row.task, 'name', '?')!r}"
        others = {"prior": stored_length("prior", row.prior)}
    else:
        probe = row.run.probe if row.run is not None else None
        what = f"model embedding of {getattr(row.model, 'name', '?')!r}"
        others = {"bias": stored_length("bias", row.bias)}
    check_lengths(
        what,
        getattr(probe, "name", "?"),
        getattr(probe, "embedding_length", None),
        vector=stored_length("vector", row.vector),
        **others,
        length=row.length,
    )


@event.listens_for(Session, "before_flush")
def _vectors_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    for row in (*session.new, *session.dirty):
        if isinstance(row, (TaskEmbeddingRow, ModelEmbeddingRow)):
            check_stored_vectors(row)
