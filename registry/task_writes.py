"""Writing a task, its probe and its embedding: the checked inputs and the session work.

:class:`NewTask`, :class:`ProbeSpec` and :class:`EmbeddingSpec` validate what
a caller hands in when they are built (names in NFC, whole numbers that fit
their columns, finite vectors of one length); the ``*_in`` functions do the
database part inside a transaction the store opens, so
:meth:`registry.store.Store.record_task_embedding` can do all three in one
(and :func:`remove_task_in` is the work of removing a task).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from registry import records as rec
from registry.errors import AlreadyExists, DependentRows, InvalidInput, ProbeMismatch, arg
from registry.orm import ModelRow, ProbeRow, TaskEmbeddingRow, TaskRow, TransferResultRow, utcnow
from registry.rows import bump, count_rows, probe_record, probe_row, task_embedding_record, task_record, task_row
from registry.validation import (
    MAX_INT32,
    check_count,
    check_json,
    check_lengths,
    check_name,
    check_vector,
    describe_counts,
)


@dataclasses.dataclass(frozen=True)
class NewTask:
    """A task to register: a labelled data set's name, location and content fingerprint."""

    name: str
    data_uri: str
    num_classes: int
    num_samples: int
    fingerprint: str
    taxonomy: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_name("task", self.name))
        object.__setattr__(self, "data_uri", str(self.data_uri))
        for label in ("num_classes", "num_samples"):
            object.__setattr__(self, label, check_count(label, getattr(self, label), limit=MAX_INT32))


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
    """A probe network: its name, architecture, weights checksum, ``[D]`` length and layers."""

    name: str
    arch: str
    weights_checksum: str
    embedding_length: int
    layers: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_name("probe", self.name))
        object.__setattr__(self, "layers", tuple(str(layer) for layer in self.layers))
        length = check_count("embedding_length", self.embedding_length, limit=MAX_INT32)
        if length <= 0:
            raise InvalidInput(f"embedding_length must be positive, got {length}")
        object.__setattr__(self, "embedding_length", length)


@dataclasses.dataclass(frozen=True)
class EmbeddingSpec:
    """A task embedding: ``vector [D]`` (and ``prior [D]``) by one method, with its provenance.

    After construction ``vector``/``prior`` hold float32 bytes and ``length`` is D.
    """

    method: str
    vector: Any
    sample_count: int
    seed: int
    params: Mapping[str, Any]
    package_version: str
    prior: Any = None
    length: int = dataclasses.field(default=0, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", check_name("method", self.method))
        data, length = check_vector("vector", self.vector)
        prior_data, prior_length = (None, None) if self.prior is None else check_vector("prior", self.prior)
        check_lengths("task embedding", "", None, vector=length, prior=prior_length)
        object.__setattr__(self, "vector", data)
        object.__setattr__(self, "prior", prior_data)
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "sample_count", check_count("sample_count", self.sample_count, limit=MAX_INT32))
        object.__setattr__(self, "seed", check_count("seed", self.seed, limit=MAX_INT32, minimum=-MAX_INT32))
        object.__setattr__(self, "params", check_json("params", self.params))
        object.__setattr__(self, "package_version", str(self.package_version))


def probe_spec(
    name: str, *, arch: str, weights_checksum: str, embedding_length: int, layers: Iterable[str]
) -> ProbeSpec:
    """A :class:`ProbeSpec` from keywords (layers any iterable)."""
    return ProbeSpec(name, arch, weights_checksum, embedding_length, tuple(layers))


def add_task_in(session: Session, task: NewTask) -> rec.Task:
    """Insert ``task``; AlreadyExists when its name is taken."""
    if session.scalar(select(TaskRow.id).where(TaskRow.name == task.name)) is not None:
        raise AlreadyExists(f"task {task.name!r} already exists; choose another name or `zoo tasks remove {task.name}`")
    row = TaskRow(
        name=task.name,
        data_uri=task.data_uri,
        num_classes=task.num_classes,
        num_samples=task.num_samples,
        fingerprint=task.fingerprint,
        taxonomy=task.taxonomy,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    bump(session, "tasks")
    return task_record(row)


def remove_task_in(session: Session, name: str, force: bool) -> dict[str, int]:
    """Delete a task (with its embeddings and transfer results only when ``force``, which also clears the
    ``trained_on`` of the models that name it); rows gone or changed per kind."""
    row = task_row(session, name)
    counts = {
        "task_embeddings": count_rows(session, TaskEmbeddingRow, TaskEmbeddingRow.task_id == row.id),
        "transfer_results": count_rows(session, TransferResultRow, TransferResultRow.task_id == row.id),
    }
    dependents = {k: v for k, v in counts.items() if v}
    trained = list(session.scalars(select(ModelRow.name).where(ModelRow.trained_on == name).order_by(ModelRow.name)))
    if (dependents or trained) and not force:
        parts = [f"has {describe_counts(dependents)}"] if dependents else []
        if trained:
            shown = ", ".join(trained[:3]) + (f" and {len(trained) - 3} more" if len(trained) > 3 else "")
            parts.append(f"is the training task of {len(trained)} model{'s' if len(trained) != 1 else ''} ({shown})")
        raise DependentRows(
            f"task {name!r} {' and '.join(parts)}; use {arg('force')} to remove it anyway"
            + (" (their trained_on is cleared)" if trained else "")
        )
    session.execute(delete(TaskEmbeddingRow).where(TaskEmbeddingRow.task_id == row.id))
    session.execute(delete(TransferResultRow).where(TransferResultRow.task_id == row.id))
    if trained:
        session.execute(update(ModelRow).where(ModelRow.trained_on == name).values(trained_on=None))
    session.delete(row)
    session.flush()
    bump(session, "tasks", *dependents, *(["models"] if trained else []))
    return {"tasks": 1, **counts, "trained_on_cleared": len(trained)}


def ensure_probe_in(session: Session, probe: ProbeSpec) -> rec.Probe:
    """The probe row, inserted if new; ProbeMismatch when a different probe has the name."""
    row = session.scalar(select(ProbeRow).where(ProbeRow.name == probe.name))
    wanted = (probe.arch, probe.weights_checksum, probe.embedding_length, list(probe.layers))
    if row is None:
        row = ProbeRow(
            name=probe.name,
            arch=probe.arch,
            weights_checksum=probe.weights_checksum,
            embedding_length=probe.embedding_length,
            layers=list(probe.layers),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        bump(session, "probes")
    elif (row.arch, row.weights_checksum, row.embedding_length, list(row.layers)) != wanted:
        raise ProbeMismatch(
            f"a different probe named {probe.name!r} is registered (arch {row.arch}, checksum "
            f"{row.weights_checksum[:12]}, {row.embedding_length} filters); give this probe another name"
        )
    return probe_record(row)


def put_embedding_in(session: Session, task: str, probe: str, embedding: EmbeddingSpec) -> rec.TaskEmbedding:
    """Store ``embedding`` of ``task`` by ``probe``, replacing the one of the same method."""
    the_task = task_row(session, task)
    the_probe = probe_row(session, probe)
    check_lengths(f"embedding of task {task!r}", probe, the_probe.embedding_length, vector=embedding.length)
    row = session.scalar(
        select(TaskEmbeddingRow).where(
            TaskEmbeddingRow.task_id == the_task.id,
            TaskEmbeddingRow.probe_id == the_probe.id,
            TaskEmbeddingRow.method == embedding.method,
        )
    )
    if row is None:
        row = TaskEmbeddingRow(task=the_task, probe=the_probe, method=embedding.method)
        session.add(row)
    row.length, row.vector, row.prior = embedding.length, embedding.vector, embedding.prior
    row.sample_count, row.seed = embedding.sample_count, embedding.seed
    row.params, row.package_version = embedding.params, embedding.package_version
    row.created_at = utcnow()
    session.flush()
    bump(session, "task_embeddings")
    return task_embedding_record(row)
