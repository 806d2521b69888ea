"""The whole registry as JSON Lines: back it up, diff it, move it between databases.

The first line is a header (``{"kind": "zoo-registry", "format": 2, ...}``);
then one object per line, in dependency order: ``probe``, ``task``, ``model``
(with its tags and aliases), ``task_embedding``, ``transfer_result`` and
``model2vec_run`` (with its model embeddings). Rows refer to each other by
name, never by database id, so a file imports into any registry. Vectors are
written as ``{"f32": "<base64 of little-endian float32>"}``: exactly the stored
bytes, so a round trip loses nothing, at a quarter of the size of decimal
lists (which format 1 wrote and the reader still accepts, as plain lists of
numbers, in either format). Creation times are kept. A path ending in ``.gz`` is
written gzipped; gzipped files are recognised on import.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import IO, Any, Iterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from registry.errors import AlreadyExists, InvalidInput, ProbeMismatch
from registry.orm import (REVISION_KINDS, Model2VecRunRow, ModelAliasRow, ModelEmbeddingRow,
                          ModelRow, ModelTagRow, ProbeRow, TaskEmbeddingRow, TaskRow,
                          TransferResultRow)
from registry.records import vector_from_bytes
from registry.rows import bump, model_row, probe_row, task_row
from registry.validation import check_json, check_name, check_source, check_vector

FORMAT = 2
#: formats this code reads: 1 wrote vectors as lists of numbers
READABLE_FORMATS = (1, 2)
HEADER_KIND = "zoo-registry"
KINDS = ("probe", "task", "model", "task_embedding", "transfer_result", "model2vec_run")


def export_jsonl(store: Any, path: Path) -> dict[str, int]:
    """Write every row of ``store`` to ``path``; returns how many of each kind."""
    from registry.schema import head_revision

    def work(session: Session) -> list[dict[str, Any]]:
        return list(_export_lines(session))

    lines = store.run(work, write=False)
    counts = {kind: 0 for kind in KINDS}
    for line in lines:
        counts[line["kind"]] += 1
    header = {"kind": HEADER_KIND, "format": FORMAT, "schema": head_revision(),
              "exported_at": _iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)),
              "counts": counts}
    tmp = path.with_name(path.name + ".tmp")
    try:
        with _open_for_writing(tmp, gzipped=path.name.endswith(".gz")) as out:
            for line in [header, *lines]:
                out.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {err.strerror}; choose a writable path") from None
    return counts


def _export_lines(session: Session) -> Iterator[dict[str, Any]]:
    for p in session.scalars(select(ProbeRow).order_by(ProbeRow.name)):
        yield {"kind": "probe", "name": p.name, "arch": p.arch, "weights_checksum": p.weights_checksum,
               "embedding_length": p.embedding_length, "layers": list(p.layers),
               "created_at": _iso(p.created_at)}
    for t in session.scalars(select(TaskRow).order_by(TaskRow.name)):
        yield {"kind": "task", "name": t.name, "data_uri": t.data_uri, "num_classes": t.num_classes,
               "num_samples": t.num_samples, "fingerprint": t.fingerprint, "taxonomy": t.taxonomy,
               "created_at": _iso(t.created_at)}
    models = select(ModelRow).options(selectinload(ModelRow.tags), selectinload(ModelRow.aliases))
    for m in session.scalars(models.order_by(ModelRow.name)):
        yield {"kind": "model", "name": m.name, "source": m.source, "arch": m.arch,
               "num_params": m.num_params, "checksum": m.checksum, "trained_on": m.trained_on,
               "description": m.description, "created_at": _iso(m.created_at),
               "tags": {t.key: t.value for t in sorted(m.tags, key=lambda t: t.key)},
               "aliases": sorted(a.alias for a in m.aliases)}
    embeddings = (select(TaskEmbeddingRow).join(TaskEmbeddingRow.task).join(TaskEmbeddingRow.probe)
                  .order_by(TaskRow.name, ProbeRow.name, TaskEmbeddingRow.method))
    for e in session.scalars(embeddings):
        yield {"kind": "task_embedding", "task": e.task.name, "probe": e.probe.name,
               "method": e.method, "vector": _vector_out(e.vector),
               "prior": None if e.prior is None else _vector_out(e.prior),
               "sample_count": e.sample_count, "seed": e.seed, "params": e.params,
               "package_version": e.package_version, "created_at": _iso(e.created_at)}
    for r in session.scalars(select(TransferResultRow).order_by(TransferResultRow.id)):
        yield {"kind": "transfer_result", "model": r.model.name, "task": r.task.name,
               "metric": r.metric, "value": r.value, "protocol": r.protocol,
               "protocol_params": r.protocol_params, "train_size": r.train_size,
               "test_size": r.test_size, "created_at": _iso(r.created_at)}
    for run in session.scalars(select(Model2VecRunRow).order_by(Model2VecRunRow.id)):
        members = sorted(run.embeddings, key=lambda me: me.model.name)
        yield {"kind": "model2vec_run", "probe": run.probe.name, "method": run.method,
               "hyperparams": run.hyperparams, "metrics": run.metrics,
               "created_at": _iso(run.created_at),
               "embeddings": [{"model": me.model.name, "bias": _vector_out(me.bias),
                               "vector": _vector_out(me.vector), "trained": bool(me.trained),
                               "params": dict(me.params or {})}
                              for me in members]}


def import_jsonl(store: Any, path: Path) -> dict[str, int]:
    """Add every row in the export at ``path`` to ``store``, in one transaction.

    A model, alias or task name that already exists, or a probe of the same
    name with different weights, refuses the whole import: nothing is written.
    """
    lines = list(_read_lines(path))
    counts = {kind: 0 for kind in KINDS}
    for _, line in lines:
        counts[line["kind"]] += 1

    def work(session: Session) -> dict[str, int]:
        rows = _RowCache(session)
        for lineno, line in lines:
            try:
                _import_line(session, line, rows)
            except (KeyError, TypeError, ValueError) as err:
                raise InvalidInput(f"{path}:{lineno}: bad {line['kind']} record ({err!r}); "
                                   "is this file a `zoo export`?") from None
            except InvalidInput as err:
                raise InvalidInput(f"{path}:{lineno}: {err}") from None
        session.flush()
        bump(session, *REVISION_KINDS)
        return counts

    try:
        return store.transact(work, write=True)
    except IntegrityError as err:
        raise AlreadyExists(f"{path} clashes with rows already in the registry "
                            f"({str(err.orig).splitlines()[0]}); nothing was imported") from None


def _read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        handle = (gzip.open(path, "rt", encoding="utf-8") if gzipped
                  else path.open(encoding="utf-8"))
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err.strerror}; give the path of a `zoo export` file") from None
    with handle:
        header_seen = False
        for lineno, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise InvalidInput(f"{path}:{lineno}: not JSON ({getattr(err, 'msg', err)}); "
                                   "is this file a `zoo export`?") from None
            if not isinstance(line, dict) or "kind" not in line:
                raise InvalidInput(f"{path}:{lineno}: expected an object with a 'kind'")
            if not header_seen:
                if line.get("kind") != HEADER_KIND:
                    raise InvalidInput(f"{path} does not start with a zoo export header; "
                                       "make the file with `zoo export`")
                if line.get("format") not in READABLE_FORMATS:
                    raise InvalidInput(f"{path} has export format {line.get('format')!r}; this zoo "
                                       f"reads formats {', '.join(map(str, READABLE_FORMATS))}: upgrade zoo")
                header_seen = True
                continue
            if line["kind"] not in KINDS:
                raise InvalidInput(f"{path}:{lineno}: unknown kind {line['kind']!r}")
            yield lineno, line
        if not header_seen:
            raise InvalidInput(f"{path} is empty; make the file with `zoo export`")


class _RowCache:
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


def _import_line(session: Session, line: dict[str, Any], rows: _RowCache) -> None:
    kind = line["kind"]
    created = _parse_time(line["created_at"])
    if kind == "probe":
        layers = [str(x) for x in line["layers"]]
        name = check_name("probe", line["name"])
        existing = session.scalar(select(ProbeRow).where(ProbeRow.name == name))
        if existing is None:
            session.add(ProbeRow(name=name, arch=line["arch"], weights_checksum=line["weights_checksum"],
                                 embedding_length=int(line["embedding_length"]), layers=layers,
                                 created_at=created))
        elif (existing.weights_checksum, list(existing.layers)) != (line["weights_checksum"], layers):
            raise ProbeMismatch(f"probe {name!r} in the file differs from the one in the registry; "
                                "nothing was imported")
    elif kind == "task":
        name = check_name("task", line["name"])
        if session.scalar(select(TaskRow.id).where(TaskRow.name == name)) is not None:
            raise AlreadyExists(f"task {name!r} is already in the registry; nothing was imported")
        session.add(TaskRow(name=name, data_uri=line["data_uri"], num_classes=int(line["num_classes"]),
                            num_samples=int(line["num_samples"]), fingerprint=line["fingerprint"],
                            taxonomy=line.get("taxonomy"), created_at=created))
    elif kind == "model":
        _import_model(session, line, created)
    elif kind == "task_embedding":
        vector, length = _vector_in("vector", line["vector"])
        prior = None if line.get("prior") is None else _vector_in("prior", line["prior"])[0]
        session.add(TaskEmbeddingRow(
            task=rows.get("task", line["task"]), probe=rows.get("probe", line["probe"]),
            method=line["method"], length=length, vector=vector, prior=prior,
            sample_count=int(line["sample_count"]), seed=int(line["seed"]),
            params=check_json("params", line["params"]), package_version=line["package_version"],
            created_at=created))
    elif kind == "transfer_result":
        session.add(TransferResultRow(
            model=rows.get("model", line["model"]), task=rows.get("task", line["task"]),
            metric=line["metric"], value=float(line["value"]), protocol=line["protocol"],
            protocol_params=check_json("protocol_params", line["protocol_params"]),
            train_size=int(line["train_size"]), test_size=int(line["test_size"]), created_at=created))
    else:
        run = Model2VecRunRow(probe=rows.get("probe", line["probe"]), method=line["method"],
                              hyperparams=check_json("hyperparams", line["hyperparams"]),
                              metrics=check_json("metrics", line["metrics"]), created_at=created)
        for member in line["embeddings"]:
            bias, length = _vector_in("bias", member["bias"])
            vector, _ = _vector_in("vector", member["vector"])
            run.embeddings.append(ModelEmbeddingRow(
                model=rows.get("model", member["model"]), length=length,
                bias=bias, vector=vector, trained=bool(member["trained"]),
                params=check_json("params", member.get("params", {}))))
        session.add(run)
    if kind in ("probe", "task", "model"):
        session.flush()


def _import_model(session: Session, line: dict[str, Any], created: dt.datetime) -> None:
    name = check_name("model", line["name"])
    aliases = [check_name("alias", a) for a in line.get("aliases", [])]
    for taken in (name, *aliases):
        if (session.scalar(select(ModelRow.id).where(ModelRow.name == taken)) is not None
                or session.scalar(select(ModelAliasRow.id).where(ModelAliasRow.alias == taken)) is not None):
            raise AlreadyExists(f"{taken!r} is already a model or alias in the registry; "
                                "nothing was imported")
    row = ModelRow(name=name, source=check_source(line["source"]), arch=line.get("arch"),
                   num_params=line.get("num_params"), checksum=line.get("checksum"),
                   trained_on=line.get("trained_on"), description=line.get("description"),
                   created_at=created)
    row.tags = [ModelTagRow(key=str(k), value=str(v)) for k, v in line.get("tags", {}).items()]
    row.aliases = [ModelAliasRow(alias=a) for a in aliases]
    session.add(row)


def _open_for_writing(path: Path, *, gzipped: bool) -> IO[str]:
    if gzipped:
        return gzip.open(path, "wt", encoding="utf-8")
    return path.open("w", encoding="utf-8")


def _vector_out(data: bytes) -> dict[str, str]:
    """Stored float32 bytes (already little-endian, see records.vector_to_bytes) as base64."""
    return {"f32": base64.b64encode(bytes(data)).decode("ascii")}


def _vector_in(label: str, value: Any) -> tuple[bytes, int]:
    """A vector from an export line: ``{"f32": base64}`` or a list of numbers; checked like any input."""
    if isinstance(value, dict):
        try:
            raw = base64.b64decode(value["f32"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise InvalidInput(f"{label} must be {{\"f32\": base64}} or a list of numbers") from None
        if len(raw) % 4:
            raise InvalidInput(f"{label} has {len(raw)} bytes, not a whole number of float32 values")
        value = vector_from_bytes(raw, len(raw) // 4)
    return check_vector(label, value)


def _iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _parse_time(text: Any) -> dt.datetime:
    value = dt.datetime.fromisoformat(str(text))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


__all__ = ["export_jsonl", "import_jsonl"]
