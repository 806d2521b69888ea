"""The embedding space of one (probe, method) pair, as arrays: what training, indexes and judging compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from registry.errors import NotFound

if TYPE_CHECKING:
    from registry.records import Model
    from registry.store import Store


@dataclass
class EmbeddingSpace:
    """Task vectors ``[T, D]``, the trivial embedding t0 ``[D]`` and every model's source vector ``[M, D]``.

    A model's source vector F_i is the embedding of its ``trained_on`` task,
    else the mean task vector (``zoo.model2vec.DEFAULT_SOURCE``).
    """

    probe: str
    method: str
    task_names: list[str]
    task_vectors: Any  # [T, D]
    t0: Any  # [D]
    models: list[Model] = field(default_factory=list)
    sources: Any = None  # [M, D]
    t0_source: str = "prior"


def load_space(store: Store, probe: str, method: str) -> EmbeddingSpace:
    """The :class:`EmbeddingSpace` of ``probe``/``method`` from the registry; NotFound when nothing is embedded."""
    import numpy as np

    records = store.list_task_embeddings(probe=probe, method=method)
    if not records:
        raise NotFound(
            f"no task embeddings for probe {probe!r} and method {method!r}; "
            f"embed tasks with `zoo embed-task --probe {probe} --method {method}`"
        )
    names = [r.task for r in records]
    vectors = np.stack([np.asarray(r.vector, dtype=np.float64) for r in records])
    priors = [np.asarray(r.prior, dtype=np.float64) for r in records if r.prior is not None]
    # t0: the stored trivial embedding (prior) when the method has one, else the per-filter minimum
    # over known tasks (the least information any task carries); documented in docs/recommend.md.
    t0 = np.mean(priors, axis=0) if priors else vectors.min(axis=0)
    default = vectors.mean(axis=0)  # model2vec.DEFAULT_SOURCE
    by_name = dict(zip(names, vectors))
    models = store.list_models()
    sources = (
        np.stack([by_name.get(m.trained_on, default) for m in models]) if models else np.zeros((0, vectors.shape[1]))
    )
    return EmbeddingSpace(
        probe,
        method,
        names,
        vectors,
        t0,
        models,
        sources,
        "mean stored prior" if priors else "per-filter minimum of task embeddings",
    )


def learned_vectors(store: Store, run_id: int, space: EmbeddingSpace) -> tuple[Any, Any, list[str]]:
    """Each model's Model2Vec vector ``[M, D]`` and shift ``[M]`` from run ``run_id``, and the untrained names.

    A model the run did not train (registered after it) keeps its source
    vector and no shift: the cold start, b_i = 0.
    """
    import numpy as np

    learned = {e.model: e for e in store.list_model_embeddings(run_id)}
    vectors, shifts, untrained = [], [], []
    for model, source in zip(space.models, space.sources):
        emb = learned.get(model.name)
        if emb is not None and emb.trained:
            vectors.append(np.asarray(emb.vector, dtype=np.float64))
            shifts.append(float(emb.params.get("shift", 0.0)))
        else:
            vectors.append(source)
            shifts.append(0.0)
            untrained.append(model.name)
    width = space.task_vectors.shape[1]
    return (np.stack(vectors) if vectors else np.zeros((0, width))), np.asarray(shifts, dtype=np.float64), untrained
