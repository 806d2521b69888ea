"""The registry's store: every read and write of the database goes through here.

ORM rows never leave this module (they become :mod:`registry.records`);
every write is one transaction that commits whole or leaves the database as
it was; database errors are translated into :mod:`registry.errors` here.
The session work of each concern lives beside it, and the store composes it:
models in :mod:`registry.model_writes`, tasks, probes and task embeddings in
:mod:`registry.task_writes`, lookups, listings and transfer results in
:mod:`registry.results`, Model2Vec runs in :mod:`registry.model2vec_runs`,
backups in :mod:`registry.backup`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry import records as rec
from registry import results
from registry.engine import display_url, integrity_error, run_transaction
from registry.errors import AlreadyExists, InvalidInput
from registry.model2vec_runs import NewRun, add_run_in, latest_run_in, run_embeddings_in
from registry.model_writes import (
    NewModel,
    SourceMove,
    add_model_in,
    list_models_in,
    plan_relocation,
    remove_model_in,
    set_alias_in,
    set_sources_in,
    source_move,
)
from registry.rows import model_record, model_row, probe_record, probe_row, task_record, task_row
from registry.task_writes import (
    EmbeddingSpec,
    NewTask,
    ProbeSpec,
    add_task_in,
    ensure_probe_in,
    probe_spec,
    put_embedding_in,
    remove_task_in,
)
from registry.validation import check_name, check_source, check_source_checksum, check_source_file, check_tags

T = TypeVar("T")


class Store:
    """A connection to one registry database. Open it with :meth:`Store.open`."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> Store:
        """Open the registry at ``url`` (default: :func:`registry.default_database_url`).

        With ``create=True`` a missing SQLite file or an empty database is
        created and upgraded to the current schema. A database whose schema
        is behind (or ahead of) this code is never touched: it raises
        :class:`SchemaMismatch` saying to run ``zoo db upgrade``.
        """
        from registry.schema import open_checked

        return cls(*open_checked(url, create=create))

    @property
    def url(self) -> str:
        """The database URL (with its password, so it can be reopened)."""
        return self._url.render_as_string(hide_password=False)

    @property
    def display_url(self) -> str:
        """The database URL with its password hidden, for messages."""
        return display_url(self._url)

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transact(self, work: Callable[[Session], T], *, write: bool) -> T:
        """Run ``work(session)`` in one transaction; IntegrityError passes through.

        Internal to :mod:`registry` (the backup module uses it too).
        """
        return run_transaction(self._engine, work, write=write, url=self._url)

    def run(self, work: Callable[[Session], T], *, write: bool) -> T:
        """:meth:`transact`, with constraint violations (races) as one-line errors."""
        try:
            return self.transact(work, write=write)
        except IntegrityError as err:
            raise integrity_error(err) from None

    def _write(self, work: Callable[[Session], T], clash: Callable[[], Exception]) -> T:
        try:
            return self.transact(work, write=True)
        except IntegrityError:
            raise clash() from None

    # ------------------------------------------------------------------ models
    def add_model(
        self,
        name: str,
        source: str,
        *,
        arch: str | None = None,
        num_params: int | None = None,
        checksum: str | None = None,
        trained_on: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        check: bool = True,
    ) -> rec.Model:
        """Register a model; ``source`` is ``timm:NAME``, ``hf-hub:REPO`` or ``file:PATH``.

        ``arch`` defaults to the architecture part of a ``timm:`` name. ``tags``
        is a mapping or a sequence of ``(key, value)`` pairs (a key twice is
        refused). A ``file:`` source must name a regular file with a loadable
        safetensors or PyTorch header, unless ``check`` is False.
        """
        model = NewModel(name, source, arch, num_params, checksum, trained_on, description, tags)
        if check:
            check_source_file(model.source)
        return self._write(
            lambda session: add_model_in(session, model),
            lambda: AlreadyExists(
                f"model {model.name!r} already exists; choose another name or `zoo models remove {model.name}`"
            ),
        )

    def get_model(self, name_or_alias: str) -> rec.Model:
        """The model with this name, else the one this alias points at."""
        return self.run(lambda s: model_record(model_row(s, name_or_alias)), write=False)

    def list_models(self, *, pattern: str | None = None, tags: Mapping[str, str] | None = None) -> list[rec.Model]:
        """Models ordered by name, filtered by a glob on the name and by exact tags."""
        wanted = check_tags(tags or {})
        return self.run(lambda session: list_models_in(session, pattern, wanted), write=False)

    def remove_model(self, name: str, *, force: bool = False) -> dict[str, int]:
        """Delete a model; with results or model embeddings only when ``force``.

        Returns how many rows of each kind went (``{"models": 1, ...}``).
        """
        return self.run(lambda session: remove_model_in(session, name, force), write=True)

    def set_alias(self, alias: str, model_name: str) -> rec.Model:
        """Point ``alias`` at a model (moving it if it pointed elsewhere)."""
        alias = check_name("alias", alias)
        return self._write(
            lambda session: set_alias_in(session, alias, model_name),
            lambda: AlreadyExists(f"alias {alias!r} was taken meanwhile; retry"),
        )

    def set_model_source(self, name: str, uri: str, *, check: bool = True) -> rec.Model:
        """Point model ``name`` (or an alias) at new weights ``uri``, checked like :meth:`add_model`.

        A ``file:`` source must exist with a loadable header and, when the model
        has a stored checksum, its sha256 must equal it (else InvalidInput: not
        the registered weights). ``check=False`` checks neither (a path that is
        not there yet, or weights the caller knowingly accepts as different).
        """
        uri = check_source(uri)
        move = self.run(lambda session: source_move(session, name, uri), write=False)
        _check_move(move, check=check)
        return self.run(lambda session: set_sources_in(session, [move]), write=True)[0]

    def relocate_sources(
        self, old_folder: str | Path, new_folder: str | Path, *, check: bool = True
    ) -> list[rec.Model]:
        """Move every ``file:`` source under ``old_folder`` to the same relative path under ``new_folder``.

        Folders are paths (or ``file:`` URIs) made absolute against the working
        folder; the new sources are absolute. Each new file is checked as in
        :meth:`set_model_source`; one failure changes nothing (all or nothing).
        Returns the moved models by name; NotFound when no source lies under ``old_folder``.
        """
        moves = self.run(lambda session: plan_relocation(session, old_folder, new_folder), write=False)
        for move in moves:
            try:
                _check_move(move, check=check)
            except InvalidInput as err:
                named = f"model {move.model!r}" in err.message
                raise InvalidInput(
                    f"{'' if named else f'cannot move model {move.model!r}: '}{err.message} (nothing was moved)",
                    param=err.param,
                ) from None
        return self.run(lambda session: set_sources_in(session, moves), write=True)

    # ------------------------------------------------------------------ tasks
    def add_task(
        self,
        name: str,
        *,
        data_uri: str,
        num_classes: int,
        num_samples: int,
        fingerprint: str,
        taxonomy: str | None = None,
    ) -> rec.Task:
        """Register a task (a labelled data set)."""
        task = NewTask(name, data_uri, num_classes, num_samples, fingerprint, taxonomy)
        return self._write(
            lambda session: add_task_in(session, task),
            lambda: AlreadyExists(f"task {task.name!r} already exists; choose another name"),
        )

    def get_task(self, name: str) -> rec.Task:
        """The task with this name."""
        return self.run(lambda s: task_record(task_row(s, name)), write=False)

    def list_tasks(self, *, pattern: str | None = None) -> list[rec.Task]:
        """Tasks ordered by name, filtered by a glob on the name."""
        return self.run(lambda session: results.list_tasks_in(session, pattern), write=False)

    def remove_task(self, name: str, *, force: bool = False) -> dict[str, int]:
        """Delete a task; with embeddings or transfer results only when ``force``."""
        return self.run(lambda session: remove_task_in(session, name, force), write=True)

    # ------------------------------------------------------------------ probes
    def ensure_probe(
        self, name: str, *, arch: str, weights_checksum: str, embedding_length: int, layers: Iterable[str]
    ) -> rec.Probe:
        """The probe ``name``, registered now if new; a different probe of that name is refused."""
        spec = probe_spec(
            name, arch=arch, weights_checksum=weights_checksum, embedding_length=embedding_length, layers=layers
        )
        try:
            return self.transact(lambda session: ensure_probe_in(session, spec), write=True)
        except IntegrityError:  # registered concurrently: compare with that one
            return self.run(lambda session: ensure_probe_in(session, spec), write=True)

    def get_probe(self, name: str) -> rec.Probe:
        """The probe with this name."""
        return self.run(lambda s: probe_record(probe_row(s, name)), write=False)

    def list_probes(self) -> list[rec.Probe]:
        """All probes ordered by name."""
        return self.run(results.list_probes_in, write=False)

    # ------------------------------------------------------------------ task embeddings
    def put_task_embedding(
        self,
        task: str,
        probe: str,
        method: str,
        vector: Any,
        *,
        prior: Any = None,
        sample_count: int,
        seed: int,
        params: Mapping[str, Any],
        package_version: str,
    ) -> rec.TaskEmbedding:
        """Store the current ``[D]`` embedding of ``task`` by ``probe``/``method``, replacing any."""
        spec = EmbeddingSpec(method, vector, sample_count, seed, params, package_version, prior=prior)

        def work(session: Session) -> rec.TaskEmbedding:
            return put_embedding_in(session, task, probe, spec)

        try:
            return self.transact(work, write=True)
        except IntegrityError:  # inserted concurrently: this one replaces it
            return self._write(
                work,
                lambda: AlreadyExists(
                    f"the {probe}/{method} embedding of {task!r} keeps being written concurrently; retry"
                ),
            )

    def record_task_embedding(
        self, *, task: NewTask | str, probe: ProbeSpec, embedding: EmbeddingSpec
    ) -> rec.TaskEmbedding:
        """Add ``task`` (a :class:`NewTask`; a name for a registered one), ensure ``probe`` and
        store ``embedding`` of the task by it: one transaction, all three or nothing.

        A probe-name clash or a wrong vector length after a new task leaves no task behind.
        """

        def work(session: Session) -> rec.TaskEmbedding:
            name = task if isinstance(task, str) else add_task_in(session, task).name
            ensure_probe_in(session, probe)
            return put_embedding_in(session, name, probe.name, embedding)

        shown = task if isinstance(task, str) else task.name
        return self._write(
            work, lambda: AlreadyExists(f"task {shown!r} or probe {probe.name!r} was registered concurrently; retry")
        )

    def get_task_embedding(self, task: str, probe: str, method: str) -> rec.TaskEmbedding:
        """The current embedding of ``task`` by ``probe``/``method``."""
        return self.run(lambda session: results.task_embedding_in(session, task, probe, method), write=False)

    def list_task_embeddings(
        self, *, probe: str | None = None, method: str | None = None, task: str | None = None
    ) -> list[rec.TaskEmbedding]:
        """Current embeddings, ordered by task, probe and method name."""
        return self.run(lambda session: results.list_task_embeddings_in(session, probe, method, task), write=False)

    # ------------------------------------------------------------------ transfer results
    def add_transfer_result(
        self,
        model: str,
        task: str,
        *,
        metric: str,
        value: float,
        protocol: str,
        protocol_params: Mapping[str, Any],
        train_size: int,
        test_size: int,
    ) -> rec.TransferResult:
        """Record ``metric`` = ``value`` of ``model`` on ``task`` under ``protocol``."""
        result = results.NewResult.build(metric, value, protocol, protocol_params, train_size, test_size)
        return self.run(lambda session: results.add_transfer_result_in(session, model, task, result), write=True)

    def list_transfer_results(
        self, *, model: str | None = None, task: str | None = None, protocol: str | None = None
    ) -> list[rec.TransferResult]:
        """Transfer results in the order they were recorded."""

        return self.run(lambda session: results.list_transfer_results_in(session, model, task, protocol), write=False)

    # ------------------------------------------------------------------ model2vec
    def add_model2vec_run(
        self,
        probe: str,
        method: str,
        *,
        hyperparams: Mapping[str, Any],
        metrics: Mapping[str, Any],
        embeddings: Mapping[str, tuple],
    ) -> rec.Model2VecRun:
        """Record a Model2Vec run and each model's ``(bias [D], vector [D])``.

        A value may carry a third element, ``trained`` (default True); False
        marks a cold-start model that joined after training; and a fourth,
        ``params``, a JSON object of learned per-model scalars.
        """
        run = NewRun.build(probe, method, hyperparams=hyperparams, metrics=metrics, embeddings=embeddings)
        return self._write(
            lambda session: add_run_in(session, run),
            lambda: InvalidInput("the same model appears twice in the embeddings (by name and by alias)"),
        )

    def latest_model2vec_run(self, probe: str, method: str) -> rec.Model2VecRun:
        """The newest Model2Vec run for ``probe``/``method``."""
        return self.run(lambda session: latest_run_in(session, probe, method), write=False)

    def list_model_embeddings(self, run_id: int) -> list[rec.ModelEmbedding]:
        """The model embeddings of one run, ordered by model name."""
        return self.run(lambda session: run_embeddings_in(session, run_id), write=False)

    # ------------------------------------------------------------------ change tracking
    def revision_token(self, kind: str) -> str:
        """An opaque token that changes whenever rows of ``kind`` change."""
        results.check_revision_kind(kind)
        return self.run(lambda session: results.revision_token_in(session, kind), write=False)

    def counts(self) -> dict[str, int]:
        """How many rows of each kind the registry holds."""
        return self.run(results.counts_in, write=False)

    # ------------------------------------------------------------------ backup
    def export_jsonl(self, path: str | Path, *, force: bool = False) -> dict[str, int]:
        """Write the whole registry to ``path`` as JSON Lines; returns counts per kind.

        Never over the registry's own file; over an existing file that is not a
        previous export only with ``force``. Written to a temporary file, then renamed.
        """
        from registry.backup import export_jsonl

        return export_jsonl(self, Path(path), force=force)

    def import_jsonl(self, path: str | Path) -> dict[str, int]:
        """Add everything in a JSON Lines export; all or nothing, clashing names refused."""
        from registry.backup import import_jsonl

        return import_jsonl(self, Path(path))


def _check_move(move: SourceMove, *, check: bool) -> None:
    """Unless not ``check``: the new source of ``move`` is a loadable file holding the registered weights."""
    if check:
        check_source_file(move.new)
        check_source_checksum(move.model, move.new, move.checksum)
