"""The exact diagonal Fisher, averaged per filter (METHOD sections 2-3; paper section 3.1).

    diag F ~= (1/N) sum_n ( grad_w log p_w(y~_n | x_n) )^2,    y~_n ~ p_w(y | x_n)

``montecarlo`` samples one label per example from the head's prediction;
``expected`` sums over every class c with weight p_c (C backward passes).

How: forward hooks on each filter layer keep the layer input; a tensor hook on
its output receives the output gradient. Seeding the backward pass with
softmax(logits) - onehot(y~) gives each example's own gradient (sum semantics),
from which each example's per-filter *sum of squared weight gradients* is formed
one layer at a time, never the whole model's per-example gradients:

    conv as matmul:  g_n = Go_n X_n^T   (Go_n [O, L] output grads, X_n [I*k*k, L] unfolded input)
    explicit:        ||g_n[o]||^2 = sum_j (Go_n X_n^T)[o, j]^2         cost ~ O * Ik^2 * L
    Gram:            ||g_n[o]||^2 = (Go_n (X_n^T X_n) Go_n^T)[o, o]     cost ~ L^2 * (O + Ik^2)

or a third form, one grouped weight-gradient convolution with the batch as
groups (cost ~ explicit, on the backend's conv kernels). Grouped convs split per
group; Linear layers on [N, ..., I] inputs are the k = 1 case. The CPU takes the
form with fewer multiply-adds; a GPU times every form once per layer shape and
keeps the fastest. The probe's weights need no gradient, so the backward pass
computes only activation gradients. Squares are formed in fp32 and accumulated
in fp64.

Each layer type (Linear, Conv2d, timm's Conv2dSame) has one handler,
:mod:`zoo.embedding.layers`, shared with the robust Fisher.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["FISHER_METHODS", "fisher_diagonal", "per_example_square_sums"]

#: the methods this exact estimator computes (zoo.embedding.METHODS adds the variational one)
FISHER_METHODS = ("montecarlo", "expected")
_BLOCK_ELEMENTS = 1 << 24  # max elements of one intermediate block (~64 MB fp32)


def per_example_square_sums(module, x, grad_out, *, path: str | None = None):
    """Per-example, per-filter sums of squared weight gradients of one layer -> [N, O] fp32.

    ``x`` is the layer input, ``grad_out`` the gradient of its output, both with
    batch dimension N (each example's loss summed, not averaged). ``path`` forces
    ``explicit`` (unfold + matmul), ``gram`` or ``grouped`` (conv only). By default
    the CPU takes the form with fewer multiply-adds; on a GPU each layer shape is
    timed once with every form and the fastest is kept (like cudnn.benchmark).
    The layer's handler (:func:`zoo.embedding.layers.handler_for`) turns it into matmul operands.
    """
    import torch

    from zoo.embedding.layers import handler_for

    handler = handler_for(module)
    x, grad_out = x.float(), grad_out.float()
    if path is None and x.is_cuda:
        path = _tuned_path(module, x, grad_out, handler.paths)
    if path == "grouped" and "grouped" in handler.paths:
        per_example = module.weight.numel()
        return handler.grouped_square_sums(module, x, grad_out, max(1, _BLOCK_ELEMENTS // per_example))
    go, groups = handler.output_grads(module, grad_out)  # [N, O, L]
    length = go.shape[2]
    k = module.weight[0].numel()
    out_per_group = go.shape[1] // groups
    explicit_cost = out_per_group * k * length
    gram_cost = length * length * (k + out_per_group)
    use_gram = path == "gram" or (path is None and gram_cost < explicit_cost)
    cols, groups = handler.unfolded(module, x)  # [N, G, K, L]
    n = cols.shape[0]
    go = go.reshape(n, groups, out_per_group, length)  # [N, G, Og, L]
    per_example = groups * (length * length if use_gram else out_per_group * k)
    step = max(1, _BLOCK_ELEMENTS // max(1, per_example))
    result = []
    for s in range(0, n, step):
        c, g = cols[s : s + step], go[s : s + step]
        if use_gram:
            gram = torch.matmul(c.transpose(-1, -2), c)  # [n, G, L, L]
            sums = (torch.matmul(g, gram) * g).sum(-1)  # [n, G, Og]
        else:
            grads = torch.matmul(g, c.transpose(-1, -2))  # [n, G, Og, K]
            sums = (grads * grads).sum(-1)
        result.append(sums.reshape(sums.shape[0], -1))
    return torch.cat(result)


_TUNED: dict[tuple, str] = {}


def _tuned_path(module, x, grad_out, paths: tuple[str, ...]) -> str:
    """The fastest form for this layer shape on this GPU, timed on first use."""
    import time

    import torch

    key = (
        type(module).__name__,
        tuple(module.weight.shape),
        getattr(module, "stride", None),
        getattr(module, "groups", 1),
        tuple(x.shape),
        str(x.device),
    )
    if key not in _TUNED:
        timings = {}
        for candidate in paths:
            try:
                per_example_square_sums(module, x, grad_out, path=candidate)  # warm-up
                torch.cuda.synchronize(x.device)
                start = time.perf_counter()
                per_example_square_sums(module, x, grad_out, path=candidate)
                torch.cuda.synchronize(x.device)
                timings[candidate] = time.perf_counter() - start
            except torch.OutOfMemoryError:
                continue
        _TUNED[key] = min(timings, key=timings.get)
    return _TUNED[key]


class _SquareSumHooks:
    """Hooks that accumulate per-filter sums over examples of squared per-example gradients."""

    def __init__(self, layers):
        import torch

        self.layers = layers
        self.sums = [torch.zeros(m.weight.shape[0], dtype=torch.float64, device=m.weight.device) for _, m in layers]
        self.handles = []

    def __enter__(self):
        for index, (_, module) in enumerate(self.layers):
            self.handles.append(module.register_forward_hook(self._forward_hook(index)))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _forward_hook(self, index):
        def hook(module, inputs, output):
            if not output.requires_grad:
                return
            x = inputs[0].detach()

            def on_grad(grad):
                self.sums[index] += per_example_square_sums(module, x, grad.detach()).sum(0).double()

            output.register_hook(on_grad)

        return hook

    def per_filter_mean(self, count: int) -> np.ndarray:
        """Mean over examples and over each filter's weights -> [D] float64."""
        parts = []
        for (_, module), total in zip(self.layers, self.sums):
            fan_in = module.weight[0].numel()
            parts.append((total / (count * fan_in)).cpu().numpy())
        return np.concatenate(parts)


def fisher_diagonal(
    probe, head, batches: Iterable, *, method: str = "montecarlo", seed: int = 0, labels=None, progress=None
):
    """Filter-wise diagonal Fisher of ``probe`` (a :class:`zoo.embedding.probe.Probe`).

    ``batches`` yields image tensors [B, 3, H, W]; ``head`` maps pre-logit
    features to logits. ``labels`` (montecarlo only) fixes the sampled labels
    instead of drawing them with a ``seed``-ed generator. ``progress`` is a tqdm
    bar (or None), advanced by images.

    Returns ``(fisher [D] float64, sampled labels [N] int64 or None)``.
    """
    import torch

    if method not in FISHER_METHODS:
        raise ValueError(f"unknown Fisher method {method!r}; use one of {FISHER_METHODS}")
    generator = torch.Generator().manual_seed(int(seed))  # on the CPU: same labels on every device
    probe.model.eval()
    device = probe.layers[0][1].weight.device
    count, drawn = 0, []
    with _SquareSumHooks(probe.layers) as hooks, torch.enable_grad():
        for images in batches:
            images = images.to(device).float().requires_grad_(True)
            logits = head(probe.features(images))
            probs = torch.softmax(logits.detach().double(), dim=1).cpu()
            if method == "montecarlo":
                if labels is not None:
                    sampled = torch.as_tensor(labels[count : count + images.shape[0]], dtype=torch.long)
                else:
                    sampled = torch.multinomial(probs, 1, generator=generator)[:, 0]
                drawn.append(sampled)
                seed_grad = probs - torch.nn.functional.one_hot(sampled, probs.shape[1]).double()
                logits.backward(seed_grad.to(device=device, dtype=logits.dtype))
            else:
                classes = probs.shape[1]
                for c in range(classes):
                    onehot = torch.zeros_like(probs)
                    onehot[:, c] = 1.0
                    seed_grad = probs[:, c : c + 1].sqrt() * (probs - onehot)
                    logits.backward(seed_grad.to(device=device, dtype=logits.dtype), retain_graph=c < classes - 1)
            count += images.shape[0]
            if progress is not None:
                progress.update(images.shape[0])
        fisher = hooks.per_filter_mean(max(count, 1))
    return fisher, (torch.cat(drawn) if drawn else None)
