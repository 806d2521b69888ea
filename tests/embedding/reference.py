"""The slow twin of :func:`zoo.embedding.fisher.fisher_diagonal`: one autograd call per example (and class).

Kept beside the tests, not in the library (as BackPACK keeps its autograd reference under test/);
``benchmarks/bench_fisher.py`` imports it from here too.
"""

from __future__ import annotations

import numpy as np


def fisher_diagonal_reference(probe, head, images, *, method: str = "montecarlo", labels=None):
    """Slow, obviously correct twin of :func:`fisher_diagonal`: one autograd call per example (and class).

    ``images`` [N, 3, H, W]; ``labels`` [N] the sampled labels for montecarlo.
    Returns the filter-wise diagonal Fisher [D] float64.
    """
    import torch

    weights = [module.weight for _, module in probe.layers]
    flags = [w.requires_grad for w in weights]
    for w in weights:
        w.requires_grad_(True)
    totals = [torch.zeros(w.shape[0], dtype=torch.float64, device=w.device) for w in weights]
    images = images.to(weights[0].device)
    try:
        with torch.enable_grad():
            for n in range(images.shape[0]):
                logits = head(probe.features(images[n : n + 1].float()))[0]
                log_p = torch.log_softmax(logits.double(), dim=0)
                if method == "montecarlo":
                    terms = [(int(labels[n]), 1.0)]
                else:
                    terms = [(c, float(log_p[c].detach().exp())) for c in range(log_p.shape[0])]
                for c, weight in terms:
                    grads = torch.autograd.grad(log_p[c], weights, retain_graph=True)
                    for total, grad in zip(totals, grads):
                        total += weight * (grad.double() ** 2).flatten(1).mean(1)
    finally:
        for w, flag in zip(weights, flags):
            w.requires_grad_(flag)
    return np.concatenate([(t / images.shape[0]).cpu().numpy() for t in totals])


def autograd_square_sums(conv, x, grad_out) -> np.ndarray:
    """Slow twin of :func:`zoo.embedding.fisher.per_example_square_sums`: ``[N, O]`` each example's own weight
    gradient (one autograd call per example, ``grad_out`` its output gradient), squared and summed per filter."""
    import torch

    rows = []
    for n in range(x.shape[0]):
        (g,) = torch.autograd.grad(conv(x[n : n + 1]), conv.weight, grad_out[n : n + 1])
        rows.append((g.double() ** 2).flatten(1).sum(1))
    return torch.stack(rows).detach().numpy()
