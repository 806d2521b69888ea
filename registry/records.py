"""Frozen records: the only things that leave the store.

ORM rows never cross the :mod:`registry.store` boundary; each is turned into
one of these dataclasses first. Vectors are read-only ``numpy.float32`` arrays
of shape ``[D]``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Model:
    """An expert model in the zoo."""

    id: int
    name: str
    source: str
    arch: str | None
    num_params: int | None
    checksum: str | None
    trained_on: str | None
    description: str | None
    created_at: dt.datetime
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """A labelled data set known to the zoo."""

    id: int
    name: str
    data_uri: str
    num_classes: int
    num_samples: int
    fingerprint: str
    taxonomy: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Probe:
    """A probe network used to embed tasks."""

    id: int
    name: str
    arch: str
    weights_checksum: str
    embedding_length: int
    layers: tuple[str, ...]
    created_at: dt.datetime


@dataclass(frozen=True)
class TaskEmbedding:
    """The current embedding of one task by one probe and method; ``vector`` is ``[D]``."""

    id: int
    task: str
    probe: str
    method: str
    vector: np.ndarray
    prior: np.ndarray | None
    sample_count: int
    seed: int
    params: dict[str, Any]
    package_version: str
    created_at: dt.datetime


@dataclass(frozen=True)
class TransferResult:
    """A ground-truth measurement: ``metric`` of ``model`` on ``task`` under ``protocol``."""

    id: int
    model: str
    task: str
    metric: str
    value: float
    protocol: str
    protocol_params: dict[str, Any]
    train_size: int
    test_size: int
    created_at: dt.datetime


@dataclass(frozen=True)
class Model2VecRun:
    """One Model2Vec training run for a (probe, method) pair."""

    id: int
    probe: str
    method: str
    hyperparams: dict[str, Any]
    metrics: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True)
class ModelEmbedding:
    """A model's learned bias ``[D]`` and final vector ``[D]`` from one Model2Vec run.

    ``trained`` is False for a model that joined after the run (cold start, bias 0).
    ``params`` holds learned per-model scalars (``{"shift": q}``: the model's
    distance shift; absent means 0).
    """

    run_id: int
    model: str
    bias: np.ndarray
    vector: np.ndarray
    trained: bool
    params: dict[str, Any] = field(default_factory=dict)


def vector_to_bytes(vector: Any) -> tuple[bytes, int]:
    """A 1-D vector as little-endian float32 bytes and its length."""
    array = np.asarray(vector, dtype="<f4")
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D vector, got shape {array.shape}")
    return array.tobytes(), int(array.shape[0])


def vector_from_bytes(data: bytes, length: int) -> np.ndarray:
    """The read-only float32 ``[length]`` array stored as ``data``."""
    array = np.frombuffer(bytes(data), dtype="<f4").astype(np.float32)
    if array.shape[0] != length:
        raise ValueError(f"stored vector has {array.shape[0]} values, expected {length}")
    array.setflags(write=False)
    return array
