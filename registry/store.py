"""The registry's store: every read and write of the database goes through here.

ORM rows never leave this module (they become :mod:`registry.records`);
every write is one transaction that commits whole or leaves the database as
it was; database errors are translated into :mod:`registry.errors` here.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

from sqlalchemy import Engine, delete, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, selectinload

from registry import records as rec
from registry.engine import (default_sqlite_path, display_url, integrity_error, is_sqlite,
                             make_engine, parse_url, run_transaction, sqlite_path, unavailable)
from registry.errors import (AlreadyExists, DatabaseUnavailable, DependentRows, InvalidInput,
                             NotFound, SchemaMismatch)
from registry.orm import (REVISION_KINDS, Model2VecRunRow, ModelAliasRow, ModelEmbeddingRow,
                          ModelRow, ModelTagRow, ProbeRow, RevisionRow, TaskEmbeddingRow,
                          TaskRow, TransferResultRow, utcnow)
from registry.rows import (bump, count_rows, embedding_query, model_embedding_record,
                           model_record, model_row, probe_record, probe_row,
                           refuse_taken_model_name, run_record, task_embedding_record,
                           task_record, task_row, transfer_record)
from registry.task_writes import (EmbeddingSpec, NewTask, ProbeSpec, add_task_in, ensure_probe_in,
                                  probe_spec, put_embedding_in)
from registry.validation import (MAX_INT32, check_count, check_finite, check_json, check_lengths,
                                 check_name, check_source, check_source_file, check_tags,
                                 check_vector, describe_counts)

T = TypeVar("T")


class Store:
    """A connection to one registry database. Open it with :meth:`Store.open`."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> "Store":
        """Open the registry at ``url`` (default: :func:`registry.default_database_url`).

        With ``create=True`` a missing SQLite file or an empty database is
        created and upgraded to the current schema. A database whose schema
        is behind (or ahead of) this code is never touched: it raises
        :class:`SchemaMismatch` saying to run ``zoo db upgrade``.
        """
        from registry.schema import check_schema, upgrade

        parsed = parse_url(url)
        shown = display_url(parsed)
        path = sqlite_path(parsed) if is_sqlite(parsed) else None
        if path is not None and not path.exists():
            if not create:
                raise NotFound(f"no registry at {shown}; run `zoo db upgrade` to create one")
            if not path.parent.exists():
                if url or path != default_sqlite_path():
                    raise DatabaseUnavailable(
                        f"directory {path.parent} does not exist; create it or fix the --db URL")
                path.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(parsed)
        try:
            with engine.connect() as connection:
                current = check_schema(connection, url_text=shown)
        except DBAPIError as err:  # unreachable, not a database, no permission...
            engine.dispose()
            raise unavailable(parsed, err) from None
        except BaseException:
            engine.dispose()
            raise
        if current is None:
            if not create:
                engine.dispose()
                raise SchemaMismatch(f"the database at {shown} is empty; run `zoo db upgrade`")
            upgrade(parsed.render_as_string(hide_password=False))
        return cls(engine, parsed)

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

    def __enter__(self) -> "Store":
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
    def add_model(self, name: str, source: str, *, arch: str | None = None,
                  num_params: int | None = None, checksum: str | None = None,
                  trained_on: str | None = None, description: str | None = None,
                  tags: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
                  check: bool = True) -> rec.Model:
        """Register a model; ``source`` is ``timm:NAME``, ``hf-hub:REPO`` or ``file:PATH``.

        ``arch`` defaults to the architecture part of a ``timm:`` name. ``tags``
        is a mapping or a sequence of ``(key, value)`` pairs (a key twice is
        refused). A ``file:`` source must name a regular file with a loadable
        safetensors or PyTorch header, unless ``check`` is False.
        """
        name = check_name("model", name)
        source = check_source(source)
        if check:
            check_source_file(source)
        if arch is None and source.startswith("timm:"):
            arch = source[len("timm:"):].split(".")[0] or None
        if trained_on is not None:
            trained_on = check_name("task", trained_on)
        if num_params is not None:
            num_params = check_count("num_params", num_params)
        clean_tags = check_tags(tags or {})

        def work(session: Session) -> rec.Model:
            refuse_taken_model_name(session, name)
            row = ModelRow(name=name, source=source, arch=arch, num_params=num_params,
                           checksum=checksum, trained_on=trained_on, description=description,
                           created_at=utcnow())
            row.tags = [ModelTagRow(key=k, value=v) for k, v in clean_tags.items()]
            row.aliases = []  # known empty: saves a lazy load when making the record
            session.add(row)
            session.flush()
            bump(session, "models")
            return model_record(row)

        return self._write(work, lambda: AlreadyExists(
            f"model {name!r} already exists; choose another name or `zoo models remove {name}`"))

    def get_model(self, name_or_alias: str) -> rec.Model:
        """The model with this name, else the one this alias points at."""
        return self.run(lambda s: model_record(model_row(s, name_or_alias)), write=False)

    def list_models(self, *, pattern: str | None = None,
                    tags: Mapping[str, str] | None = None) -> list[rec.Model]:
        """Models ordered by name, filtered by a glob on the name and by exact tags."""
        wanted = check_tags(tags or {})

        def work(session: Session) -> list[rec.Model]:
            query = select(ModelRow).options(selectinload(ModelRow.tags),
                                             selectinload(ModelRow.aliases))
            for key, value in wanted.items():
                query = query.where(ModelRow.tags.any(
                    (ModelTagRow.key == key) & (ModelTagRow.value == value)))
            rows = session.scalars(query.order_by(ModelRow.name)).all()
            return [model_record(r) for r in rows
                    if pattern is None or fnmatch.fnmatchcase(r.name, pattern)]

        return self.run(work, write=False)

    def remove_model(self, name: str, *, force: bool = False) -> dict[str, int]:
        """Delete a model; with results or model embeddings only when ``force``.

        Returns how many rows of each kind went (``{"models": 1, ...}``).
        """

        def work(session: Session) -> dict[str, int]:
            row = model_row(session, name, aliases=False)
            counts = {
                "transfer_results": count_rows(session, TransferResultRow, TransferResultRow.model_id == row.id),
                "model_embeddings": count_rows(session, ModelEmbeddingRow, ModelEmbeddingRow.model_id == row.id),
            }
            dependents = {k: v for k, v in counts.items() if v}
            if dependents and not force:
                raise DependentRows(
                    f"model {name!r} has {describe_counts(dependents)}; "
                    f"use --force (force=True) to remove them with it")
            counts["model_tags"] = len(row.tags)
            counts["model_aliases"] = len(row.aliases)
            session.execute(delete(TransferResultRow).where(TransferResultRow.model_id == row.id))
            session.execute(delete(ModelEmbeddingRow).where(ModelEmbeddingRow.model_id == row.id))
            session.delete(row)
            session.flush()
            bump(session, "models", *(k for k, v in dependents.items()))
            return {"models": 1, **counts}

        return self.run(work, write=True)

    def set_alias(self, alias: str, model_name: str) -> rec.Model:
        """Point ``alias`` at a model (moving it if it pointed elsewhere)."""
        alias = check_name("alias", alias)

        def work(session: Session) -> rec.Model:
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

        return self._write(work, lambda: AlreadyExists(f"alias {alias!r} was taken meanwhile; retry"))

    # ------------------------------------------------------------------ tasks
    def add_task(self, name: str, *, data_uri: str, num_classes: int, num_samples: int,
                 fingerprint: str, taxonomy: str | None = None) -> rec.Task:
        """Register a task (a labelled data set)."""
        task = NewTask(name, data_uri, num_classes, num_samples, fingerprint, taxonomy)
        return self._write(lambda session: add_task_in(session, task), lambda: AlreadyExists(
            f"task {task.name!r} already exists; choose another name"))

    def get_task(self, name: str) -> rec.Task:
        """The task with this name."""
        return self.run(lambda s: task_record(task_row(s, name)), write=False)

    def list_tasks(self, *, pattern: str | None = None) -> list[rec.Task]:
        """Tasks ordered by name, filtered by a glob on the name."""

        def work(session: Session) -> list[rec.Task]:
            rows = session.scalars(select(TaskRow).order_by(TaskRow.name)).all()
            return [task_record(r) for r in rows
                    if pattern is None or fnmatch.fnmatchcase(r.name, pattern)]

        return self.run(work, write=False)

    def remove_task(self, name: str, *, force: bool = False) -> dict[str, int]:
        """Delete a task; with embeddings or transfer results only when ``force``."""

        def work(session: Session) -> dict[str, int]:
            row = task_row(session, name)
            counts = {
                "task_embeddings": count_rows(session, TaskEmbeddingRow, TaskEmbeddingRow.task_id == row.id),
                "transfer_results": count_rows(session, TransferResultRow, TransferResultRow.task_id == row.id),
            }
            dependents = {k: v for k, v in counts.items() if v}
            if dependents and not force:
                raise DependentRows(f"task {name!r} has {describe_counts(dependents)}; "
                                    "use --force (force=True) to remove them with it")
            session.execute(delete(TaskEmbeddingRow).where(TaskEmbeddingRow.task_id == row.id))
            session.execute(delete(TransferResultRow).where(TransferResultRow.task_id == row.id))
            session.delete(row)
            session.flush()
            bump(session, "tasks", *dependents)
            return {"tasks": 1, **counts}

        return self.run(work, write=True)

    # ------------------------------------------------------------------ probes
    def ensure_probe(self, name: str, *, arch: str, weights_checksum: str,
                     embedding_length: int, layers: Iterable[str]) -> rec.Probe:
        """The probe ``name``, registered now if new; a different probe of that name is refused."""
        spec = probe_spec(name, arch=arch, weights_checksum=weights_checksum,
                          embedding_length=embedding_length, layers=layers)
        try:
            return self.transact(lambda session: ensure_probe_in(session, spec), write=True)
        except IntegrityError:  # registered concurrently: compare with that one
            return self.run(lambda session: ensure_probe_in(session, spec), write=True)

    def get_probe(self, name: str) -> rec.Probe:
        """The probe with this name."""
        return self.run(lambda s: probe_record(probe_row(s, name)), write=False)

    def list_probes(self) -> list[rec.Probe]:
        """All probes ordered by name."""
        return self.run(lambda s: [probe_record(r) for r in
                                   s.scalars(select(ProbeRow).order_by(ProbeRow.name))],
                        write=False)

    # ------------------------------------------------------------------ task embeddings
    def put_task_embedding(self, task: str, probe: str, method: str, vector: Any, *,
                           prior: Any = None, sample_count: int, seed: int,
                           params: Mapping[str, Any], package_version: str) -> rec.TaskEmbedding:
        """Store the current ``[D]`` embedding of ``task`` by ``probe``/``method``, replacing any."""
        spec = EmbeddingSpec(method, vector, sample_count, seed, params, package_version, prior=prior)

        def work(session: Session) -> rec.TaskEmbedding:
            return put_embedding_in(session, task, probe, spec)

        try:
            return self.transact(work, write=True)
        except IntegrityError:  # inserted concurrently: this one replaces it
            return self._write(work, lambda: AlreadyExists(
                f"the {probe}/{method} embedding of {task!r} keeps being written concurrently; retry"))

    def record_task_embedding(self, *, task: NewTask | str, probe: ProbeSpec,
                              embedding: EmbeddingSpec) -> rec.TaskEmbedding:
        """Add ``task`` (a :class:`NewTask`; a name for a registered one), ensure ``probe`` and
        store ``embedding`` of the task by it: one transaction, all three or nothing.

        A probe-name clash or a wrong vector length after a new task leaves no task behind.
        """

        def work(session: Session) -> rec.TaskEmbedding:
            name = task if isinstance(task, str) else add_task_in(session, task).name
            ensure_probe_in(session, probe)
            return put_embedding_in(session, name, probe.name, embedding)

        shown = task if isinstance(task, str) else task.name
        return self._write(work, lambda: AlreadyExists(
            f"task {shown!r} or probe {probe.name!r} was registered concurrently; retry"))

    def get_task_embedding(self, task: str, probe: str, method: str) -> rec.TaskEmbedding:
        """The current embedding of ``task`` by ``probe``/``method``."""

        def work(session: Session) -> rec.TaskEmbedding:
            row = session.scalar(embedding_query().where(
                TaskRow.name == task, ProbeRow.name == probe, TaskEmbeddingRow.method == method))
            if row is None:
                task_row(session, task)
                raise NotFound(f"task {task!r} has no {method} embedding by probe {probe!r}; "
                               f"run `zoo embed-task {task}`")
            return task_embedding_record(row)

        return self.run(work, write=False)

    def list_task_embeddings(self, *, probe: str | None = None, method: str | None = None,
                             task: str | None = None) -> list[rec.TaskEmbedding]:
        """Current embeddings, ordered by task, probe and method name."""

        def work(session: Session) -> list[rec.TaskEmbedding]:
            query = embedding_query()
            if probe is not None:
                query = query.where(ProbeRow.name == probe)
            if method is not None:
                query = query.where(TaskEmbeddingRow.method == method)
            if task is not None:
                query = query.where(TaskRow.name == task)
            query = query.order_by(TaskRow.name, ProbeRow.name, TaskEmbeddingRow.method)
            return [task_embedding_record(r) for r in session.scalars(query)]

        return self.run(work, write=False)

    # ------------------------------------------------------------------ transfer results
    def add_transfer_result(self, model: str, task: str, *, metric: str, value: float,
                            protocol: str, protocol_params: Mapping[str, Any], train_size: int,
                            test_size: int) -> rec.TransferResult:
        """Record ``metric`` = ``value`` of ``model`` on ``task`` under ``protocol``."""
        metric, protocol = check_name("metric", metric), check_name("protocol", protocol)
        value = check_finite("transfer result value", value)
        train_size = check_count("train_size", train_size, limit=MAX_INT32)
        test_size = check_count("test_size", test_size, limit=MAX_INT32)
        params_json = check_json("protocol_params", protocol_params)

        def work(session: Session) -> rec.TransferResult:
            row = TransferResultRow(model=model_row(session, model), task=task_row(session, task),
                                    metric=metric, value=float(value), protocol=protocol,
                                    protocol_params=params_json, train_size=int(train_size),
                                    test_size=int(test_size), created_at=utcnow())
            session.add(row)
            session.flush()
            bump(session, "transfer_results")
            return transfer_record(row)

        return self.run(work, write=True)

    def list_transfer_results(self, *, model: str | None = None, task: str | None = None,
                              protocol: str | None = None) -> list[rec.TransferResult]:
        """Transfer results in the order they were recorded."""

        def work(session: Session) -> list[rec.TransferResult]:
            query = (select(TransferResultRow).join(TransferResultRow.model)
                     .join(TransferResultRow.task)
                     .options(selectinload(TransferResultRow.model),
                              selectinload(TransferResultRow.task)))
            if model is not None:
                query = query.where(ModelRow.id == model_row(session, model).id)
            if task is not None:
                query = query.where(TaskRow.name == task)
            if protocol is not None:
                query = query.where(TransferResultRow.protocol == protocol)
            return [transfer_record(r) for r in session.scalars(query.order_by(TransferResultRow.id))]

        return self.run(work, write=False)

    # ------------------------------------------------------------------ model2vec
    def add_model2vec_run(self, probe: str, method: str, *, hyperparams: Mapping[str, Any],
                          metrics: Mapping[str, Any],
                          embeddings: Mapping[str, tuple]) -> rec.Model2VecRun:
        """Record a Model2Vec run and each model's ``(bias [D], vector [D])``.

        A value may carry a third element, ``trained`` (default True); False
        marks a cold-start model that joined after training; and a fourth,
        ``params``, a JSON object of learned per-model scalars.
        """
        method = check_name("method", method)
        hyper_json = check_json("hyperparams", hyperparams)
        metrics_json = check_json("metrics", metrics)
        prepared = []
        for model_name, value in embeddings.items():
            if not isinstance(value, (tuple, list)) or len(value) not in (2, 3, 4):
                raise InvalidInput(f"embedding of {model_name!r} must be (bias, vector[, trained[, params]])")
            bias, bias_len = check_vector(f"bias of {model_name!r}", value[0])
            vector, vec_len = check_vector(f"vector of {model_name!r}", value[1])
            check_lengths(f"model embedding of {model_name!r}", probe, None, vector=vec_len, bias=bias_len)
            trained = bool(value[2]) if len(value) >= 3 else True
            params = check_json(f"params of {model_name!r}", value[3]) if len(value) == 4 else {}
            prepared.append((model_name, bias, vector, vec_len, trained, params))

        def work(session: Session) -> rec.Model2VecRun:
            the_probe = probe_row(session, probe)
            run = Model2VecRunRow(probe=the_probe, method=method, hyperparams=hyper_json,
                                  metrics=metrics_json, created_at=utcnow())
            session.add(run)
            for model_name, bias, vector, length, trained, params in prepared:
                check_lengths(f"model embedding of {model_name!r}", probe, the_probe.embedding_length,
                              vector=length)
                run.embeddings.append(ModelEmbeddingRow(
                    model=model_row(session, model_name), length=length, bias=bias,
                    vector=vector, trained=trained, params=params))
            session.flush()
            bump(session, "model_embeddings")
            return run_record(run)

        return self._write(work, lambda: InvalidInput(
            "the same model appears twice in the embeddings (by name and by alias)"))

    def latest_model2vec_run(self, probe: str, method: str) -> rec.Model2VecRun:
        """The newest Model2Vec run for ``probe``/``method``."""

        def work(session: Session) -> rec.Model2VecRun:
            row = session.scalar(
                select(Model2VecRunRow).join(Model2VecRunRow.probe)
                .where(ProbeRow.name == probe, Model2VecRunRow.method == method)
                .order_by(Model2VecRunRow.id.desc()).limit(1))
            if row is None:
                raise NotFound(f"no Model2Vec run for probe {probe!r} and method {method!r}; "
                               "run `zoo train-model2vec`")
            return run_record(row)

        return self.run(work, write=False)

    def list_model_embeddings(self, run_id: int) -> list[rec.ModelEmbedding]:
        """The model embeddings of one run, ordered by model name."""

        def work(session: Session) -> list[rec.ModelEmbedding]:
            if session.get(Model2VecRunRow, run_id) is None:
                raise NotFound(f"no Model2Vec run with id {run_id}")
            rows = session.scalars(
                select(ModelEmbeddingRow).join(ModelEmbeddingRow.model)
                .where(ModelEmbeddingRow.run_id == run_id).order_by(ModelRow.name))
            return [model_embedding_record(r) for r in rows]

        return self.run(work, write=False)

    # ------------------------------------------------------------------ change tracking
    def revision_token(self, kind: str) -> str:
        """An opaque token that changes whenever rows of ``kind`` change."""
        if kind not in REVISION_KINDS:
            raise InvalidInput(f"unknown revision kind {kind!r}; use one of {', '.join(REVISION_KINDS)}")

        def work(session: Session) -> str:
            row = session.get(RevisionRow, kind)
            return "0-none" if row is None else f"{row.counter}-{row.stamp}"

        return self.run(work, write=False)

    def counts(self) -> dict[str, int]:
        """How many rows of each kind the registry holds."""
        tables = {"models": ModelRow, "tasks": TaskRow, "probes": ProbeRow,
                  "task_embeddings": TaskEmbeddingRow, "transfer_results": TransferResultRow,
                  "model2vec_runs": Model2VecRunRow, "model_embeddings": ModelEmbeddingRow}
        return self.run(lambda s: {k: count_rows(s, t) for k, t in tables.items()}, write=False)

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
