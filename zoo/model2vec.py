"""Model2Vec: embed each expert next to the tasks it is good at (METHOD.md section 6).

Each model i gets an embedding

    m_i = F_i + b_i,  parameterised as  m_i = F_i * exp(beta_i)  (element-wise)

so m_i > 0 by construction (d_sym's element-wise normalisation needs positive
vectors), with the learned bias b_i = m_i - F_i reported. F_i is the task
embedding of the task model i was trained on (``trained_on``); when that is
unknown or not embedded with this probe, F_i is the mean of all task
embeddings of the probe and method (:data:`DEFAULT_SOURCE`).

Two objectives, selectable and combinable (``objective`` in {"ce",
"regression", "both"}):

- ``ce``: the paper's k-way cross-entropy over the models evaluated on each
  training task, p(i | t) = softmax_i(-d_asym(m_i -> t) / tau), against the
  task's best model (lowest recorded transfer error); tau is learned.
- ``regression``: the transfer error is predicted from the distance by a
  learned monotone map err ~= a + softplus(c) * d_asym(m_i -> t), fitted on
  every recorded (task, model) pair, so a recommendation carries an expected
  error.

Not every expert is equally good: a model's overall quality is not a
direction in task space, so each trained model also gets a scalar shift q_i
(``model_shift``), and the Model2Vec distance that ranks models and predicts
errors is

    D_i(t) = d_asym(m_i -> t) + q_i.

Both objectives above use D_i. The joint objective fits the error map only as
a by-product of ranking, and its predictions were poorly calibrated (mean
absolute error 20-24 points on the small bench's held-out tasks against 12
for each model's mean error), so after training the error map is refitted by
ridge least squares on the training pairs (``calibrate``,
:func:`calibrate_errors`): logit(err) ~= a + s * D_i(t) + c_i (``error_link``
"logit": errors live in (0, 1), many near 0, and a line predicted below 0
there), with per-model offsets c_i shrunk towards 0; c_i / s joins q_i, so
the ranking stays the ranking by expected error, and the calibration mean
absolute error drops to about 12 points on the same tasks (9.2 on the full
bench's 79 held-out tasks, against 20.2 uncalibrated).

alpha (the weight of d_sym(m_i, t0) in d_asym) is learned too. Tasks are split
into training and held-out validation tasks; training stops when the
validation loss has not improved for ``patience`` epochs and keeps the best
state. A model without any transfer result keeps b_i = 0 and ``trained=False``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "DEFAULT_SOURCE",
    "Model2VecConfig",
    "Model2VecResult",
    "TrainingData",
    "error_matrix",
    "expected_error",
    "split_tasks",
    "train_model2vec",
    "d_sym_torch",
    "d_asym_torch",
]

DEFAULT_SOURCE = "mean task embedding"
OBJECTIVES = ("ce", "regression", "both")
LINKS = ("identity", "logit")
#: errors are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] before the logit (a measured 0% would be -inf)
LOGIT_CLIP = 0.005
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
    n_val = int(round(val_fraction * len(names)))
    if val_fraction > 0 and len(names) >= 2:
        n_val = min(max(n_val, 1), len(names) - 1)
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val


def d_sym_torch(a, b):
    """Differentiable d_sym between rows of ``a`` [N, D] and ``b`` [M, D] -> [N, M] (METHOD section 5).

    With r = a / (a + b) element-wise, d_sym = 1 - cos(r, 1 - r). Torch form
    of :func:`zoo.embedding.distance.d_sym_matrix`, needed for gradients; the
    tests check the two agree.
    """
    import torch

    if bool((b > 0).all()) or bool((a > 0).all()):
        # no filter is 0 in both, so v = 1 - u and one [N, M, D] tensor does: with s1 = sum u, s2 = sum u^2,
        # u.v = s1 - s2, |u|^2 = s2, |v|^2 = D - 2 s1 + s2 (about 2.7x faster than the general form, which
        # Model2Vec training pays every epoch; models there are positive by construction)
        u = a[:, None, :] / (a[:, None, :] + b[None, :, :])
        s1 = u.sum(-1)
        s2 = (u * u).sum(-1)
        return 1.0 - (s1 - s2) / (s2 * (a.shape[1] - 2.0 * s1 + s2)).clamp_min(1e-60).sqrt()
    total = a[:, None, :] + b[None, :, :]
    safe = torch.where(total > 1e-30, total, torch.ones_like(total))
    u = a[:, None, :] / safe  # filters where both are 0 give u = v = 0: left out, as in the shared d_sym
    v = b[None, :, :] / safe
    dot = (u * v).sum(-1)
    return 1.0 - dot / ((u * u).sum(-1) * (v * v).sum(-1)).clamp_min(1e-60).sqrt()


def d_asym_torch(targets, sources, t0, alpha):
    """d_asym(source -> target) = d_sym(source, target) - alpha * d_sym(source, t0): ``[N, M]``."""
    return d_sym_torch(targets, sources) - alpha * d_sym_torch(t0[None, :], sources)


def expected_error(distance: np.ndarray, error_map: tuple[float, float], link: str = "identity") -> np.ndarray:
    """The learned monotone map from the Model2Vec distance to transfer error.

    ``link`` "identity": a + slope * d clipped to [0, 1]; "logit":
    sigmoid(a + slope * d), the calibrated runs' map.
    """
    a, slope = error_map
    line = a + slope * np.asarray(distance, dtype=np.float64)
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-line))
    if link != "identity":
        raise ValueError(f"unknown error link {link!r}; expected one of {LINKS}")
    return np.clip(line, 0.0, 1.0)


def error_logit(errors: np.ndarray) -> np.ndarray:
    """logit of errors clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] (NaN stays NaN)."""
    e = np.clip(np.asarray(errors, dtype=np.float64), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(e / (1.0 - e))


def calibrate_errors(distance: np.ndarray, errors: np.ndarray, *, prior: float = 5.0,
                     min_slope: float = 1e-3) -> tuple[float, float, np.ndarray]:
    """Fit err[t, i] ~= a + s * distance[t, i] + c_i by ridge least squares: (a, s, c [M]).

    Over the measured pairs (``errors`` NaN elsewhere) minimise
    sum (err - a - s d - c_i)^2 + prior * sum_i c_i^2: a global line plus a
    per-model offset c_i shrunk towards 0, so a model with few results keeps
    close to the line. Solved exactly from the normal equations (M + 2
    unknowns). The map must rise with distance: when the free fit gives
    s < ``min_slope``, s is fixed at ``min_slope`` and (a, c) refitted.
    :func:`calibrate_errors_reference` is the slow gradient-descent twin.
    """
    d = np.asarray(distance, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    seen = ~np.isnan(e)
    if seen.sum() < 2:
        raise ValueError("calibration needs at least two measured (task, model) pairs")
    models = d.shape[1]
    cols = np.nonzero(seen)[1]
    x = np.zeros((int(seen.sum()), models + 2))
    x[:, 0] = 1.0
    x[:, 1] = d[seen]
    x[np.arange(len(cols)), 2 + cols] = 1.0
    y = e[seen]
    penalty = np.diag([0.0, 0.0] + [prior] * models) + 1e-12 * np.eye(models + 2)
    theta = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    if theta[1] < min_slope:  # s fixed: solve for (a, c) with the slope's share moved to the target
        keep = [0] + list(range(2, models + 2))
        xs = x[:, keep]
        sub = np.linalg.solve(xs.T @ xs + penalty[np.ix_(keep, keep)], xs.T @ (y - min_slope * x[:, 1]))
        theta = np.concatenate([sub[:1], [min_slope], sub[1:]])
    return float(theta[0]), float(theta[1]), theta[2:]


def calibrate_errors_reference(distance: np.ndarray, errors: np.ndarray, *, prior: float = 5.0,
                               steps: int = 200_000, lr: float = 0.01) -> tuple[float, float, np.ndarray]:
    """Slow twin of :func:`calibrate_errors` (free slope): plain gradient descent on the same objective."""
    d = np.asarray(distance, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    seen = ~np.isnan(e)
    a, s, c = 0.0, 0.0, np.zeros(d.shape[1])
    for _ in range(steps):
        residual = np.where(seen, a + s * d + c[None, :] - np.nan_to_num(e), 0.0)
        a -= lr * 2 * residual.sum() / seen.sum()
        s -= lr * 2 * (residual * d).sum() / seen.sum()
        c -= lr * (2 * residual.sum(0) + 2 * prior * c) / seen.sum()
    return a, s, c


def _softplus_inverse(x: float) -> float:
    return x + math.log(-math.expm1(-x))


def _selection_metrics(distance: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    """Top-1 pick by smallest distance on each task [T, M]: relative error to the oracle, gap, hit rate."""
    rel, gap, hit = [], [], []
    for d_row, e_row in zip(distance, errors):
        seen = ~np.isnan(e_row)
        if seen.sum() < 2:
            continue
        d_seen, e_seen = d_row[seen], e_row[seen]
        chosen = e_seen[int(np.argmin(d_seen))]
        best = float(e_seen.min())
        rel.append(100.0 * (chosen - best) / max(best, 0.01))  # floor: one point, as zoo.selection
        gap.append(100.0 * (chosen - best))
        hit.append(float(chosen == best))
    if not rel:
        return {"relative_error": float("nan"), "gap_points": float("nan"), "top1": float("nan"), "tasks": 0}
    return {"relative_error": float(np.mean(rel)), "gap_points": float(np.mean(gap)), "top1": float(np.mean(hit)), "tasks": len(rel)}


def train_model2vec(data: TrainingData, config: Model2VecConfig = Model2VecConfig(), *,
                    val_tasks: Sequence[str] | None = None, progress: bool = True) -> Model2VecResult:
    """Learn b_i, alpha (and tau, the error map) from recorded transfer errors (METHOD section 6).

    Full-batch Adam over the training tasks; the validation tasks (a seeded
    ``val_fraction`` of tasks with at least two measured models) drive early
    stopping; ``val_tasks`` names them explicitly instead (e.g. a bench's
    held-out tasks, so that they stay unseen for a later evaluation). Returns per-model vectors ``[M, D]`` and validation metrics,
    including the same metrics for the untrained embedding (b = 0) to show
    what training bought.
    """
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    errors = np.asarray(data.errors, dtype=np.float64)
    usable = [i for i in range(errors.shape[0]) if np.sum(~np.isnan(errors[i])) >= 2]
    if not usable:
        raise ValueError("Model2Vec needs tasks with transfer results for at least two models each")
    usable_names = [data.task_names[i] for i in usable]
    if val_tasks:
        unknown = sorted(set(val_tasks) - set(usable_names))
        if unknown:
            raise ValueError(f"validation tasks without transfer results for two models: {', '.join(unknown)}")
        val_names = sorted(set(val_tasks))
        train_names = sorted(set(usable_names) - set(val_names))
        if not train_names:
            raise ValueError("every task is a validation task; leave some for training")
    else:
        train_names, val_names = split_tasks(usable_names, config.val_fraction, config.seed)
    index = {name: i for i, name in enumerate(data.task_names)}
    train_idx = [index[n] for n in train_names]
    val_idx = [index[n] for n in val_names]
    measured = ~np.isnan(errors)
    trained_mask = measured[train_idx].any(axis=0)

    dtype = torch.float64
    tasks = torch.tensor(np.asarray(data.task_vectors, dtype=np.float64), dtype=dtype)
    raw_sources = np.asarray(data.source_vectors, dtype=np.float64)
    # m_i = F_i * exp(beta_i) cannot move a filter where F_i is exactly 0; a floor of SOURCE_FLOOR x the
    # vector's mean keeps every filter positive and learnable (the stored bias is m_i - F_i, F_i unfloored)
    floored = np.maximum(raw_sources, SOURCE_FLOOR * raw_sources.mean(axis=1, keepdims=True))
    sources = torch.tensor(floored, dtype=dtype)
    raw = torch.tensor(raw_sources, dtype=dtype)
    t0 = torch.tensor(np.asarray(data.t0, dtype=np.float64), dtype=dtype)
    err = torch.tensor(np.nan_to_num(errors, nan=0.0), dtype=dtype)
    mask = torch.tensor(measured, dtype=torch.bool)
    trainable = torch.tensor(trained_mask, dtype=dtype)[:, None]

    beta = torch.zeros_like(sources, requires_grad=True)
    shift = torch.zeros(sources.shape[0], dtype=dtype, requires_grad=True)
    alpha_raw = torch.tensor(_softplus_inverse(config.alpha_init), dtype=dtype, requires_grad=True)
    log_tau = torch.tensor(math.log(config.tau_init), dtype=dtype, requires_grad=True)
    observed = errors[train_idx][measured[train_idx]]
    err_scale = float(np.var(observed)) if observed.size > 1 and np.var(observed) > 0 else 1.0
    intercept = torch.tensor(float(np.mean(observed)), dtype=dtype, requires_grad=True)
    slope_raw = torch.tensor(_softplus_inverse(1.0), dtype=dtype, requires_grad=True)
    params = [beta, alpha_raw, log_tau, intercept, slope_raw] + ([shift] if config.model_shift else [])
    optimiser = torch.optim.Adam(params, lr=config.lr)

    def distances(rows: list[int] | None = None):
        """D [len(rows), M] for the given task rows (all when None): each epoch touches only the rows it needs,
        since the [tasks, models, filters] intermediates dominate the cost."""
        # untrained models keep b = 0, i.e. m_i = F_i exactly
        models = torch.where(trainable > 0, sources * torch.exp(beta), raw)
        alpha = torch.nn.functional.softplus(alpha_raw)
        d = d_asym_torch(tasks if rows is None else tasks[rows], models, t0, alpha)
        if config.model_shift:
            d = d + (shift * trainable[:, 0])[None, :]
        return d, models

    def loss_on(rows: list[int], d) -> torch.Tensor:
        """The objective on task ``rows``, given their distances ``d`` [len(rows), M]."""
        m, e = mask[rows], err[rows]
        total = torch.zeros((), dtype=dtype)
        if config.objective in ("ce", "both"):
            logits = (-d / torch.exp(log_tau)).masked_fill(~m, float("-inf"))
            best = e.masked_fill(~m, float("inf")).argmin(dim=1)
            total = total + config.ce_weight * torch.nn.functional.cross_entropy(logits, best)
        if config.objective in ("regression", "both"):
            predicted = intercept + torch.nn.functional.softplus(slope_raw) * d
            total = total + config.regression_weight * ((predicted - e)[m] ** 2).mean() / err_scale
        return total

    best_state, best_val, stale, epoch = None, float("inf"), 0, 0
    history: list[tuple[int, float, float]] = []
    bar = tqdm(range(config.epochs), desc="model2vec", unit="epoch", disable=not progress)
    for epoch in bar:
        optimiser.zero_grad()
        d, _ = distances(train_idx)
        train_loss = loss_on(train_idx, d) + config.bias_l2 * (beta**2).mean() + config.shift_l2 * (shift**2).mean()
        train_loss.backward()
        optimiser.step()
        with torch.no_grad():
            watched = val_idx or train_idx
            val_loss = float(loss_on(watched, distances(watched)[0]))
        history.append((epoch, train_loss.item(), val_loss))
        bar.set_postfix(train=f"{train_loss.item():.4f}", val=f"{val_loss:.4f}")
        if not math.isfinite(val_loss):
            raise ValueError(f"the loss became {val_loss} at epoch {epoch}; try a smaller learning rate")
        if val_loss < best_val - 1e-9:
            best_val, stale = val_loss, 0
            best_state = [p.detach().clone() for p in params]
        else:
            stale += 1
            if stale >= config.patience:
                break
    bar.close()
    with torch.no_grad():
        for p, saved in zip(params, best_state or []):
            p.copy_(saved)
        d, models = distances()
        alpha = float(torch.nn.functional.softplus(alpha_raw))
        slope = float(torch.nn.functional.softplus(slope_raw))
        d_untrained = d_asym_torch(tasks, raw, t0, torch.tensor(config.alpha_init, dtype=dtype))
    d_np, d0_np = d.numpy(), d_untrained.numpy()
    vectors = models.numpy().astype(np.float32)
    error_map = (float(intercept.detach()), slope)
    link = config.error_link if config.calibrate else "identity"  # the joint objective's own map is a line
    shifts = shift.detach().numpy().copy() if config.model_shift else np.zeros(len(trained_mask))
    shifts[~trained_mask] = 0.0
    if config.calibrate:
        # the trained distance orders models; a ridge fit on the training pairs turns it into an error estimate,
        # and its per-model offset c_i (in distance units, c_i / s) joins the shift, so the ranking stays the
        # ranking by expected error
        target = error_logit(errors[train_idx]) if config.error_link == "logit" else errors[train_idx]
        a_fit, s_fit, offsets = calibrate_errors(d_np[train_idx], target, prior=config.calibration_prior)
        extra = np.where(trained_mask, offsets / s_fit, 0.0)
        shifts = shifts + extra
        d_np = d_np + extra[None, :]
        error_map = (a_fit, s_fit)

    def fit_metrics(rows: list[int]) -> dict[str, float]:
        if not rows:
            return {}
        chosen = _selection_metrics(d_np[rows], errors[rows])
        untrained = _selection_metrics(d0_np[rows], errors[rows])
        predicted = expected_error(d_np[rows], error_map, link)
        seen = measured[rows]
        return {
            **chosen,
            "untrained_relative_error": untrained["relative_error"],
            "untrained_top1": untrained["top1"],
            "error_mae_points": float(100.0 * np.mean(np.abs(predicted[seen] - errors[rows][seen]))),
        }

    metrics = {
        "validation": fit_metrics(val_idx),
        "training": fit_metrics(train_idx),
        "epochs_run": epoch + 1,
        "best_validation_loss": best_val,
        "alpha": alpha,
        "tau": float(torch.exp(log_tau.detach())),
        "error_map": {"intercept": error_map[0], "slope": error_map[1], "link": link},
        "val_tasks": list(val_names),
        "train_tasks": list(train_names),
    }
    return Model2VecResult(
        model_names=tuple(data.model_names),
        bias=np.where(trained_mask[:, None], vectors - raw_sources.astype(np.float32), 0.0).astype(np.float32),
        vectors=vectors,
        trained=trained_mask.copy(),
        alpha=alpha,
        tau=metrics["tau"],
        error_map=error_map,
        error_link=link,
        train_tasks=tuple(train_names),
        val_tasks=tuple(val_names),
        metrics=metrics,
        hyperparams={**asdict(config), "default_source": DEFAULT_SOURCE},
        shift=shifts,
    )
