"""Writing models: the checked inputs and the session work behind the store's model methods.

:class:`NewModel` validates what a caller hands :meth:`registry.store.Store.add_model`
when it is built; the ``*_in`` functions do the database part inside a
transaction the store opens. A new ``file:`` source is stored absolute
(:func:`registry.validation.absolute_source`). Moving weights
(:func:`plan_relocation`, :func:`set_sources_in`) rewrites ``file:`` sources
only; the files themselves are checked by the store before its write
transaction. Re-pointing one model (:func:`source_move`) also takes the
architecture its new source determines.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from registry import records as rec
from registry.errors import AlreadyExists, DependentRows, InvalidInput, NotFound, arg
from registry.orm import ModelAliasRow, ModelEmbeddingRow, ModelRow, ModelTagRow, TransferResultRow, utcnow
from registry.rows import bump, count_rows, model_record, model_row, refuse_taken_model_name
from registry.validation import (
    absolute_source,
    check_checksum,
    check_count,
    check_name,
    check_source,
    check_tags,
    check_text,
    describe_counts,
    source_arch,
    source_path,
    timm_arch,
)


@dataclasses.dataclass(frozen=True)
class NewModel:
    """A model to register, checked when built (name in NFC, source scheme, counts, tags).

    A ``file:`` source is made absolute against the working folder; ``arch`` defaults to a timm source's.
    """

    name: str
    source: str
    arch: str | None = None
    num_params: int | None = None
    checksum: str | None = None
    trained_on: str | None = None
    description: str | None = None
    tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "name", check_name("model", self.name))
        set_(self, "source", absolute_source(check_source(self.source)))
        set_(self, "arch", check_text("arch", self.arch))
        if self.arch is None:
            set_(self, "arch", timm_arch(self.source))
        set_(self, "description", check_text("description", self.description, None))
        if self.trained_on is not None:
            set_(self, "trained_on", check_name("task", self.trained_on))
        if self.num_params is not None:
            set_(self, "num_params", check_count("num_params", self.num_params))
        set_(self, "checksum", check_checksum(self.checksum))
        set_(self, "tags", check_tags(self.tags or {}))


def add_model_in(session: Session, model: NewModel) -> rec.Model:
    """Insert ``model`` with its tags; AlreadyExists when its name is a model or an alias."""
    refuse_taken_model_name(session, model.name)
    row = ModelRow(
        name=model.name,
        source=model.source,
        arch=model.arch,
        num_params=model.num_params,
        checksum=model.checksum,
        trained_on=model.trained_on,
        description=model.description,
        created_at=utcnow(),
    )
    row.tags = [ModelTagRow(key=k, value=v) for k, v in dict(model.tags).items()]
    row.aliases = []  # known empty: saves a lazy load when making the record
    session.add(row)
    session.flush()
    bump(session, "models")
    return model_record(row)


def list_models_in(session: Session, pattern: str | None, tags: Mapping[str, str]) -> list[rec.Model]:
    """Models ordered by name whose name matches the glob ``pattern`` and that carry every tag."""
    import fnmatch

    query = select(ModelRow).options(selectinload(ModelRow.tags), selectinload(ModelRow.aliases))
    for key, value in tags.items():
        query = query.where(ModelRow.tags.any((ModelTagRow.key == key) & (ModelTagRow.value == value)))
    rows = session.scalars(query.order_by(ModelRow.name)).all()
    return [model_record(r) for r in rows if pattern is None or fnmatch.fnmatchcase(r.name, pattern)]


def remove_model_in(session: Session, name: str, force: bool) -> dict[str, int]:
    """Delete a model (with its results and model embeddings only when ``force``); rows gone per kind."""
    row = model_row(session, name, aliases=False)
    counts = {
        "transfer_results": count_rows(session, TransferResultRow, TransferResultRow.model_id == row.id),
        "model_embeddings": count_rows(session, ModelEmbeddingRow, ModelEmbeddingRow.model_id == row.id),
    }
    dependents = {k: v for k, v in counts.items() if v}
    if dependents and not force:
        raise DependentRows(
            f"model {name!r} has {describe_counts(dependents)}; use {arg('force')} to remove them with it"
        )
    counts["model_tags"] = len(row.tags)
    counts["model_aliases"] = len(row.aliases)
    session.execute(delete(TransferResultRow).where(TransferResultRow.model_id == row.id))
    session.execute(delete(ModelEmbeddingRow).where(ModelEmbeddingRow.model_id == row.id))
    session.delete(row)
    session.flush()
    bump(session, "models", *(k for k, v in dependents.items()))
    return {"models": 1, **counts}


def set_alias_in(session: Session, alias: str, model_name: str) -> rec.Model:
    """Point ``alias`` (already checked) at a model, moving it if it pointed elsewhere."""
    target = model_row(session, model_name)
    if session.scalar(select(ModelRow.id).where(ModelRow.name == alias)) is not None:
        raise AlreadyExists(f"{alias!r} is a model name; choose another alias")
    existing = session.scalar(select(ModelAliasRow).where(ModelAliasRow.alias == alias))
    if existing is None:
        session.add(ModelAliasRow(alias=alias, model_id=target.id))
    else:
        existing.model_id = target.id
    session.flush()
    bump(session, "models")
    session.expire_all()
    return model_record(model_row(session, target.name, aliases=False))


@dataclasses.dataclass(frozen=True)
class SourceMove:
    """One model's source change: from ``old`` to ``new``, and its stored ``checksum`` (None: unknown).

    ``arch``: the architecture ``new`` determines (None: keep the stored one). When it replaces another
    architecture, the stored ``num_params`` (which counted the old one) becomes unknown; the checksum stays.
    """

    model: str
    old: str
    new: str
    checksum: str | None
    arch: str | None = None


def plan_relocation(session: Session, old_folder: str | Path, new_folder: str | Path) -> list[SourceMove]:
    """Every model whose ``file:`` source lies under ``old_folder``, moved to the same relative
    path under ``new_folder``, ordered by model name.

    Paths are made absolute against the working folder (``~`` expanded; no
    symlink is resolved: the old folder may be gone), and so are the new sources.
    NotFound when no source lies under ``old_folder``.
    """
    old = Path(os.path.abspath(_folder(old_folder, "old_folder")))
    new = Path(os.path.abspath(_folder(new_folder, "new_folder")))
    moves = []
    for row in session.scalars(select(ModelRow).where(ModelRow.source.startswith("file:")).order_by(ModelRow.name)):
        path = Path(os.path.abspath(source_path(row.source)))
        if path == old or not path.is_relative_to(old):
            continue
        moves.append(SourceMove(row.name, row.source, f"file:{new / path.relative_to(old)}", row.checksum))
    if not moves:
        raise NotFound(f"no model has a file: source under {old_folder}; see the sources in `zoo models list --json`")
    return moves


def _folder(folder: str | Path, label: str) -> Path:
    """A folder given as a path or as a ``file:`` URI, ``~`` expanded; ``label`` names the argument."""
    if not isinstance(folder, (str, os.PathLike)):
        kind = type(folder).__name__
        raise InvalidInput(f"{arg(label, label[:3].upper())} must be a folder path (str or Path), got {kind}")
    text = os.fspath(folder)
    return source_path(text) if text.startswith("file:") else Path(text).expanduser()


def set_sources_in(session: Session, moves: list[SourceMove]) -> list[rec.Model]:
    """Apply ``moves`` (all or none: a model whose source changed since it was planned refuses all)."""
    out = []
    for move in moves:
        row = model_row(session, move.model, aliases=False)
        if row.source != move.old or row.checksum != move.checksum:
            raise AlreadyExists(
                f"model {move.model!r} was changed by another writer meanwhile; nothing was changed, retry"
            )
        row.source = move.new
        if move.arch is not None and move.arch != row.arch:
            if row.arch is not None:
                row.num_params = None  # they counted the old architecture's parameters
            row.arch = move.arch
        out.append(row)
    session.flush()
    bump(session, "models")
    return [model_record(row) for row in out]


def source_move(session: Session, name: str, source: str) -> SourceMove:
    """The change of model ``name``'s (or alias's) source to ``source`` (checked; a ``file:`` path made
    absolute), with the architecture it determines (:func:`registry.validation.source_arch`)."""
    source = absolute_source(source)
    arch = source_arch(source)
    row = model_row(session, name)
    return SourceMove(row.name, row.source, source, row.checksum, arch)


__all__ = [
    "NewModel",
    "SourceMove",
    "add_model_in",
    "list_models_in",
    "plan_relocation",
    "remove_model_in",
    "set_alias_in",
    "set_sources_in",
    "source_move",
]
