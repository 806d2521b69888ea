"""Task2Vec over the registry: embed tasks, store them, compare them.

    z = zoo.connect()
    z.embed_task("path/to/images", name="birds")      # registers the task if new, stores the embedding
    z.similar_tasks("birds", k=5)
    z.distance("birds", "flowers")

The library (:mod:`zoo.embedding`) does the work; :class:`Embeddings` registers
tasks and probes and reads/writes embeddings through the store. Every write
happens after the embedding is computed, so a failure leaves the registry unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import AlreadyExists, InvalidInput, NotFound, arg
from zoo.embedding import DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.records import TaskEmbedding
    from registry.store import Store
    from zoo.api.indexes import Indexes
    from zoo.api.probes import Probes
    from zoo.embedding.task2vec import Embedding


class Embeddings:
    """Embed data sets with a probe and keep task embeddings in the registry."""

    def __init__(self, store: Store, probes: Probes, indexes: Indexes) -> None:
        self.store = store
        self.probes = probes
        self.indexes = indexes

    # ------------------------------------------------------------------ embedding
    def embed(
        self,
        data: Any,
        *,
        probe: Any = "bundled",
        method: str = DEFAULT_METHOD,
        max_samples: int | None = None,
        seed: int = 0,
        progress: bool = True,
        arch: str | None = None,
        allow_random: bool = False,
    ) -> Embedding:
        """Embed ``data`` without storing anything -> :class:`zoo.embedding.task2vec.Embedding`."""
        from zoo.embedding.task2vec import embed

        loaded = self.probes.load(probe, arch=arch, allow_random=allow_random)
        return embed(data, loaded, method=method, max_samples=max_samples, seed=seed, progress=progress)

    def embed_task(
        self,
        data: Any = None,
        name: str | None = None,
        *,
        probe: Any = "bundled",
        method: str = DEFAULT_METHOD,
        max_samples: int | None = None,
        seed: int = 0,
        taxonomy: str | None = None,
        progress: bool = True,
        arch: str | None = None,
        allow_random: bool = False,
    ) -> TaskEmbedding:
        """Embed a task and store it (replacing its previous probe/method embedding).

        ``data``: a folder, manifest, Dataset or LabelledImages; None embeds the
        registered task ``name`` from its recorded ``data_uri``. A new ``name`` is
        registered (data URI, classes, samples, content fingerprint, taxonomy from
        ``taxonomy`` or the folder's task.json). Returns the stored
        :class:`registry.records.TaskEmbedding`.
        """
        return self.record(
            *self.prepare_task(
                data,
                name,
                probe=probe,
                method=method,
                max_samples=max_samples,
                seed=seed,
                taxonomy=taxonomy,
                progress=progress,
                arch=arch,
                allow_random=allow_random,
            )
        )

    def prepare_task(
        self,
        data: Any = None,
        name: str | None = None,
        *,
        probe: Any = "bundled",
        method: str = DEFAULT_METHOD,
        max_samples: int | None = None,
        seed: int = 0,
        taxonomy: str | None = None,
        progress: bool = True,
        arch: str | None = None,
        allow_random: bool = False,
    ) -> tuple[Any, Any]:
        """:meth:`embed_task` up to the write: (the task, a registered name or a new task's spec; the
        :class:`zoo.embedding.TaskEmbedding`), every check done, nothing stored; :meth:`record` stores them."""
        from zoo.data import load_labelled, task_description

        given_data = data is not None
        data, name, existing = self._task_and_data(data, name)
        description = task_description(data) if isinstance(data, (str, Path)) else None
        if name is None:
            name = _name_from(data, description)
            existing = self._registered_task(name)
        elsewhere = self.registered_elsewhere(name, data) if given_data else None
        if elsewhere is not None:
            raise AlreadyExists(
                f"task {name!r} is registered from {elsewhere}, not {Path(data).expanduser().resolve()}: "
                f"embed it without {arg('data', 'PATH')}, or choose another name"
            )
        full = load_labelled(data, progress=progress)  # validates the data before anything is computed or written
        if existing is not None:
            _refuse_changed_data(existing, full)
        loaded = self.probes.load(probe, arch=arch, allow_random=allow_random)
        embedding = self.embed(full, probe=loaded, method=method, max_samples=max_samples, seed=seed, progress=progress)
        task = name if existing is not None else self._new_task(name, data, full, taxonomy, description)
        return task, embedding

    def record(self, task: Any, embedding: Any) -> TaskEmbedding:
        """Store ``embedding`` (a :class:`zoo.embedding.TaskEmbedding`) of ``task`` (a name, or a new task's spec).

        The task (when new), the probe and the embedding: one transaction, all or nothing.
        """
        from registry.task_writes import EmbeddingSpec, probe_spec

        info = embedding.probe
        return self.store.record_task_embedding(
            task=task,
            probe=probe_spec(
                info.name,
                arch=info.arch,
                weights_checksum=info.checksum,
                embedding_length=info.embedding_length,
                layers=info.layers,
            ),
            embedding=EmbeddingSpec(
                embedding.method,
                embedding.vector,
                embedding.sample_count,
                embedding.seed,
                embedding.params,
                embedding.package_version,
                prior=embedding.prior,
            ),
        )

    def _task_and_data(self, data: Any, name: str | None) -> tuple[Any, str | None, Any]:
        """(data, name, registered task or None): a missing ``data`` is the registered task's folder."""
        from zoo.data import local_path

        if isinstance(data, (str, Path)) and not str(data).strip():
            raise InvalidInput(f"{arg('data', 'PATH')} is empty: give a folder of labelled images or a manifest")
        if data is not None:
            return data, name, (None if name is None else self._registered_task(name))
        if name is None:
            raise InvalidInput(f"give the data ({arg('data', 'PATH')}) or the name of a registered task")
        existing = self.store.get_task(name)
        folder = local_path(existing.data_uri)
        if not folder.exists():
            raise InvalidInput(
                f"task {name!r} was registered from {existing.data_uri}, which no longer exists; "
                f"pass {arg('data', 'PATH')}"
            )
        return str(folder), name, existing

    def registered_elsewhere(self, name: str | None, data: Any) -> str | None:
        """The data URI task ``name`` is registered from, when that is not the folder or file ``data``; else None."""
        existing = None if name is None else self._registered_task(name)
        if existing is None or not isinstance(data, (str, Path)):
            return None
        return None if str(Path(data).expanduser().resolve()) == existing.data_uri else existing.data_uri

    def _registered_task(self, name: str) -> Any:
        try:
            return self.store.get_task(name)
        except NotFound:
            return None

    def _new_task(self, name: str, data: Any, full: Any, taxonomy: str | None, description: dict | None) -> Any:
        """A new task to register: data URI, classes, samples, content fingerprint and taxonomy."""
        from registry.task_writes import NewTask
        from zoo.data import fingerprint

        if taxonomy is None and description:
            parts = [description.get("collection"), description.get("taxonomy")]
            taxonomy = "/".join(str(p) for p in parts if p) or None
        uri = str(Path(data).expanduser().resolve()) if isinstance(data, (str, Path)) else full.source
        return NewTask(name, uri, full.num_classes, len(full), fingerprint(full), taxonomy)

    # ------------------------------------------------------------------ lookups
    def task_embedding(self, name: str, *, probe: Any = None, method: str = DEFAULT_METHOD) -> TaskEmbedding:
        """The stored embedding of task ``name`` (probe: see :meth:`zoo.api.probes.Probes.choose`)."""
        return self.store.get_task_embedding(name, self.probes.default(probe, method, task=name), method)

    def similar_tasks(
        self,
        name: str,
        k: int = 5,
        *,
        asymmetric: bool = False,
        probe: Any = None,
        method: str = DEFAULT_METHOD,
        alpha: float | None = None,
    ) -> list[dict[str, Any]]:
        """The ``k`` stored tasks nearest to ``name`` (same probe and method), nearest first.

        Symmetric: d_sym, through the FAISS task index (candidates in a
        transformed space, re-ranked exactly; see :mod:`zoo.index`).
        Asymmetric: d_asym(source -> name), i.e. which stored tasks would
        transfer best *to* ``name`` (METHOD section 5), by an exact scan.
        """
        import numpy as np

        from zoo.embedding.distance import ALPHA, d_asym_matrix

        if k < 1:
            raise InvalidInput(f"{arg('k', 'K')} must be at least 1, got {k}")
        target = self.task_embedding(name, probe=probe, method=method)
        vector = np.asarray(target.vector, dtype=np.float64)
        if not asymmetric:
            hits = self.indexes.nearest_tasks(vector, k, target.probe, method, exclude=name)
            return [
                {"task": task, "distance": float(dist), "probe": target.probe, "method": method, "kind": "d_sym"}
                for task, dist in hits
            ]
        others = [e for e in self.store.list_task_embeddings(probe=target.probe, method=method) if e.task != name]
        if not others:
            return []
        sources = np.stack([np.asarray(e.vector, dtype=np.float64) for e in others])
        t0 = np.stack([_t0(e) for e in others])
        dist = d_asym_matrix(sources, target.vector[None, :], t0, ALPHA if alpha is None else alpha)[:, 0]
        order = np.argsort(dist, kind="stable")[:k]
        return [
            {
                "task": others[i].task,
                "distance": float(dist[i]),
                "probe": target.probe,
                "method": method,
                "kind": "d_asym",
            }
            for i in order
        ]

    def distance(
        self, a: str, b: str, *, probe: Any = None, method: str = DEFAULT_METHOD, alpha: float | None = None
    ) -> dict[str, Any]:
        """d_sym(a, b) and d_asym(a -> b) of two stored tasks (same probe and method)."""
        from zoo.embedding.distance import ALPHA, d_asym, d_sym

        try:
            probe_name = self.probes.default(probe, method, task=a)
            ea = self.store.get_task_embedding(a, probe_name, method)
            eb = self.store.get_task_embedding(b, probe_name, method)
        except NotFound:
            self.store.get_task(a), self.store.get_task(b)  # an unknown name: its own NotFound
            raise self._no_shared_embedding(
                a, b, method, None if probe is None else self.probes.name_of(probe)
            ) from None
        weight = ALPHA if alpha is None else alpha
        return {
            "a": a,
            "b": b,
            "probe": probe_name,
            "method": method,
            "d_sym": d_sym(ea.vector, eb.vector),
            "d_asym": d_asym(ea.vector, eb.vector, _t0(ea), weight),
            "alpha": weight,
        }

    def _no_shared_embedding(self, a: str, b: str, method: str, probe: str | None) -> NotFound:
        """Tasks ``a`` and ``b`` have no ``method`` embedding by one probe (``probe`` when given): the error names
        the ``zoo embed-task`` call that gives them one, embedding a task whose data folder is still there."""
        have = {t: sorted({e.probe for e in self.store.list_task_embeddings(task=t, method=method)}) for t in (a, b)}
        if probe is not None:
            options = [(t, probe) for t in (a, b) if probe not in have[t]]
        else:  # a with a probe b is embedded with, else b with one of a's
            options = [(a, p) for p in have[b]] + [(b, p) for p in have[a]] or [(a, None), (b, None)]
        usable = [o for o in options if self._data_exists(o[0])]
        task, with_probe = (usable or options)[0]
        call = f"zoo embed-task {task}" + (f" --probe {with_probe}" if with_probe else "")
        call += "" if method == DEFAULT_METHOD else f" --method {method}"
        held = "; ".join(f"{t}: {', '.join(have[t]) or 'none'}" for t in (a, b))
        return NotFound(f"tasks {a!r} and {b!r} have no {method} embedding by the same probe ({held}); run `{call}`")

    def _data_exists(self, task: str) -> bool:
        from zoo.data import local_path

        return local_path(self.store.get_task(task).data_uri).exists()


def _name_from(data: Any, description: dict | None) -> str:
    """A new task's name: its task.json's, else the folder's or file's stem."""
    if description and description.get("name"):
        return str(description["name"])
    if isinstance(data, (str, Path)):
        return Path(data).expanduser().resolve().stem
    raise InvalidInput(f"name the task ({arg('name', 'NAME')}) when embedding a Python data set")


def _t0(record: TaskEmbedding) -> Any:
    from zoo.embedding.distance import trivial_embedding

    try:
        return trivial_embedding(record)
    except ValueError as err:
        raise InvalidInput(
            f"the embedding of {record.task!r} has no trivial embedding stored; re-run `zoo embed-task {record.task}`"
        ) from err


def _refuse_changed_data(task: Any, full: Any) -> None:
    """AlreadyExists when the data at hand is not the content registered ``task`` was recorded with (its
    fingerprint): its classes, samples and measured results describe that content, so an embedding of other
    data must not replace its own under its name."""
    from zoo.data import fingerprint

    if not task.fingerprint or fingerprint(full) == task.fingerprint:
        return
    raise AlreadyExists(
        f"the data of task {task.name!r} changed since it was registered ({task.num_classes} classes, "
        f"{task.num_samples} images then; {full.num_classes} classes, {len(full)} images now): register it under "
        f"another name, or remove the old task first (`zoo tasks remove {task.name} --force`)"
    )
