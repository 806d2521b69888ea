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

The header carries ``counts`` (rows of each kind) and ``sha256`` (of every
byte after the header line): an import checks both, so a file cut short at a
line boundary, or changed after export, is refused whole. (A hand-edited file
imports once its header's ``sha256`` is removed; ``counts`` must still match.)
Export never writes over the registry's own database file, nor over an
existing file that is not an export unless ``force``; it writes a temporary
file next to the target and renames it, so a failure leaves the target as it was.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import hashlib
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from registry.errors import AlreadyExists, InvalidInput, ProbeMismatch, arg
from registry.orm import (REVISION_KINDS, Model2VecRunRow, ModelAliasRow, ModelEmbeddingRow,
                          ModelRow, ModelTagRow, ProbeRow, TaskEmbeddingRow, TaskRow,
                          TransferResultRow)
from registry.records import vector_from_bytes
from registry.rows import bump, model_row, probe_row, task_row
from registry.validation import (MAX_INT32, check_count, check_finite, check_json, check_lengths,
                                 check_name, check_source, check_tags, check_vector)

FORMAT = 2
#: formats this code reads: 1 wrote vectors as lists of numbers
READABLE_FORMATS = (1, 2)
HEADER_KIND = "zoo-registry"
KINDS = ("probe", "task", "model", "task_embedding", "transfer_result", "model2vec_run")


def export_jsonl(store: Any, path: Path, *, force: bool = False) -> dict[str, int]:
    """Write every row of ``store`` to ``path``; returns how many of each kind.

    Refuses the registry's own database file, and an existing file that is not
    an export unless ``force``. Writes a temporary file beside ``path``, then renames it.
    """
    from registry.schema import head_revision

    _refuse_target(store, path, force=force)
    lines = store.run(lambda session: list(_export_lines(session)), write=False)
    counts = {kind: 0 for kind in KINDS}
    for line in lines:
        counts[line["kind"]] += 1
    body = "".join(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n" for line in lines)
    body_bytes = body.encode("utf-8")
    header = {"kind": HEADER_KIND, "format": FORMAT, "schema": head_revision(),
              "exported_at": _iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)),
              "counts": counts, "sha256": hashlib.sha256(body_bytes).hexdigest()}
    data = (json.dumps(header, ensure_ascii=False) + "\n").encode("utf-8") + body_bytes
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as out:
            out.write(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        tmp.replace(path)
    except OSError as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {err.strerror}; choose a writable path") from None
    return counts


def _refuse_target(store: Any, path: Path, *, force: bool) -> None:
    """Never the registry's own file; an existing non-export only with ``force``."""
    from registry.engine import is_sqlite, parse_url, sqlite_path

    parsed = parse_url(store.url)
    own = sqlite_path(parsed) if is_sqlite(parsed) else None
    if own is not None and path.exists():
        target = path.resolve()
        if target in {Path(f"{own}{suffix}").resolve() for suffix in ("", "-wal", "-shm", "-journal")}:
            raise InvalidInput(f"{path} is this registry's own database file; export to another path")
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give a file path to export to")
    if path.exists() and not path.is_file():
        raise InvalidInput(f"{path} is not a regular file; give a file path to export to")
    if path.exists() and not force and not _is_export(path):
        raise InvalidInput(f"{path} exists and is not a zoo export; choose another path "
                           f"or pass {arg('force')} to overwrite it")


def _is_export(path: Path) -> bool:
    """Whether ``path`` starts with a zoo export header (plain or gzipped)."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else path.open("rb")) as handle:
            first = handle.readline(1 << 16)
        return json.loads(first.decode("utf-8")).get("kind") == HEADER_KIND
    except (OSError, EOFError, zlib.error, ValueError, AttributeError):
        return False


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
    So does a file whose rows disagree with its header's ``counts`` or
    ``sha256`` (cut short, lines dropped or repeated, bytes changed).
    """
    header, lines, digest = _read_lines(path)
    counts = {kind: 0 for kind in KINDS}
    for _, line in lines:
        counts[line["kind"]] += 1

    def work(session: Session) -> dict[str, int]:
        rows = _RowCache(session)
        for lineno, line in lines:
            try:
                _import_line(session, line, rows)
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
                raise InvalidInput(f"{path}:{lineno}: bad {line['kind']} record ({err!r}); "
                                   "is this file a `zoo export`?") from None
            except (InvalidInput, ProbeMismatch) as err:
                raise type(err)(f"{path}:{lineno}: {err.message}") from None
        _check_whole(path, header, counts, digest)
        session.flush()
        bump(session, *REVISION_KINDS)
        return counts

    try:
        return store.transact(work, write=True)
    except IntegrityError as err:
        raise AlreadyExists(f"{path} clashes with rows already in the registry "
                            f"({str(err.orig).splitlines()[0]}); nothing was imported") from None


def _check_whole(path: Path, header: dict[str, Any], counts: dict[str, int], digest: str) -> None:
    """The rows read agree with the header's ``counts`` and ``sha256`` (when it has them)."""
    declared = header.get("counts")
    if declared is not None:
        if not isinstance(declared, dict) or any(k not in KINDS for k in declared):
            raise InvalidInput(f"{path}: the header's counts are damaged; make the file again with `zoo export`")
        wrong = [k for k in KINDS if declared.get(k, 0) != counts[k]]
        if wrong:
            kind = wrong[0]
            raise InvalidInput(f"{path} holds {counts[kind]} {kind} rows but its header says {declared.get(kind, 0)}: "
                               "the file was cut short or changed; nothing was imported")
    expected = header.get("sha256")
    if expected is not None and header.get("format") == FORMAT and expected != digest:
        raise InvalidInput(f"{path} does not match the checksum in its header: it was cut short or changed "
                           "after export; nothing was imported (export it again)")


def _read_lines(path: Path) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]], str]:
    """The header, the numbered rows after it, and the sha256 of every byte after the header line."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give the path of a `zoo export` file")
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise InvalidInput(f"{path} is not a regular file; give the path of a `zoo export` file")
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else path.open("rb")) as handle:
            data = handle.read()
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise InvalidInput(f"{path} is a damaged or truncated gzip file; export it again") from None
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err.strerror}; give the path of a `zoo export` file") from None
    header: dict[str, Any] | None = None
    lines: list[tuple[int, dict[str, Any]]] = []
    digest = hashlib.sha256()
    for lineno, raw_line in enumerate(data.splitlines(keepends=True), start=1):
        if header is not None:
            digest.update(raw_line)
        if not raw_line.strip():
            continue
        line = _parse_line(path, lineno, raw_line)
        if header is None:
            header = _check_header(path, line)
            continue
        if line["kind"] not in KINDS:
            raise InvalidInput(f"{path}:{lineno}: unknown kind {line['kind']!r}")
        lines.append((lineno, line))
    if header is None:
        raise InvalidInput(f"{path} is empty; make the file with `zoo export`")
    return header, lines, digest.hexdigest()


def _parse_line(path: Path, lineno: int, raw_line: bytes) -> dict[str, Any]:
    try:
        line = json.loads(raw_line.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}:{lineno}: not UTF-8 text; is this file a `zoo export`?") from None
    except ValueError as err:
        raise InvalidInput(f"{path}:{lineno}: not JSON ({getattr(err, 'msg', err)}); "
                           "is this file a `zoo export`?") from None
    if not isinstance(line, dict) or "kind" not in line:
        raise InvalidInput(f"{path}:{lineno}: expected an object with a 'kind'")
    return line


def _check_header(path: Path, line: dict[str, Any]) -> dict[str, Any]:
    if line.get("kind") != HEADER_KIND:
        raise InvalidInput(f"{path} does not start with a zoo export header; make the file with `zoo export`")
    if line.get("format") not in READABLE_FORMATS:
        raise InvalidInput(f"{path} has export format {line.get('format')!r}; this zoo "
                           f"reads formats {', '.join(map(str, READABLE_FORMATS))}: upgrade zoo")
    return line


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
        _import_probe(session, line, created)
    elif kind == "task":
        name = check_name("task", line["name"])
        if session.scalar(select(TaskRow.id).where(TaskRow.name == name)) is not None:
            raise AlreadyExists(f"task {name!r} is already in the registry; nothing was imported")
        session.add(TaskRow(name=name, data_uri=_text(line, "data_uri"),
                            num_classes=check_count("num_classes", line["num_classes"], limit=MAX_INT32),
                            num_samples=check_count("num_samples", line["num_samples"], limit=MAX_INT32),
                            fingerprint=_text(line, "fingerprint", 128),
                            taxonomy=_text(line, "taxonomy", optional=True), created_at=created))
    elif kind == "model":
        _import_model(session, line, created)
    elif kind == "task_embedding":
        _import_task_embedding(session, line, rows, created)
    elif kind == "transfer_result":
        session.add(TransferResultRow(
            model=rows.get("model", line["model"]), task=rows.get("task", line["task"]),
            metric=_text(line, "metric", 64), value=check_finite("transfer result value", line["value"]),
            protocol=check_name("protocol", line["protocol"]),
            protocol_params=check_json("protocol_params", line["protocol_params"]),
            train_size=check_count("train_size", line["train_size"], limit=MAX_INT32),
            test_size=check_count("test_size", line["test_size"], limit=MAX_INT32), created_at=created))
    else:
        _import_run(session, line, rows, created)
    if kind in ("probe", "task", "model"):
        session.flush()


def _import_probe(session: Session, line: dict[str, Any], created: dt.datetime) -> None:
    if not isinstance(line["layers"], list):
        raise InvalidInput("layers must be a list of layer names")
    layers = [str(x) for x in line["layers"]]
    name = check_name("probe", line["name"])
    length = check_count("embedding_length", line["embedding_length"], limit=MAX_INT32, minimum=1)
    existing = session.scalar(select(ProbeRow).where(ProbeRow.name == name))
    if existing is None:
        session.add(ProbeRow(name=name, arch=_text(line, "arch"), weights_checksum=_text(line, "weights_checksum", 128),
                             embedding_length=length, layers=layers, created_at=created))
    elif (existing.weights_checksum, list(existing.layers), existing.embedding_length) != (
            line["weights_checksum"], layers, length):
        raise ProbeMismatch(f"probe {name!r} in the file differs from the one in the registry; "
                            "nothing was imported")


def _import_task_embedding(session: Session, line: dict[str, Any], rows: _RowCache, created: dt.datetime) -> None:
    task, probe = rows.get("task", line["task"]), rows.get("probe", line["probe"])
    vector, length = _vector_in("vector", line["vector"])
    prior, prior_length = (None, None) if line.get("prior") is None else _vector_in("prior", line["prior"])
    check_lengths(f"task embedding of {task.name!r}", probe.name, probe.embedding_length,
                  vector=length, prior=prior_length)
    session.add(TaskEmbeddingRow(
        task=task, probe=probe, method=check_name("method", line["method"]), length=length, vector=vector,
        prior=prior, sample_count=check_count("sample_count", line["sample_count"], limit=MAX_INT32),
        seed=check_count("seed", line["seed"], limit=MAX_INT32, minimum=-MAX_INT32),
        params=check_json("params", line["params"]), package_version=_text(line, "package_version", 64),
        created_at=created))


def _import_run(session: Session, line: dict[str, Any], rows: _RowCache, created: dt.datetime) -> None:
    probe = rows.get("probe", line["probe"])
    run = Model2VecRunRow(probe=probe, method=check_name("method", line["method"]),
                          hyperparams=check_json("hyperparams", line["hyperparams"]),
                          metrics=check_json("metrics", line["metrics"]), created_at=created)
    for member in line["embeddings"]:
        model = rows.get("model", member["model"])
        bias, bias_length = _vector_in("bias", member["bias"])
        vector, length = _vector_in("vector", member["vector"])
        check_lengths(f"model embedding of {model.name!r}", probe.name, probe.embedding_length,
                      vector=length, bias=bias_length)
        run.embeddings.append(ModelEmbeddingRow(
            model=model, length=length, bias=bias, vector=vector, trained=bool(member["trained"]),
            params=check_json("params", member.get("params", {}))))
    session.add(run)


def _import_model(session: Session, line: dict[str, Any], created: dt.datetime) -> None:
    name = check_name("model", line["name"])
    aliases = [check_name("alias", a) for a in line.get("aliases", [])]
    for taken in (name, *aliases):
        if (session.scalar(select(ModelRow.id).where(ModelRow.name == taken)) is not None
                or session.scalar(select(ModelAliasRow.id).where(ModelAliasRow.alias == taken)) is not None):
            raise AlreadyExists(f"{taken!r} is already a model or alias in the registry; "
                                "nothing was imported")
    num_params = line.get("num_params")
    row = ModelRow(name=name, source=check_source(line["source"]), arch=_text(line, "arch", optional=True),
                   num_params=None if num_params is None else check_count("num_params", num_params),
                   checksum=_text(line, "checksum", 128, optional=True),
                   trained_on=_text(line, "trained_on", optional=True),
                   description=_text(line, "description", None, optional=True), created_at=created)
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
