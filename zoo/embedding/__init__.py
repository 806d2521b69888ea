"""Task2Vec: task embeddings from the Fisher information of a probe network.

Modules: :mod:`~zoo.embedding.probe` (probe specs, filter layers, t0),
:mod:`~zoo.embedding.head` (the head recipe), :mod:`~zoo.embedding.fisher`
(exact per-example Fisher: montecarlo, expected), :mod:`~zoo.embedding.variational`
(robust Fisher), :mod:`~zoo.embedding.distance` (d_sym, d_asym, matrices, t0),
:mod:`~zoo.embedding.task2vec` (``embed``, ``Embedding``).

Importing this package is cheap; torch is imported by the functions that use it.
"""

from __future__ import annotations

__all__ = ["BENCH_METHODS", "DEFAULT_METHOD", "METHODS", "embed"]

# Every Task2Vec method (zoo.embedding.task2vec dispatches on these), the default, and the two the bench builds.
METHODS = ("montecarlo", "expected", "variational")
DEFAULT_METHOD = "montecarlo"
BENCH_METHODS = ("montecarlo", "variational")


def embed(dataset, probe="bundled", **kwargs):
    """See :func:`zoo.embedding.task2vec.embed`."""
    from zoo.embedding.task2vec import embed as _embed

    return _embed(dataset, probe, **kwargs)
