"""A FAISS index over model (or task) embeddings, re-ranked exactly by d_sym / d_asym.

Modules: :mod:`~zoo.index.space` (the retrieval space: centred logs where
squared L2 approximates d_sym, the offset scale, the exact d_sym) and
:mod:`~zoo.index.embedding_index` (the faiss index, its search and re-rank,
its files and where they live). The index imports no sibling part: its d_sym
is its own, checked against :mod:`zoo.embedding.distance` by the tests.
"""

from __future__ import annotations

from zoo.index.embedding_index import (
    COMPRESSED_THRESHOLD,
    FACTORY_HINT,
    FORMAT_VERSION,
    HNSW_THRESHOLD,
    MIN_CANDIDATES,
    EmbeddingIndex,
    Hit,
    default_candidates,
    default_factory,
    index_directory,
    recall_at_k,
)
from zoo.index.space import LOG_FLOOR, calibrate_offset_scale, column_floors, d_sym_to, log_space

__all__ = [
    "COMPRESSED_THRESHOLD",
    "FACTORY_HINT",
    "FORMAT_VERSION",
    "HNSW_THRESHOLD",
    "LOG_FLOOR",
    "MIN_CANDIDATES",
    "EmbeddingIndex",
    "Hit",
    "calibrate_offset_scale",
    "column_floors",
    "d_sym_to",
    "default_candidates",
    "default_factory",
    "index_directory",
    "log_space",
    "recall_at_k",
]
