"""Rows from the lines of an export file: each line checked like any input, then added to a session.

Used by :func:`registry.backup.import_jsonl` inside its one transaction. Rows
refer to each other by name; a :class:`RowCache` looks each name up once.
Names, whole numbers, texts, JSON objects and vectors are checked with
:mod:`registry.validation` exactly as the store's own write methods check them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import AlreadyExists, InvalidInput, ProbeMismatch
from registry.orm import (
    Model2VecRunRow,
    ModelAliasRow,
    ModelEmbeddingRow,
    ModelRow,
    ModelTagRow,
    ProbeRow,
    TaskEmbeddingRow,
    TaskRow,
    TransferResultRow,
)
from registry.records import vector_from_bytes
from registry.results import import_repeat
from registry.rows import model_row, probe_row, task_row
from registry.validation import (
    MAX_INT32,
    check_checksum,
    check_count,
    check_finite,
    check_json,
    check_lengths,
    check_name,
    check_source,
    check_tags,
    check_vector,
)


class RowCache:
    """Model, task and probe rows by name, looked up once per import."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[tuple[str, str], Any] = {}

    def get(self, kind: str, name: str) -> Any:
        key = (kind, name)
        if key not in self.cache:
            if kind == "model":
                self.cache[key] = model_row(self.session, name, aliases=False)
            else:
                self.cache[key] = (task_row if kind == "task" else probe_row)(self.session, name)
        return self.cache[key]


def import_line(session: Session, line: dict[str, Any], rows: RowCache) -> None:
    """Check the export row ``line`` (its ``kind`` one of :data:`registry.export_file.KINDS`) and add it."""
    kind = line["kind"]
    _IMPORTERS[kind](session, line, rows, _parse_time(line["created_at"]))
    if kind in ("probe", "task", "model"):  # later rows look these up by name
        session.flush()


def _import_task(session: Session, line: dict[str, Any], rows: RowCache, created: dt.datetime) -> None:
    name = check_name("task", line["name"])
    if session.scalar(select(TaskRow.id).where(TaskRow.name == name)) is not None:
        raise AlreadyExists(f"task {name!r} is already in the registry; nothing was imported")
    session.add(
        TaskRow(
            name=name,
            data_uri=_text(line, "data_uri"),
            num_classes=check_count("num_classes", line["num_classes"], limit=MAX_INT32),
            num_samples=check_count("num_samples", line["num_samples"], limit=MAX_INT32),
            fingerprint=_text(line, "fingerprint", 128),
            taxonomy=_text(line, "taxonomy", optional=True),
            created_at=created,
        )
    )


def _import_transfer_result(session: Session, line: dict[str, Any], rows: RowCache, created: dt.datetime) -> None:
    model, task = rows.get("model", line["model"]), rows.get("task", line["task"])
    metric, value = _text(line, "metric", 64), check_finite("transfer result value", line["value"])
    protocol = check_name("protocol", line["protocol"])
    session.add(
        TransferResultRow(
            model=model,
            task=task,
            metric=metric,
            value=value,
            protocol=protocol,
            repeat=import_repeat(session, model.id, task.id, protocol, metric),
            protocol_params=check_json("protocol_params", line["protocol_params"]),
            train_size=check_count("train_size", line["train_size"], limit=MAX_INT32),
            test_size=check_count("test_size", line["test_size"], limit=MAX_INT32),
            created_at=created,
        )
    )


def _import_probe(session: Session, line: dict[str, Any], rows: RowCache, created: dt.datetime) -> None:
    if not isinstance(line["layers"], list):
        raise InvalidInput("layers must be a list of layer names")
    layers = [str(x) for x in line["layers"]]
    name = check_name("probe", line["name"])
    length = check_count("embedding_length", line["embedding_length"], limit=MAX_INT32, minimum=1)
    existing = session.scalar(select(ProbeRow).where(ProbeRow.name == name))
    if existing is None:
        session.add(
            ProbeRow(
                name=name,
                arch=_text(line, "arch"),
                weights_checksum=_text(line, "weights_checksum", 128),
                embedding_length=length,
                layers=layers,
                created_at=created,
            )
        )
    elif (existing.weights_checksum, list(existing.layers), existing.embedding_length) != (
        line["weights_checksum"],
        layers,
        length,
    ):
        raise ProbeMismatch(f"probe {name!r} in the file differs from the one in the registry; nothing was imported")


def _import_task_embedding(session: Session, line: dict[str, Any], rows: RowCache, created: dt.datetime) -> None:
    task, probe = rows.get("task", line["task"]), rows.get("probe", line["probe"])
    vector, length = _vector_in("vector", line["vector"])
    prior, prior_length = (None, None) if line.get("prior") is None else _vector_in("prior", line["prior"])
    check_lengths(
        f"task embedding of {task.name!r}", probe.name, probe.embedding_length, vector=length, prior=prior_length
    )
    session.add(
        TaskEmbeddingRow(
            task=task,
            probe=probe,
            method=check_name("method", line["method"]),
            length=length,
            vector=vector,
            prior=prior,
            sample_count=check_count("sample_count", line["sample_count"], limit=MAX_INT32),
            seed=check_count("seed", line["seed"], limit=MAX_INT32, minimum=-MAX_INT32),
            params=check_json("params", line["params"]),
            package_version=_text(line, "package_version", 64),
            created_at=created,
        )
    )


def _import_run(session: Session, line: dict[str, Any], rows: RowCache, created: dt.datetime) -> None:
    probe = rows.get("probe", line["probe"])
    run = Model2VecRunRow(
        probe=probe,
        method=check_name("method", line["method"]),
        hyperparams=check_json("hyperparams", line["hyperparams"]),
        metrics=check_json("metrics", line["metrics"]),
        created_at=created,
    )
    for member in line["embeddings"]:
        model = rows.get("model", member["model"])
        bias, bias_length = _vector_in("bias", member["bias"])
        vector, length = _vector_in("vector", member["vector"])
        check_lengths(
            f"model embedding of {model.name!r}", probe.name, probe.embedding_length, vector=length, bias=bias_length
        )
        run.embeddings.append(
            ModelEmbeddingRow(
                model=model,
                length=length,
                bias=bias,
                vector=vector,
                trained=bool(member["trained"]),
                params=check_json("params", member.get("params", {})),
            )
        )
    session.add(run)


def _import_model(session: Session, line: dict[str, Any], rows: RowCache, created: dt.datetime) -> None:
    name = check_name("model", line["name"])
    aliases = [check_name("alias", a) for a in line.get("aliases", [])]
    for taken in (name, *aliases):
        if (
            session.scalar(select(ModelRow.id).where(ModelRow.name == taken)) is not None
            or session.scalar(select(ModelAliasRow.id).where(ModelAliasRow.alias == taken)) is not None
        ):
            raise AlreadyExists(f"{taken!r} is already a model or alias in the registry; nothing was imported")
    num_params = line.get("num_params")
    row = ModelRow(
        name=name,
        source=check_source(line["source"]),
        arch=_text(line, "arch", optional=True),
        num_params=None if num_params is None else check_count("num_params", num_params),
        checksum=check_checksum(_text(line, "checksum", 128, optional=True)),
        trained_on=_text(line, "trained_on", optional=True),
        description=_text(line, "description", None, optional=True),
        created_at=created,
    )
    row.tags = [ModelTagRow(key=k, value=v) for k, v in check_tags(line.get("tags", {})).items()]
    row.aliases = [ModelAliasRow(alias=a) for a in aliases]
    session.add(row)


def _text(line: dict[str, Any], key: str, limit: int | None = 255, *, optional: bool = False) -> str | None:
    """``line[key]`` as text of at most ``limit`` characters (None allowed when ``optional``)."""
    value = line.get(key) if optional else line[key]
    if value is None and optional:
        return None
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        raise InvalidInput(f"{key} must be text of at most {limit or 'any number of'} characters, got {value!r:.60}")
    return value


def _vector_in(label: str, value: Any) -> tuple[bytes, int]:
    """A vector from an export line: ``{"f32": base64}`` or a list of numbers; checked like any input."""
    if isinstance(value, dict):
        try:
            raw = base64.b64decode(value["f32"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise InvalidInput(f'{label} must be {{"f32": base64}} or a list of numbers') from None
        if len(raw) % 4:
            raise InvalidInput(f"{label} has {len(raw)} bytes, not a whole number of float32 values")
        value = vector_from_bytes(raw, len(raw) // 4)
    return check_vector(label, value)


def _parse_time(text: Any) -> dt.datetime:
    value = dt.datetime.fromisoformat(str(text))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


_IMPORTERS = {
    "probe": _import_probe,
    "task": _import_task,
    "model": _import_model,
    "task_embedding": _import_task_embedding,
    "transfer_result": _import_transfer_result,
    "model2vec_run": _import_run,
}

__all__ = ["RowCache", "import_line"]
