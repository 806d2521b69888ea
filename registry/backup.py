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

Reading and checking a file is :mod:`registry.export_file`; turning its lines
into rows is :mod:`registry.import_rows`.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from registry.errors import AlreadyExists, InvalidInput, ProbeMismatch, arg, cannot_write
from registry.export_file import FORMAT, HEADER_KIND, KINDS, READABLE_FORMATS, check_whole, is_export, read_lines
from registry.import_rows import RowCache, import_line
from registry.orm import (
    REVISION_KINDS,
    Model2VecRunRow,
    ModelRow,
    ProbeRow,
    TaskEmbeddingRow,
    TaskRow,
    TransferResultRow,
)
from registry.rows import bump


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
    header = {
        "kind": HEADER_KIND,
        "format": FORMAT,
        "schema": head_revision(),
        "exported_at": _iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)),
        "counts": counts,
        "sha256": hashlib.sha256(body_bytes).hexdigest(),
    }
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
        raise cannot_write(path, err) from None
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
    if path.exists() and not force and not is_export(path):
        raise InvalidInput(
            f"{path} exists and is not a zoo export; choose another path or pass {arg('force')} to overwrite it"
        )


def _export_lines(session: Session) -> Iterator[dict[str, Any]]:
    """Every row as one JSON-ready dict, in the export's order: probes, tasks, models, then results."""
    yield from _catalogue_lines(session)
    yield from _result_lines(session)


def _catalogue_lines(session: Session) -> Iterator[dict[str, Any]]:
    """Probes, tasks and models (with tags and aliases), each kind ordered by name."""
    for p in session.scalars(select(ProbeRow).order_by(ProbeRow.name)):
        yield {
            "kind": "probe",
            "name": p.name,
            "arch": p.arch,
            "weights_checksum": p.weights_checksum,
            "embedding_length": p.embedding_length,
            "layers": list(p.layers),
            "created_at": _iso(p.created_at),
        }
    for t in session.scalars(select(TaskRow).order_by(TaskRow.name)):
        yield {
            "kind": "task",
            "name": t.name,
            "data_uri": t.data_uri,
            "num_classes": t.num_classes,
            "num_samples": t.num_samples,
            "fingerprint": t.fingerprint,
            "taxonomy": t.taxonomy,
            "created_at": _iso(t.created_at),
        }
    models = select(ModelRow).options(selectinload(ModelRow.tags), selectinload(ModelRow.aliases))
    for m in session.scalars(models.order_by(ModelRow.name)):
        yield {
            "kind": "model",
            "name": m.name,
            "source": m.source,
            "arch": m.arch,
            "num_params": m.num_params,
            "checksum": m.checksum,
            "trained_on": m.trained_on,
            "description": m.description,
            "created_at": _iso(m.created_at),
            "tags": {t.key: t.value for t in sorted(m.tags, key=lambda t: t.key)},
            "aliases": sorted(a.alias for a in m.aliases),
        }


def _result_lines(session: Session) -> Iterator[dict[str, Any]]:
    """Task embeddings (by task, probe, method), transfer results and Model2Vec runs (in recorded order)."""
    embeddings = (
        select(TaskEmbeddingRow)
        .join(TaskEmbeddingRow.task)
        .join(TaskEmbeddingRow.probe)
        .order_by(TaskRow.name, ProbeRow.name, TaskEmbeddingRow.method)
    )
    for e in session.scalars(embeddings):
        yield {
            "kind": "task_embedding",
            "task": e.task.name,
            "probe": e.probe.name,
            "method": e.method,
            "vector": _vector_out(e.vector),
            "prior": None if e.prior is None else _vector_out(e.prior),
            "sample_count": e.sample_count,
            "seed": e.seed,
            "params": e.params,
            "package_version": e.package_version,
            "created_at": _iso(e.created_at),
        }
    for r in session.scalars(select(TransferResultRow).order_by(TransferResultRow.id)):
        yield {
            "kind": "transfer_result",
            "model": r.model.name,
            "task": r.task.name,
            "metric": r.metric,
            "value": r.value,
            "protocol": r.protocol,
            "protocol_params": r.protocol_params,
            "train_size": r.train_size,
            "test_size": r.test_size,
            "created_at": _iso(r.created_at),
        }
    for run in session.scalars(select(Model2VecRunRow).order_by(Model2VecRunRow.id)):
        members = sorted(run.embeddings, key=lambda me: me.model.name)
        yield {
            "kind": "model2vec_run",
            "probe": run.probe.name,
            "method": run.method,
            "hyperparams": run.hyperparams,
            "metrics": run.metrics,
            "created_at": _iso(run.created_at),
            "embeddings": [
                {
                    "model": me.model.name,
                    "bias": _vector_out(me.bias),
                    "vector": _vector_out(me.vector),
                    "trained": bool(me.trained),
                    "params": dict(me.params or {}),
                }
                for me in members
            ],
        }


def import_jsonl(store: Any, path: Path) -> dict[str, int]:
    """Add every row in the export at ``path`` to ``store``, in one transaction.

    A model, alias or task name that already exists, or a probe of the same
    name with different weights, refuses the whole import: nothing is written.
    So does a file whose rows disagree with its header's ``counts`` or
    ``sha256`` (cut short, lines dropped or repeated, bytes changed).
    """
    header, lines, digest = read_lines(path)
    counts = {kind: 0 for kind in KINDS}
    for _, line in lines:
        counts[line["kind"]] += 1

    def work(session: Session) -> dict[str, int]:
        rows = RowCache(session)
        for lineno, line in lines:
            try:
                import_line(session, line, rows)
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
                raise InvalidInput(
                    f"{path}:{lineno}: bad {line['kind']} record ({err!r}); is this file a `zoo export`?"
                ) from None
            except (InvalidInput, ProbeMismatch) as err:
                raise type(err)(f"{path}:{lineno}: {err.message}") from None
        check_whole(path, header, counts, digest)
        session.flush()
        bump(session, *REVISION_KINDS)
        return counts

    try:
        return store.transact(work, write=True)
    except IntegrityError as err:
        raise AlreadyExists(
            f"{path} clashes with rows already in the registry ({str(err.orig).splitlines()[0]}); nothing was imported"
        ) from None


def _vector_out(data: bytes) -> dict[str, str]:
    """Stored float32 bytes (already little-endian, see records.vector_to_bytes) as base64."""
    return {"f32": base64.b64encode(bytes(data)).decode("ascii")}


def _iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="microseconds")


__all__ = ["FORMAT", "HEADER_KIND", "KINDS", "READABLE_FORMATS", "export_jsonl", "import_jsonl"]
