"""Training Model2Vec: the trainer (METHOD section 6).

:func:`train_model2vec` prepares the tensors (:func:`_prepare`), runs the epoch
loop (:func:`_optimise`), reads out the trained distances and scalars
(:func:`_readout`, which calibrates the error map with :func:`_calibrate`) and
measures the selection (:func:`_fit_metrics`). Its configuration, inputs and
result live in :mod:`zoo.model2vec.inputs` (re-exported here). See :mod:`zoo.model2vec`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from zoo.model2vec.calibration import calibrate_errors, error_logit, expected_error
from zoo.model2vec.distance import d_asym_torch
from zoo.model2vec.inputs import (
    DEFAULT_SOURCE,
    OBJECTIVES,
    SOURCE_FLOOR,
    Model2VecConfig,
    Model2VecResult,
    TrainingData,
    error_matrix,
    split_tasks,
)

__all__ = [
    "DEFAULT_SOURCE",
    "OBJECTIVES",
    "SOURCE_FLOOR",
    "Model2VecConfig",
    "Model2VecResult",
    "TrainingData",
    "error_matrix",
    "split_tasks",
    "train_model2vec",
]


def _softplus_inverse(x: float) -> float:
    return x + math.log(-math.expm1(-x))


def _split(
    data: TrainingData, errors: np.ndarray, config: Model2VecConfig, val_tasks: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """(training, validation) task names among the tasks with at least two measured models."""
    usable_names = [data.task_names[i] for i in range(errors.shape[0]) if np.sum(~np.isnan(errors[i])) >= 2]
    if not usable_names:
        raise ValueError("Model2Vec needs tasks with transfer results for at least two models each")
    if not val_tasks:
        return split_tasks(usable_names, config.val_fraction, config.seed)
    unknown = sorted(set(val_tasks) - set(usable_names))
    if unknown:
        raise ValueError(f"validation tasks without transfer results for two models: {', '.join(unknown)}")
    val_names = sorted(set(val_tasks))
    train_names = sorted(set(usable_names) - set(val_names))
    if not train_names:
        raise ValueError("every task is a validation task; leave some for training")
    return train_names, val_names


@dataclass
class _Problem:
    """The fixed tensors of one run (float64) and its learnable parameters.

    tasks ``[T, D]``, sources ``[M, D]`` (floored F_i), raw ``[M, D]`` (F_i),
    t0 ``[D]``, err ``[T, M]`` (0 where unmeasured), mask ``[T, M]`` bool,
    trainable ``[M, 1]`` (1 for a model with a training-task result).
    """

    tasks: Any
    sources: Any
    raw: Any
    t0: Any
    err: Any
    mask: Any
    trainable: Any
    err_scale: float
    beta: Any
    shift: Any
    alpha_raw: Any
    log_tau: Any
    intercept: Any
    slope_raw: Any
    params: list = field(default_factory=list)


def _prepare(
    data: TrainingData, errors: np.ndarray, train_idx: list[int], trained_mask: np.ndarray, config: Model2VecConfig
) -> _Problem:
    """Tensors and initial parameters; the optimised ones are listed in ``params`` in a fixed order."""
    import torch

    dtype = torch.float64
    measured = ~np.isnan(errors)
    raw_sources = np.asarray(data.source_vectors, dtype=np.float64)
    # m_i = F_i * exp(beta_i) cannot move a filter where F_i is exactly 0; a floor of SOURCE_FLOOR x the
    # vector's mean keeps every filter positive and learnable (the stored bias is m_i - F_i, F_i unfloored)
    floored = np.maximum(raw_sources, SOURCE_FLOOR * raw_sources.mean(axis=1, keepdims=True))
    sources = torch.tensor(floored, dtype=dtype)
    observed = errors[train_idx][measured[train_idx]]
    problem = _Problem(
        tasks=torch.tensor(np.asarray(data.task_vectors, dtype=np.float64), dtype=dtype),
        sources=sources,
        raw=torch.tensor(raw_sources, dtype=dtype),
        t0=torch.tensor(np.asarray(data.t0, dtype=np.float64), dtype=dtype),
        err=torch.tensor(np.nan_to_num(errors, nan=0.0), dtype=dtype),
        mask=torch.tensor(measured, dtype=torch.bool),
        trainable=torch.tensor(trained_mask, dtype=dtype)[:, None],
        err_scale=float(np.var(observed)) if observed.size > 1 and np.var(observed) > 0 else 1.0,
        beta=torch.zeros_like(sources, requires_grad=True),
        shift=torch.zeros(sources.shape[0], dtype=dtype, requires_grad=True),
        alpha_raw=torch.tensor(_softplus_inverse(config.alpha_init), dtype=dtype, requires_grad=True),
        log_tau=torch.tensor(math.log(config.tau_init), dtype=dtype, requires_grad=True),
        intercept=torch.tensor(float(np.mean(observed)), dtype=dtype, requires_grad=True),
        slope_raw=torch.tensor(_softplus_inverse(1.0), dtype=dtype, requires_grad=True),
    )
    problem.params = [problem.beta, problem.alpha_raw, problem.log_tau, problem.intercept, problem.slope_raw]
    if config.model_shift:
        problem.params.append(problem.shift)
    return problem


def _distances(p: _Problem, config: Model2VecConfig, rows: list[int] | None = None):
    """(D ``[len(rows), M]``, model vectors ``[M, D]``) for the given task rows (all when None).

    Each epoch touches only the rows it needs, since the [tasks, models, filters]
    intermediates dominate the cost. Untrained models keep b = 0, i.e. m_i = F_i exactly.
    """
    import torch

    models = torch.where(p.trainable > 0, p.sources * torch.exp(p.beta), p.raw)
    alpha = torch.nn.functional.softplus(p.alpha_raw)
    d = d_asym_torch(p.tasks if rows is None else p.tasks[rows], models, p.t0, alpha)
    if config.model_shift:
        d = d + (p.shift * p.trainable[:, 0])[None, :]
    return d, models


def _loss(p: _Problem, config: Model2VecConfig, rows: list[int], d):
    """The objective on task ``rows``, given their distances ``d`` ``[len(rows), M]``: a scalar tensor."""
    import torch

    m, e = p.mask[rows], p.err[rows]
    total = torch.zeros((), dtype=torch.float64)
    if config.objective in ("ce", "both"):
        logits = (-d / torch.exp(p.log_tau)).masked_fill(~m, float("-inf"))
        best = e.masked_fill(~m, float("inf")).argmin(dim=1)
        total = total + config.ce_weight * torch.nn.functional.cross_entropy(logits, best)
    if config.objective in ("regression", "both"):
        predicted = p.intercept + torch.nn.functional.softplus(p.slope_raw) * d
        total = total + config.regression_weight * ((predicted - e)[m] ** 2).mean() / p.err_scale
    return total


def _optimise(
    p: _Problem, config: Model2VecConfig, train_idx: list[int], val_idx: list[int], progress: bool
) -> tuple[int, float]:
    """Full-batch Adam with early stopping on the validation loss; leaves ``p`` at its best state.

    Returns (epochs run, best validation loss).
    """
    import torch
    from tqdm.auto import tqdm

    optimiser = torch.optim.Adam(p.params, lr=config.lr)
    watched = val_idx or train_idx
    best_state, best_val, stale, epoch = None, float("inf"), 0, 0
    bar = tqdm(range(config.epochs), desc="model2vec", unit="epoch", disable=not progress)
    for epoch in bar:
        optimiser.zero_grad()
        train_loss = (
            _loss(p, config, train_idx, _distances(p, config, train_idx)[0])
            + config.bias_l2 * (p.beta**2).mean()
            + config.shift_l2 * (p.shift**2).mean()
        )
        train_loss.backward()
        optimiser.step()
        with torch.no_grad():
            val_loss = float(_loss(p, config, watched, _distances(p, config, watched)[0]))
        bar.set_postfix(train=f"{train_loss.item():.4f}", val=f"{val_loss:.4f}")
        if not math.isfinite(val_loss):
            raise ValueError(f"the loss became {val_loss} at epoch {epoch}; try a smaller learning rate")
        if val_loss < best_val - 1e-9:
            best_val, stale = val_loss, 0
            best_state = [q.detach().clone() for q in p.params]
        else:
            stale += 1
            if stale >= config.patience:
                break
    bar.close()
    with torch.no_grad():
        for q, saved in zip(p.params, best_state or []):
            q.copy_(saved)
    return epoch + 1, best_val


def _calibrate(
    distance: np.ndarray, errors: np.ndarray, train_idx: list[int], trained_mask: np.ndarray, config: Model2VecConfig
) -> tuple[tuple[float, float], np.ndarray]:
    """Refit the error map on the training pairs: ((a, s), per-model extra shift c_i / s ``[M]``).

    The trained distance ``[T, M]`` orders models; a ridge fit turns it into an
    error estimate, and its per-model offset c_i (in distance units, c_i / s)
    joins the shift, so the ranking stays the ranking by expected error.
    """
    target = error_logit(errors[train_idx]) if config.error_link == "logit" else errors[train_idx]
    a_fit, s_fit, offsets = calibrate_errors(distance[train_idx], target, prior=config.calibration_prior)
    return (a_fit, s_fit), np.where(trained_mask, offsets / s_fit, 0.0)


@dataclass(frozen=True)
class _Readout:
    """What a trained :class:`_Problem` gives: distances ``[T, M]`` (trained, with any calibrated shift,
    and untrained at b = 0), model vectors ``[M, D]`` float32, the scalars, the error map and shifts ``[M]``."""

    distance: np.ndarray
    untrained: np.ndarray
    vectors: np.ndarray
    alpha: float
    tau: float
    error_map: tuple[float, float]
    link: str
    shifts: np.ndarray


def _readout(
    p: _Problem, config: Model2VecConfig, errors: np.ndarray, train_idx: list[int], trained_mask: np.ndarray
) -> _Readout:
    """Read the trained parameters out of ``p``; with ``config.calibrate``, refit the error map and shifts."""
    import torch

    with torch.no_grad():
        d, models = _distances(p, config)
        d_untrained = d_asym_torch(p.tasks, p.raw, p.t0, torch.tensor(config.alpha_init, dtype=torch.float64))
    distance, untrained = d.numpy(), d_untrained.numpy()
    alpha = float(torch.nn.functional.softplus(p.alpha_raw.detach()))
    error_map = (float(p.intercept.detach()), float(torch.nn.functional.softplus(p.slope_raw.detach())))
    link = config.error_link if config.calibrate else "identity"  # the joint objective's own map is a line
    shifts = p.shift.detach().numpy().copy() if config.model_shift else np.zeros(len(trained_mask))
    shifts[~trained_mask] = 0.0
    if config.calibrate:
        error_map, extra = _calibrate(distance, errors, train_idx, trained_mask, config)
        shifts = shifts + extra
        distance = distance + extra[None, :]
    tau = float(torch.exp(p.log_tau.detach()))
    vectors = models.numpy().astype(np.float32)
    return _Readout(distance, untrained, vectors, alpha, tau, error_map, link, shifts)


_SELECTION_KEYS = ("relative_error", "gap_points", "top1", "tasks")


def _fit_metrics(
    distance: np.ndarray,
    untrained: np.ndarray,
    errors: np.ndarray,
    rows: list[int],
    error_map: tuple[float, float],
    link: str,
) -> dict[str, float]:
    """Selection metrics of the trained and untrained distances ``[T, M]`` on task ``rows``, and the
    error map's mean absolute error in points."""
    from zoo.selection import selection_metrics

    if not rows:
        return {}
    chosen = selection_metrics(distance[rows], errors[rows])
    before = selection_metrics(untrained[rows], errors[rows])
    predicted = expected_error(distance[rows], error_map, link)
    seen = ~np.isnan(errors[rows])
    return {
        **{key: chosen.get(key, float("nan")) for key in _SELECTION_KEYS},
        "untrained_relative_error": before.get("relative_error", float("nan")),
        "untrained_top1": before.get("top1", float("nan")),
        "error_mae_points": float(100.0 * np.mean(np.abs(predicted[seen] - errors[rows][seen]))),
    }


def train_model2vec(
    data: TrainingData,
    config: Model2VecConfig = Model2VecConfig(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    val_tasks: Sequence[str] | None = None,
    progress: bool = True,
) -> Model2VecResult:
    """Learn b_i, alpha (and tau, the error map) from recorded transfer errors (METHOD section 6).

    Full-batch Adam over the training tasks; the validation tasks (a seeded
    ``val_fraction`` of tasks with at least two measured models) drive early
    stopping; ``val_tasks`` names them explicitly instead (e.g. a bench's
    held-out tasks, so that they stay unseen for a later evaluation). Returns
    per-model vectors ``[M, D]`` and validation metrics, including the same
    metrics for the untrained embedding (b = 0) to show what training bought.
    """
    import torch

    torch.manual_seed(config.seed)
    errors = np.asarray(data.errors, dtype=np.float64)
    train_names, val_names = _split(data, errors, config, val_tasks)
    index = {name: i for i, name in enumerate(data.task_names)}
    train_idx, val_idx = [index[n] for n in train_names], [index[n] for n in val_names]
    trained_mask = (~np.isnan(errors))[train_idx].any(axis=0)
    p = _prepare(data, errors, train_idx, trained_mask, config)
    epochs_run, best_val = _optimise(p, config, train_idx, val_idx, progress)
    r = _readout(p, config, errors, train_idx, trained_mask)
    metrics = {
        "validation": _fit_metrics(r.distance, r.untrained, errors, val_idx, r.error_map, r.link),
        "training": _fit_metrics(r.distance, r.untrained, errors, train_idx, r.error_map, r.link),
        "epochs_run": epochs_run,
        "best_validation_loss": best_val,
        "alpha": r.alpha,
        "tau": r.tau,
        "error_map": {"intercept": r.error_map[0], "slope": r.error_map[1], "link": r.link},
        "val_tasks": list(val_names),
        "train_tasks": list(train_names),
    }
    vectors = r.vectors
    raw_sources = np.asarray(data.source_vectors, dtype=np.float64).astype(np.float32)
    return Model2VecResult(
        model_names=tuple(data.model_names),
        bias=np.where(trained_mask[:, None], vectors - raw_sources, 0.0).astype(np.float32),
        vectors=vectors,
        trained=trained_mask.copy(),
        alpha=r.alpha,
        tau=r.tau,
        error_map=r.error_map,
        error_link=r.link,
        train_tasks=tuple(train_names),
        val_tasks=tuple(val_names),
        metrics=metrics,
        hyperparams={**asdict(config), "default_source": DEFAULT_SOURCE},
        shift=r.shifts,
    )
