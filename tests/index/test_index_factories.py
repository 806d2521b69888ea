"""A faiss factory the index cannot be built or trained with is one InvalidInput line, never a faiss traceback."""

from __future__ import annotations

import numpy as np
import pytest

from registry.errors import InvalidInput
from zoo.index import FACTORY_HINT, EmbeddingIndex


def _vectors(count: int, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.01, 1.0, (count, dim))


def _build(count: int, factory: str, kind: str | None = "models") -> EmbeddingIndex:
    meta = {"built_from": {"kind": kind}} if kind else None
    return EmbeddingIndex.build([f"m{i}" for i in range(count)], _vectors(count), factory=factory, meta=meta)


@pytest.mark.parametrize("factory", ["IVF256,Flat", "IVF4096,SQ8", "IVF64_HNSW32,Flat"])
def test_an_ivf_factory_with_more_lists_than_vectors_says_how_many_it_needs(factory):
    lists = factory.split(",")[0].split("_")[0]
    with pytest.raises(InvalidInput) as caught:
        _build(48, factory)
    assert str(caught.value) == (
        f"{lists} needs at least {lists[3:]} vectors to train; the models index has 48: use factory=Flat or HNSW32,Flat"
    )


def test_an_ivf_factory_with_enough_vectors_builds():
    assert len(_build(48, "IVF40,Flat")) == 48


@pytest.mark.parametrize("factory", ["HNSW32,PQ3", "PQ4"])  # too few points for 256 codes; 9 dims not a multiple of 4
def test_any_faiss_failure_to_build_or_train_is_one_line(factory):
    with pytest.raises(InvalidInput) as caught:
        _build(48, factory, kind=None)
    message = str(caught.value)
    assert message.startswith(f"faiss cannot build {factory!r} for the index (48 vectors): ")
    assert message.endswith("; use factory=Flat or HNSW32,Flat")
    assert "\n" not in message and ".cpp" not in message and "Error in" not in message


def test_the_factory_hint_suggests_only_what_fits_the_shipped_zoo_or_says_when_it_fits():
    assert "IVF256" not in FACTORY_HINT
    assert "IVFn" in FACTORY_HINT and "at least n vectors" in FACTORY_HINT
    for factory in ("Flat", "HNSW32,Flat"):  # what it names outright fits 48 vectors
        assert factory in FACTORY_HINT
        assert len(_build(48, factory)) == 48
