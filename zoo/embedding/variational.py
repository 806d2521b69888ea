"""The robust (variational) Fisher (METHOD section 4; paper section 3.1, "robust Fisher").

Per filter f we learn the largest Gaussian weight-noise variance sigma_f^2 the
task tolerates:

    L = E_{w ~ N(w^, Sigma)} [ CE(y | x) ]
        + beta * sum_w [ (w^2 + sigma^2)/lambda^2 + log lambda^2 - log sigma^2 ]

- one log-variance per filter, shared by its weights; initialised where the
  second-order expansion puts the optimum, from one exact Fisher pass (or at the
  prior, ``init="prior"``); a task that carries no information stays at the prior;
- one prior variance per layer, lambda_l^2 = mean of w^2 over the layer, held
  fixed (learning it jointly has no finite optimum when the data says nothing:
  the compression term keeps decreasing as lambda^2 grows);
- local reparameterisation: out = layer(x, w^) + sqrt(layer(x^2, sigma^2)) * eps;
- Adam on the log-variances only (probe weights, BatchNorm and head fixed), CE on
  the data set's own labels, beta = 1e-7.

At the optimum 2*beta*Lambda_f ~= mean_f(F) + 2*beta/lambda_l^2, so the embedding
is Lambda_f = exp(-logvar_f) and the trivial embedding t0 is the prior precision
1/lambda_l^2 (:func:`zoo.embedding.distance.trivial_embedding`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["VARIATIONAL_DEFAULTS", "variational_fisher"]

VARIATIONAL_DEFAULTS = {"beta": 1e-7, "lr": 0.05, "epochs": 2, "min_steps": 100, "init": "fisher"}


class _NoisyLayers:
    """Forward hooks adding sqrt(layer(x^2, sigma^2)) * eps to each filter layer's output."""

    def __init__(self, layers, logvars, generator) -> None:
        self.layers, self.logvars, self.generator = layers, logvars, generator
        self.handles = []

    def __enter__(self):
        for (_, module), logvar in zip(self.layers, self.logvars):
            self.handles.append(module.register_forward_hook(self._hook(logvar)))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()

    def _hook(self, logvar):
        import torch

        from zoo.embedding.layers import handler_for

        def hook(module, inputs, output):
            shape = (-1,) + (1,) * (module.weight.dim() - 1)
            var = logvar.exp().to(module.weight.dtype).reshape(shape).expand_as(module.weight)
            x = inputs[0]
            spread = handler_for(module).spread(module, x * x, var)
            eps = torch.randn(spread.shape, generator=self.generator, dtype=spread.dtype, device=spread.device)
            return output + spread.clamp_min(1e-30).sqrt() * eps

        return hook


def variational_fisher(
    probe,
    head,
    batches: Callable[[], Iterable],
    labels: np.ndarray,
    *,
    seed: int = 0,
    progress=None,
    beta: float = VARIATIONAL_DEFAULTS["beta"],
    lr: float = VARIATIONAL_DEFAULTS["lr"],
    epochs: int = VARIATIONAL_DEFAULTS["epochs"],
    min_steps: int = VARIATIONAL_DEFAULTS["min_steps"],
    init: str = VARIATIONAL_DEFAULTS["init"],
):
    """Robust Fisher of ``probe`` on the task -> (Lambda [D], prior 1/lambda^2 [D], params).

    ``batches()`` yields image tensors [B, 3, H, W] in the order of ``labels`` [N].
    Runs ``epochs`` passes, or more until ``min_steps`` Adam steps are taken.
    ``init="fisher"`` starts each filter at the optimum the second-order
    expansion predicts from one exact Monte Carlo Fisher pass,
    -log(mean_f(F) / (2 beta) + 1/lambda_l^2), so Adam refines rather than travels;
    ``init="prior"`` starts at the prior. A task without information starts (and stays)
    at the prior either way.
    """
    import torch

    device = probe.layers[0][1].weight.device
    generator = torch.Generator(device=device).manual_seed(int(seed))
    lam2 = [float((m.weight.detach().double() ** 2).mean().clamp_min(1e-12)) for _, m in probe.layers]
    start = _initial_logvars(probe, head, batches, lam2, beta=beta, seed=seed, init=init)
    logvars = [torch.tensor(values, dtype=torch.float64, device=device, requires_grad=True) for values in start]
    targets = torch.as_tensor(labels, dtype=torch.long, device=device)
    loss = _VariationalLoss(probe, head, logvars, lam2, beta)
    steps, epoch_count = _fit_logvars(
        loss, batches, targets, generator, lr=lr, epochs=epochs, min_steps=min_steps, progress=progress
    )
    vector = np.concatenate([(-lv.detach().double()).exp().cpu().numpy() for lv in logvars])
    prior = np.concatenate([np.full(lv.shape[0], 1.0 / l2) for lv, l2 in zip(logvars, lam2)])
    params = {
        "estimator": "variational (robust Fisher, local reparameterisation)",
        "beta": beta,
        "lr": lr,
        "optimizer": "adam",
        "epochs": epoch_count,
        "steps": steps,
        "init": init,
        "lambda2": "fixed, mean w^2 per layer",
        "trained": "log-variances only",
        "t0": "prior precision 1/lambda_l^2",
    }
    return vector, prior, params


def _initial_logvars(
    probe, head, batches: Callable[[], Iterable], lam2: list[float], *, beta: float, seed: int, init: str
) -> list[np.ndarray]:
    """Starting log-variances, one [C_l] float64 array per filter layer (see :func:`variational_fisher`).

    fp64: Adam rescales gradients, so fp32 round-off at the prior (a task
    without information has exactly zero gradient there) would drift.
    """
    if init == "prior":
        return [np.full(m.weight.shape[0], math.log(l2)) for (_, m), l2 in zip(probe.layers, lam2)]
    if init != "fisher":
        raise ValueError(f"unknown init {init!r}; use 'fisher' or 'prior'")
    from zoo.embedding.fisher import fisher_diagonal

    fisher, _ = fisher_diagonal(probe, head, batches(), seed=seed)
    offsets = np.cumsum([0] + [m.weight.shape[0] for _, m in probe.layers])
    return [-np.log(fisher[a:b] / (2 * beta) + 1.0 / l2) for a, b, l2 in zip(offsets[:-1], offsets[1:], lam2)]


class _VariationalLoss:
    """L = CE of the noisy network + beta * sum_l fan_in_l * sum_f (sigma_f^2 / lambda_l^2 - log sigma_f^2)."""

    def __init__(self, probe, head, logvars, lam2: list[float], beta: float) -> None:
        self.probe, self.head, self.logvars, self.lam2, self.beta = probe, head, logvars, lam2, beta
        self.fan_in = [m.weight[0].numel() for _, m in probe.layers]
        self.device = probe.layers[0][1].weight.device

    def __call__(self, images, targets):
        """The loss (a scalar tensor) of one batch of images [B, 3, H, W] with labels [B]."""
        import torch.nn.functional as F

        logits = self.head(self.probe.features(images.to(self.device).float()))
        ce = F.cross_entropy(logits, targets)
        compression = sum(k * ((lv.exp() / l2) - lv).sum() for lv, l2, k in zip(self.logvars, self.lam2, self.fan_in))
        return ce + self.beta * compression


def _fit_logvars(
    loss: _VariationalLoss,
    batches: Callable[[], Iterable],
    targets,
    generator,
    *,
    lr: float,
    epochs: int,
    min_steps: int,
    progress=None,
) -> tuple[int, int]:
    """Adam on the log-variances only, under the noise hooks -> (steps taken, epochs run)."""
    import torch

    optimizer = torch.optim.Adam(loss.logvars, lr=lr)
    steps, epoch_count = 0, 0
    loss.probe.model.eval()
    with _NoisyLayers(loss.probe.layers, loss.logvars, generator), torch.enable_grad():
        while epoch_count < epochs or steps < min_steps:
            start = 0
            for images in batches():
                y = targets[start : start + images.shape[0]]
                start += images.shape[0]
                value = loss(images, y)
                optimizer.zero_grad()
                value.backward()
                optimizer.step()
                steps += 1
                if progress is not None and epoch_count == 0:
                    progress.update(images.shape[0])
            epoch_count += 1
    return steps, epoch_count
