"""The SQLAlchemy 2 ORM of the registry (typed ``Mapped`` columns).

Rows defined here never leave :mod:`registry`: the store turns them into the
frozen records of :mod:`registry.records`. The migrations in ``migrations/``
must produce exactly this schema (``tests/registry/test_migrations.py`` checks
it with Alembic's ``compare_metadata``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names on every backend (and in batch migrations on SQLite).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_LENGTH = 255

# The kinds of rows whose changes :meth:`registry.store.Store.revision_token` tracks.
REVISION_KINDS = ("models", "tasks", "probes", "task_embeddings", "transfer_results", "model_embeddings")


def utcnow() -> dt.datetime:
    """Now in UTC, naive (the database stores UTC without a zone)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelRow(Base):
    """An expert model: where its weights come from and what it was trained on."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    source: Mapped[str] = mapped_column(Text)
    arch: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    num_params: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(128))
    # A task name, not a foreign key: experts are often trained on data the
    # registry does not hold (e.g. "imagenet-1k").
    trained_on: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    tags: Mapped[list[ModelTagRow]] = relationship(
        back_populates="model", cascade="all, delete-orphan", passive_deletes=True, order_by="ModelTagRow.key"
    )
    aliases: Mapped[list[ModelAliasRow]] = relationship(
        back_populates="model", cascade="all, delete-orphan", passive_deletes=True, order_by="ModelAliasRow.alias"
    )


class ModelTagRow(Base):
    """One key/value tag of a model."""

    __tablename__ = "model_tags"
    __table_args__ = (UniqueConstraint("model_id", "key", name="uq_model_tags_model_id_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(NAME_LENGTH))
    value: Mapped[str] = mapped_column(Text)

    model: Mapped[ModelRow] = relationship(back_populates="tags")


class ModelAliasRow(Base):
    """A movable name that points at one model (MLflow-style)."""

    __tablename__ = "model_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)

    model: Mapped[ModelRow] = relationship(back_populates="aliases")


class TaskRow(Base):
    """A labelled data set."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    data_uri: Mapped[str] = mapped_column(Text)
    num_classes: Mapped[int] = mapped_column(Integer)
    num_samples: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(128))
    taxonomy: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ProbeRow(Base):
    """A probe network used to embed tasks."""

    __tablename__ = "probes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    arch: Mapped[str] = mapped_column(String(NAME_LENGTH))
    weights_checksum: Mapped[str] = mapped_column(String(128))
    embedding_length: Mapped[int] = mapped_column(Integer)
    layers: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TaskEmbeddingRow(Base):
    """The current embedding of a task by a probe and method; vectors are float32 bytes."""

    __tablename__ = "task_embeddings"
    __table_args__ = (
        UniqueConstraint("task_id", "probe_id", "method", name="uq_task_embeddings_task_id_probe_id_method"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("probes.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    prior: Mapped[bytes | None] = mapped_column(LargeBinary)
    sample_count: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    package_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    task: Mapped[TaskRow] = relationship()
    probe: Mapped[ProbeRow] = relationship()


class TransferResultRow(Base):
    """A measured transfer: ``metric`` (e.g. test error) of a model on a task.

    Unique key: (model, task, protocol, metric, ``repeat``). ``repeat`` numbers the measurements of one
    (model, task, protocol, metric) in the order they were recorded, 0 for the first: measuring a pair
    again adds a row (the readers average or take the latest), while a job's unit writes only repeat 0,
    so a retried or concurrent unit can never add a second row (migration 0004).
    """

    __tablename__ = "transfer_results"
    __table_args__ = (
        UniqueConstraint("model_id", "task_id", "protocol", "metric", "repeat", name="uq_transfer_results_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    protocol: Mapped[str] = mapped_column(String(NAME_LENGTH))
    protocol_params: Mapped[dict[str, Any]] = mapped_column(JSON)
    train_size: Mapped[int] = mapped_column(Integer)
    test_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: 0 for the first measurement of (model, task, protocol, metric), 1 for the next, ... (migration 0004)
    repeat: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    model: Mapped[ModelRow] = relationship()
    task: Mapped[TaskRow] = relationship()


class Model2VecRunRow(Base):
    """One Model2Vec training run for a probe and method."""

    __tablename__ = "model2vec_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("probes.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(64))
    hyperparams: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    probe: Mapped[ProbeRow] = relationship()
    embeddings: Mapped[list[ModelEmbeddingRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class ModelEmbeddingRow(Base):
    """A model's learned bias and final vector from one Model2Vec run."""

    __tablename__ = "model_embeddings"
    __table_args__ = (UniqueConstraint("run_id", "model_id", name="uq_model_embeddings_run_id_model_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("model2vec_runs.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(Integer)
    bias: Mapped[bytes] = mapped_column(LargeBinary)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    trained: Mapped[bool] = mapped_column(Boolean, default=True)
    #: learned per-model scalars, e.g. {"shift": q} (migration 0003)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))

    run: Mapped[Model2VecRunRow] = relationship(back_populates="embeddings")
    model: Mapped[ModelRow] = relationship()


class RevisionRow(Base):
    """A change counter per kind of row, bumped in the same transaction as the change.

    ``stamp`` is a fresh random hex string at every bump, so a token never
    repeats even across a deleted and recreated database.
    """

    __tablename__ = "revisions"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)
    stamp: Mapped[str] = mapped_column(String(32))
