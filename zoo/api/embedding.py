"""Zoo methods for Task2Vec: embed tasks, store them, compare them (issue 3).

    z = zoo.connect()
    z.embed_task("path/to/images", name="birds")      # registers the task if new, stores the embedding
    z.similar_tasks("birds", k=5)
    z.distance("birds", "flowers")

The library (:mod:`zoo.embedding`) does the work; this mixin registers tasks and
probes and reads/writes embeddings through ``self.store``. Every write happens
after the embedding is computed, so a failure leaves the registry unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from registry.errors import InvalidInput, NotFound

DEFAULT_METHOD = "montecarlo"


class ProbeName(str):
    """A probe's registry name (a ``str``); ``.info`` is its :class:`zoo.embedding.probe.ProbeInfo`."""

    info: Any


class EmbeddingMixin:
    store: Any

    # ------------------------------------------------------------------ probes
    def _load_probe(self, spec: Any = "bundled", *, arch: str | None = None, allow_random: bool = False):
        """A loaded :class:`zoo.embedding.probe.Probe` for a spec, a registered probe name or a module.

        Loaded probes are kept on this object, so embedding many tasks loads the weights once.
        """
        from zoo.embedding.probe import Probe, resolve_probe
        from zoo.networks import parse_source

        if isinstance(spec, Probe) or not isinstance(spec, str):
            return resolve_probe(spec, allow_random=allow_random)
        cache = self.__dict__.setdefault("_probes", {})
        key = (spec, arch, allow_random)
        if key in cache:
            return cache[key]
        try:
            parse_source(spec)
        except InvalidInput:
            probe = self._registered_probe(spec, arch=arch, allow_random=allow_random)
        else:
            probe = resolve_probe(spec, arch=arch, allow_random=allow_random)
        cache[key] = probe
        return probe

    def _registered_probe(self, name: str, *, arch: str | None, allow_random: bool):
        """Load a probe given by its registry name: a timm name, or the bundled probe's name."""
        from zoo.embedding.probe import resolve_probe
        from zoo.networks import parse_source

        try:
            self.store.get_probe(name)
        except NotFound:
            parse_source(name)  # raises the one-line "unknown source" error
            raise
        for candidate in ("bundled", f"timm:{name}"):
            try:
                probe = resolve_probe(candidate, arch=arch, allow_random=allow_random)
            except InvalidInput:
                continue
            if probe.info.name == name:
                return probe
        raise InvalidInput(f"probe {name!r} is registered but where its weights live is not: "
                           "pass --probe bundled, timm:NAME or file:PATH --arch ARCH")

    def resolve_probe(self, spec: Any = "bundled", *, arch: str | None = None,
                      allow_random: bool = False) -> ProbeName:
        """The registry name of the probe ``spec`` names (a str; ``.info`` holds its ProbeInfo)."""
        probe = self._load_probe(spec, arch=arch, allow_random=allow_random)
        name = ProbeName(probe.info.name)
        name.info = probe.info
        return name

    # ------------------------------------------------------------------ embedding
    def embed(self, data: Any, *, probe: Any = "bundled", method: str = DEFAULT_METHOD,
              max_samples: int | None = None, seed: int = 0, progress: bool = True,
              arch: str | None = None, allow_random: bool = False):
        """Embed ``data`` without storing anything -> :class:`zoo.embedding.task2vec.Embedding`."""
        from zoo.embedding.task2vec import embed

        loaded = self._load_probe(probe, arch=arch, allow_random=allow_random)
        return embed(data, loaded, method=method, max_samples=max_samples, seed=seed, progress=progress)

    def embed_task(self, data: Any = None, name: str | None = None, *, probe: Any = "bundled",
                   method: str = DEFAULT_METHOD, max_samples: int | None = None, seed: int = 0,
                   taxonomy: str | None = None, progress: bool = True, arch: str | None = None,
                   allow_random: bool = False):
        """Embed a task and store it (replacing its previous probe/method embedding).

        ``data``: a folder, manifest, Dataset or LabelledImages; None embeds the
        registered task ``name`` from its recorded ``data_uri``. A new ``name`` is
        registered (data URI, classes, samples, content fingerprint, taxonomy from
        ``taxonomy`` or the folder's task.json). Returns the stored
        :class:`registry.records.TaskEmbedding`.
        """
        from zoo.data import load_labelled, task_description

        existing = None
        if data is None:
            if name is None:
                raise InvalidInput("give the data (--data PATH) or the name of a registered task")
            existing = self.store.get_task(name)
            data = existing.data_uri
            if not Path(data).exists():
                raise InvalidInput(f"task {name!r} was registered from {data}, which no longer exists; "
                                   "pass --data PATH")
        description = task_description(data) if isinstance(data, (str, Path)) else None
        if name is None:
            if description and description.get("name"):
                name = str(description["name"])
            elif isinstance(data, (str, Path)):
                name = Path(data).expanduser().resolve().stem
            else:
                raise InvalidInput("name the task (name=...) when embedding a Python data set")
        if existing is None:
            try:
                existing = self.store.get_task(name)
            except NotFound:
                existing = None
        if existing is not None and isinstance(data, (str, Path)):
            given = str(Path(data).expanduser().resolve())
            if given != existing.data_uri:
                raise InvalidInput(f"task {name!r} is registered from {existing.data_uri}, not {given}: "
                                   "embed it without --data, or choose another name")
        full = load_labelled(data, progress=progress)  # validates the data before anything is computed or written
        loaded = self._load_probe(probe, arch=arch, allow_random=allow_random)
        embedding = self.embed(full, probe=loaded, method=method, max_samples=max_samples, seed=seed,
                               progress=progress)
        if existing is None:
            from zoo.data import fingerprint

            if taxonomy is None and description:
                parts = [description.get("collection"), description.get("taxonomy")]
                taxonomy = "/".join(str(p) for p in parts if p) or None
            uri = str(Path(data).expanduser().resolve()) if isinstance(data, (str, Path)) else full.source
            self.store.add_task(name, data_uri=uri, num_classes=full.num_classes, num_samples=len(full),
                                fingerprint=fingerprint(full), taxonomy=taxonomy)
        info = embedding.probe
        self.store.ensure_probe(info.name, arch=info.arch, weights_checksum=info.checksum,
                                embedding_length=info.embedding_length, layers=info.layers)
        return self.store.put_task_embedding(
            name, info.name, embedding.method, embedding.vector, prior=embedding.prior,
            sample_count=embedding.sample_count, seed=embedding.seed, params=embedding.params,
            package_version=embedding.package_version)

    # ------------------------------------------------------------------ lookups
    def _probe_for(self, task: str, probe: Any, method: str) -> str:
        """The probe name to use for ``task``: the given one, else the only one it is embedded with."""
        if probe is not None:
            try:
                return self.store.get_probe(probe).name
            except NotFound:
                return str(self.resolve_probe(probe))
        found = sorted({e.probe for e in self.store.list_task_embeddings(task=task, method=method)})
        if not found:
            self.store.get_task(task)  # NotFound for an unknown task
            raise NotFound(f"task {task!r} has no {method} embedding; run `zoo embed-task {task}`")
        if len(found) > 1:
            raise InvalidInput(f"task {task!r} is embedded with several probes ({', '.join(found)}); "
                               "pass --probe NAME")
        return found[0]

    def task_embedding(self, name: str, *, probe: Any = None, method: str = DEFAULT_METHOD):
        """The stored embedding of task ``name`` (probe: only one it has, unless given)."""
        return self.store.get_task_embedding(name, self._probe_for(name, probe, method), method)

    def similar_tasks(self, name: str, k: int = 5, *, asymmetric: bool = False, probe: Any = None,
                      method: str = DEFAULT_METHOD, alpha: float | None = None) -> list[dict[str, Any]]:
        """The ``k`` stored tasks nearest to ``name`` (same probe and method), nearest first.

        Symmetric: d_sym, through the FAISS task index (candidates in a
        transformed space, re-ranked exactly; see :mod:`zoo.index`).
        Asymmetric: d_asym(source -> name), i.e. which stored tasks would
        transfer best *to* ``name`` (METHOD section 5), by an exact scan.
        """
        import numpy as np

        from zoo.embedding.distance import ALPHA, d_asym_matrix, d_sym_matrix

        if k < 1:
            raise InvalidInput(f"-k must be at least 1, got {k}")
        target = self.task_embedding(name, probe=probe, method=method)
        if not asymmetric:
            hits = self.similar_tasks_indexed(name, k, probe=target.probe, method=method)
            return [{"task": task, "distance": float(dist), "probe": target.probe, "method": method,
                     "kind": "d_sym"} for task, dist in hits]
        others = [e for e in self.store.list_task_embeddings(probe=target.probe, method=method) if e.task != name]
        if not others:
            return []
        sources = np.stack([np.asarray(e.vector, dtype=np.float64) for e in others])
        if asymmetric:
            t0 = np.stack([_t0(e) for e in others])
            dist = d_asym_matrix(sources, target.vector[None, :], t0, ALPHA if alpha is None else alpha)[:, 0]
        else:
            dist = d_sym_matrix(sources, target.vector[None, :])[:, 0]
        order = np.argsort(dist, kind="stable")[:k]
        return [{"task": others[i].task, "distance": float(dist[i]), "probe": target.probe, "method": method,
                 "kind": "d_asym" if asymmetric else "d_sym"} for i in order]

    def distance(self, a: str, b: str, *, probe: Any = None, method: str = DEFAULT_METHOD,
                 alpha: float | None = None) -> dict[str, Any]:
        """d_sym(a, b) and d_asym(a -> b) of two stored tasks (same probe and method)."""
        from zoo.embedding.distance import ALPHA, d_asym, d_sym

        probe_name = self._probe_for(a, probe, method)
        ea = self.store.get_task_embedding(a, probe_name, method)
        eb = self.store.get_task_embedding(b, probe_name, method)
        weight = ALPHA if alpha is None else alpha
        return {"a": a, "b": b, "probe": probe_name, "method": method,
                "d_sym": d_sym(ea.vector, eb.vector),
                "d_asym": d_asym(ea.vector, eb.vector, _t0(ea), weight), "alpha": weight}


def _t0(record) -> Any:
    from zoo.embedding.distance import trivial_embedding

    try:
        return trivial_embedding(record)
    except ValueError as err:
        raise InvalidInput(f"the embedding of {record.task!r} has no trivial embedding stored; "
                           f"re-run `zoo embed-task {record.task}`") from err
