"""The task head: one regularised recipe, fitted on cached penultimate features.

METHOD section 1: the Fisher is evaluated at the head's predictions, so a head
trained to saturation makes the embedding collapse with a scale set by the
optimiser rather than the task. Every task therefore gets the same gentle fit:

    minimise  mean_n CE(W z_n + b, y_n) + (l2 / 2) * ||W||^2,
    z = (features - mean) / s,  mean per feature, s = root of the mean feature variance
                                (one scale for all features, over the task's images),

full-batch L-BFGS from W = 0, b = 0, at most ``max_iter`` iterations, fixed
strength ``l2``. The standardisation is folded into the returned linear layer,
so it reads raw pre-logit features. Starting from zero makes the fit
deterministic and equivariant to relabelling the classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HEAD_RECIPE", "fit_head"]

#: the recipe, recorded in every embedding's params.
HEAD_RECIPE: dict[str, Any] = {
    "kind": "l2-multinomial-logistic-regression",
    "l2": 10.0,
    "feature_scaling": "center per feature, divide by one global RMS std",
    "optimizer": "lbfgs",
    "max_iter": 100,
    "init": "zeros",
}


def fit_head(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    l2: float = HEAD_RECIPE["l2"],
    max_iter: int = HEAD_RECIPE["max_iter"],
    progress: bool = False,
):
    """Fit the head on features [N, F] and labels [N] -> (``torch.nn.Linear(F, C)``, stats dict).

    ``stats`` holds the training loss and accuracy of the fitted head.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    mean, std, z = _standardise(x)
    weight = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    bar = tqdm(total=max_iter, desc="head", unit="it", disable=not progress)

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight.T + bias, y) + 0.5 * l2 * (weight**2).sum()
        loss.backward()
        if bar.n < max_iter:
            bar.update(1)
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    if bar.n < max_iter:  # converged early: the bar ends full at the iterations it took, not at 32/100
        bar.total = bar.n
        bar.refresh()
    bar.close()
    with torch.no_grad():
        logits = z @ weight.T + bias
        stats = {
            "train_loss": float(F.cross_entropy(logits, y)),
            "train_accuracy": float((logits.argmax(1) == y).double().mean()),
        }
        head = torch.nn.Linear(x.shape[1], num_classes)
        folded = weight / std
        head.weight.copy_(folded.float())
        head.bias.copy_((bias - folded @ mean).float())
    head.requires_grad_(False)
    return head, stats


def _standardise(x):
    """Features ``x`` [N, F] float64 -> (mean [F], std [F], standardised z [N, F]).

    One scale for all features: a per-feature scale would blow up nearly constant
    features (W / std) and with them the Fisher of the filters feeding them.
    Features that vary only by float round-off (identical images) count as constant:
    nothing to learn, z is zero and the head stays at zero.
    """
    import torch

    mean = x.mean(0)
    scale = float(x.var(0, unbiased=False).mean().sqrt())
    constant = scale <= 1e-5 * float(x.pow(2).mean().sqrt())
    std = torch.full_like(mean, 1.0 if constant else scale)
    z = torch.zeros_like(x) if constant else (x - mean) / std
    return mean, std, z
