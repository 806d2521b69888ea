"""Model2Vec runs: the checked inputs and the session work behind the store's run methods.

:class:`NewRun` validates a run a caller hands
:meth:`registry.store.Store.add_model2vec_run` when it is built (names, JSON
objects, each model's ``bias [D]`` and ``vector [D]`` of one length); the
``*_in`` functions do the database part inside a transaction the store opens,
where the vectors are also checked against the probe's ``embedding_length``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import records as rec
from registry.errors import InvalidInput, NotFound
from registry.orm import Model2VecRunRow, ModelEmbeddingRow, ModelRow, ProbeRow, utcnow
from registry.rows import bump, model_embedding_record, model_row, probe_row, run_record
from registry.validation import check_json, check_lengths, check_name, check_vector


@dataclasses.dataclass(frozen=True)
class RunMember:
    """One model's learned embedding in a run: float32 bytes of ``bias``/``vector`` [D], and D."""

    model: str
    bias: bytes
    vector: bytes
    length: int
    trained: bool
    params: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class NewRun:
    """A Model2Vec run to record: probe, method, hyperparameters, metrics and checked members."""

    probe: str
    method: str
    hyperparams: dict[str, Any]
    metrics: dict[str, Any]
    members: tuple[RunMember, ...]

    @classmethod
    def build(
        cls,
        probe: str,
        method: str,
        *,
        hyperparams: Mapping[str, Any],
        metrics: Mapping[str, Any],
        embeddings: Mapping[str, tuple],
    ) -> NewRun:
        """Check a run; ``embeddings`` maps a model name to ``(bias, vector[, trained[, params]])``."""
        method = check_name("method", method)
        hyper_json, metrics_json = check_json("hyperparams", hyperparams), check_json("metrics", metrics)
        members = []
        for model_name, value in embeddings.items():
            if not isinstance(value, (tuple, list)) or len(value) not in (2, 3, 4):
                raise InvalidInput(f"embedding of {model_name!r} must be (bias, vector[, trained[, params]])")
            bias, bias_len = check_vector(f"bias of {model_name!r}", value[0])
            vector, vec_len = check_vector(f"vector of {model_name!r}", value[1])
            check_lengths(f"model embedding of {model_name!r}", probe, None, vector=vec_len, bias=bias_len)
            trained = bool(value[2]) if len(value) >= 3 else True
            params = check_json(f"params of {model_name!r}", value[3]) if len(value) == 4 else {}
            members.append(RunMember(model_name, bias, vector, vec_len, trained, params))
        return cls(probe, method, hyper_json, metrics_json, tuple(members))


def add_run_in(session: Session, run: NewRun) -> rec.Model2VecRun:
    """Insert ``run`` and its model embeddings; each vector's length must be the probe's."""
    the_probe = probe_row(session, run.probe)
    row = Model2VecRunRow(
        probe=the_probe, method=run.method, hyperparams=run.hyperparams, metrics=run.metrics, created_at=utcnow()
    )
    session.add(row)
    for member in run.members:
        check_lengths(
            f"model embedding of {member.model!r}", run.probe, the_probe.embedding_length, vector=member.length
        )
        row.embeddings.append(
            ModelEmbeddingRow(
                model=model_row(session, member.model),
                length=member.length,
                bias=member.bias,
                vector=member.vector,
                trained=member.trained,
                params=member.params,
            )
        )
    session.flush()
    bump(session, "model_embeddings")
    return run_record(row)


def latest_run_in(session: Session, probe: str, method: str) -> rec.Model2VecRun:
    """The newest run for ``probe``/``method``; NotFound saying how to make one."""
    row = session.scalar(
        select(Model2VecRunRow)
        .join(Model2VecRunRow.probe)
        .where(ProbeRow.name == probe, Model2VecRunRow.method == method)
        .order_by(Model2VecRunRow.id.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(f"no Model2Vec run for probe {probe!r} and method {method!r}; run `zoo train-model2vec`")
    return run_record(row)


def run_embeddings_in(session: Session, run_id: int) -> list[rec.ModelEmbedding]:
    """The model embeddings of run ``run_id``, ordered by model name."""
    if session.get(Model2VecRunRow, run_id) is None:
        raise NotFound(f"no Model2Vec run with id {run_id}")
    rows = session.scalars(
        select(ModelEmbeddingRow)
        .join(ModelEmbeddingRow.model)
        .where(ModelEmbeddingRow.run_id == run_id)
        .order_by(ModelRow.name)
    )
    return [model_embedding_record(r) for r in rows]


__all__ = ["NewRun", "RunMember", "add_run_in", "latest_run_in", "run_embeddings_in"]
