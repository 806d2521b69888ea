"""The FAISS indexes of one registry: model embeddings of the latest Model2Vec run, and task embeddings.

Each index is saved next to the registry (:func:`zoo.index.index_directory`)
with a sidecar naming what it was built from (the run and the store's
revision tokens); a query rebuilds a stale index and re-reads nothing while
the one in memory stays fresh.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, NotFound, arg
from zoo.api.space import learned_vectors, load_space

if TYPE_CHECKING:
    from registry.records import Model2VecRun
    from registry.store import Store
    from zoo.index import EmbeddingIndex

_REVISIONS = {"models": ("models", "task_embeddings", "model_embeddings"), "tasks": ("task_embeddings",)}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


class Indexes:
    """Build, cache and refresh the model and task indexes of one probe/method pair."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: indexes loaded by this connection, by path
        self.loaded: dict[str, EmbeddingIndex] = {}

    def path(self, kind: str, probe: str, method: str) -> Path:
        """Where the ``kind`` ("models" or "tasks") index of probe/method is saved."""
        from zoo.index import index_directory

        return index_directory(self.store.url) / f"{kind}-{_slug(probe)}-{_slug(method)}.npz"

    def _built_from(self, kind: str, probe: str, method: str, run_id: int | None) -> dict[str, Any]:
        revisions = {k: self.store.revision_token(k) for k in _REVISIONS[kind]}
        return {"kind": kind, "probe": probe, "method": method, "run_id": run_id, "revisions": revisions}

    def _fresh(self, path: Path, built_from: dict[str, Any]) -> EmbeddingIndex | None:
        """The index at ``path`` if it was built from ``built_from`` (memory first, then disk), else None."""
        from zoo.index import EmbeddingIndex

        cached = self.loaded.get(str(path))
        if cached is not None and cached.meta.get("built_from") == built_from:
            return cached
        if (EmbeddingIndex.read_sidecar(path) or {}).get("built_from") != built_from:
            return None
        index = EmbeddingIndex.load(path)
        if index is None or index.meta.get("built_from") != built_from:
            return None
        self.loaded[str(path)] = index
        return index

    def _keep(self, path: Path, index: EmbeddingIndex) -> EmbeddingIndex:
        index.save(path)
        self.loaded[str(path)] = index
        return index

    def models(
        self,
        probe: str,
        method: str,
        *,
        rebuild: bool = False,
        factory: str | None = None,
        progress: bool = False,
        save: bool = True,
    ) -> tuple[Model2VecRun, EmbeddingIndex]:
        """(latest run, fresh index over its model embeddings), rebuilt when stale (and saved unless not ``save``).

        The index orders models by their Model2Vec distance d_asym(m_i -> t) + shift_i (:mod:`zoo.model2vec`),
        folding the per-model terms into its offsets; the recommender reads every model's exact distance
        from it and ranks by expected error (:mod:`zoo.api.ranking`).
        """

        from zoo.embedding.distance import d_sym_matrix
        from zoo.index import EmbeddingIndex

        run = self.store.latest_model2vec_run(probe, method)
        path = self.path("models", probe, method)
        built_from = self._built_from("models", probe, method, run.id)
        index = None if rebuild else self._fresh(path, built_from)
        if index is not None:
            return run, index
        space = load_space(self.store, probe, method)
        if not space.models:
            raise NotFound("the zoo has no models; register one with `zoo register-model`")
        vectors, shifts, untrained = learned_vectors(self.store, run.id, space)
        alpha = float(run.hyperparams.get("alpha", 0.15))
        offsets = alpha * d_sym_matrix(vectors, space.t0[None, :])[:, 0] - shifts
        meta = {
            "built_from": built_from,
            "alpha": alpha,
            "untrained": len(untrained),
            "error_map": run.hyperparams.get("error_map", [0.0, 1.0]),
            "error_link": run.hyperparams.get("error_link", "identity"),
        }
        cold = set(untrained)
        columns = {
            "source": [m.source for m in space.models],
            "arch": [m.arch or "" for m in space.models],
            "trained": ["0" if m.name in cold else "1" for m in space.models],
        }
        index = EmbeddingIndex.build(
            [m.name for m in space.models],
            vectors,
            offsets=offsets,
            factory=factory,
            meta=meta,
            columns=columns,
            progress=progress,
        )
        return run, (self._keep(path, index) if save else index)

    def tasks(
        self,
        probe: str,
        method: str,
        *,
        rebuild: bool = False,
        factory: str | None = None,
        progress: bool = False,
        save: bool = True,
    ) -> EmbeddingIndex:
        """The fresh index over the task embeddings of probe/method (d_sym, no offsets; saved unless not ``save``)."""
        from zoo.index import EmbeddingIndex

        path = self.path("tasks", probe, method)
        built_from = self._built_from("tasks", probe, method, None)
        index = None if rebuild else self._fresh(path, built_from)
        if index is not None:
            return index
        space = load_space(self.store, probe, method)
        index = EmbeddingIndex.build(
            space.task_names, space.task_vectors, factory=factory, meta={"built_from": built_from}, progress=progress
        )
        return self._keep(path, index) if save else index

    def rebuild(
        self, probe: str, method: str, *, factory: str | None = None, progress: bool = True
    ) -> list[dict[str, Any]]:
        """Rebuild the model index (when a run exists) and the task index; returns their sidecars.

        Both are built before either is saved: a factory that cannot be trained on one of them
        (InvalidInput) leaves both files as they were.
        """
        if factory is not None:
            import faiss

            from zoo.index import FACTORY_HINT

            try:
                faiss.index_factory(8, factory, faiss.METRIC_L2)
            except RuntimeError:
                raise InvalidInput(
                    f"{arg('factory', repr(factory))} is not a faiss index_factory string; try {FACTORY_HINT}"
                ) from None
        built = []
        try:
            _, index = self.models(probe, method, rebuild=True, factory=factory, progress=progress, save=False)
            built.append((self.path("models", probe, method), index))
        except NotFound:
            pass
        index = self.tasks(probe, method, rebuild=True, factory=factory, progress=progress, save=False)
        built.append((self.path("tasks", probe, method), index))
        return [{**self._keep(path, index).meta, "path": str(path)} for path, index in built]

    def nearest_tasks(
        self, vector: Any, k: int, probe: str, method: str, *, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` stored tasks nearest (d_sym) to ``vector`` [D], leaving out the task ``exclude``."""
        hits = self.tasks(probe, method).search(vector, k + (1 if exclude else 0))
        return [(h.name, h.distance) for h in hits if h.name != exclude][:k]
