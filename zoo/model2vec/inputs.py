"""Model2Vec's configuration, inputs and result, and the helpers that build its inputs.

:class:`Model2VecConfig` (hyper-parameters), :class:`TrainingData` (what a run
learns from), :class:`Model2VecResult` (what it returns), :func:`error_matrix`
and :func:`split_tasks`; the trainer is :mod:`zoo.model2vec.training`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.model2vec.calibration import LINKS

DEFAULT_SOURCE = "mean task embedding"
OBJECTIVES = ("ce", "regression", "both")
SOURCE_FLOOR = 1e-3


@dataclass(frozen=True)
class Model2VecConfig:
    """Hyper-parameters of one training run (stored with the run)."""

    objective: str = "both"
    epochs: int = 400
    lr: float = 0.05
    alpha_init: float = 0.15
    tau_init: float = 0.02
    bias_l2: float = 1e-4  # penalty on beta (log-scale bias), keeps m_i near F_i without evidence
    ce_weight: float = 1.0
    regression_weight: float = 1.0
    val_fraction: float = 0.2
    patience: int = 40
    seed: int = 0
    #: learn a per-model shift q_i of the distance (a model's overall quality, in distance units)
    model_shift: bool = False
    shift_l2: float = 1e-3
    #: after training, refit the error map and each model's shift by ridge least squares (calibrate_errors)
    calibrate: bool = True
    #: ridge strength on each model's calibration offset, in pairs' worth of evidence
    calibration_prior: float = 5.0
    #: scale of the calibrated map: "logit" (errors live in (0, 1), a line in the distance predicts
    #: logit(err), so no prediction leaves the range) or "identity" (err itself, clipped)
    error_link: str = "logit"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.error_link not in LINKS:
            raise ValueError(f"error_link must be one of {LINKS}, got {self.error_link!r}")


@dataclass(frozen=True)
class TrainingData:
    """What Model2Vec learns from.

    task_vectors ``[T, D]`` (positive), source_vectors ``[M, D]`` (F_i,
    positive), errors ``[T, M]`` transfer errors with NaN where not measured,
    t0 ``[D]`` the trivial embedding.
    """

    task_names: tuple[str, ...]
    task_vectors: np.ndarray
    model_names: tuple[str, ...]
    source_vectors: np.ndarray
    errors: np.ndarray
    t0: np.ndarray

    def __post_init__(self) -> None:
        t, d = self.task_vectors.shape
        m = self.source_vectors.shape[0]
        if self.source_vectors.shape != (m, d) or self.errors.shape != (t, m) or self.t0.shape != (d,):
            raise ValueError(
                f"inconsistent shapes: tasks {self.task_vectors.shape}, sources {self.source_vectors.shape}, "
                f"errors {self.errors.shape}, t0 {self.t0.shape}"
            )
        if len(self.task_names) != t or len(self.model_names) != m:
            raise ValueError("task_names/model_names do not match the arrays")


@dataclass(frozen=True)
class Model2VecResult:
    """A trained run: per-model bias/vector ``[M, D]``, learned scalars, metrics."""

    model_names: tuple[str, ...]
    bias: np.ndarray
    vectors: np.ndarray
    trained: np.ndarray  # [M] bool
    alpha: float
    tau: float
    error_map: tuple[float, float]  # (a, slope): err ~= a + slope * d_asym
    train_tasks: tuple[str, ...]
    val_tasks: tuple[str, ...]
    metrics: dict[str, Any]
    hyperparams: dict[str, Any] = field(default_factory=dict)
    #: [M] learned per-model distance shift q_i (0 for untrained models, or without ``model_shift``)
    shift: np.ndarray | None = None
    #: the scale ``error_map`` predicts on (see :func:`expected_error`)
    error_link: str = "identity"


def error_matrix(
    results: Iterable[tuple[str, str, float]], task_names: Sequence[str], model_names: Sequence[str]
) -> np.ndarray:
    """``[T, M]`` matrix of errors from (task, model, error) triples; NaN where absent, mean of repeats."""
    t_index = {name: i for i, name in enumerate(task_names)}
    m_index = {name: j for j, name in enumerate(model_names)}
    total = np.zeros((len(task_names), len(model_names)))
    count = np.zeros_like(total)
    for task, model, value in results:
        if task in t_index and model in m_index:
            total[t_index[task], m_index[model]] += value
            count[t_index[task], m_index[model]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def split_tasks(task_names: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of task names into (training, validation); at least one of each when possible."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    names = sorted(task_names)
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = round(val_fraction * len(names))
    if val_fraction > 0 and len(names) >= 2:
        n_val = min(max(n_val, 1), len(names) - 1)
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val
