"""``zoo.task2vec.embed``: the Task2Vec entry point named in the docs.

The implementation lives in :mod:`zoo.embedding`; this module only gives it
the short public name::

    from zoo.task2vec import embed
    emb = embed("path/to/images", "bundled", method="montecarlo")
"""

from __future__ import annotations

from zoo.embedding.task2vec import Embedding, embed

__all__ = ["Embedding", "embed"]
