"""The probe network: a fixed, pre-trained timm CNN whose filters index the embedding.

Paper section 3 / METHOD sections 1 and 3. A probe is resolved from a spec
(``bundled``, ``timm:NAME``, ``hf-hub:REPO``, ``file:PATH`` + arch) or taken as
a ready ``torch.nn.Module``. Its *filter layers* are every ``Conv2d`` and
``Linear`` module outside the classifier, in module order; each output channel
is one filter and one coordinate of the embedding. The probe's own classifier
is never used (a fresh head is fitted per task, :mod:`zoo.embedding.head`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from registry.errors import InvalidInput

__all__ = ["ProbeInfo", "Probe", "resolve_probe", "filter_layers", "fisher_prior", "BETA"]

#: weight of the compression term of the robust Fisher (METHOD section 4, reference value).
BETA = 1e-7


@dataclasses.dataclass(frozen=True)
class ProbeInfo:
    """What identifies a probe in the registry (``store.ensure_probe``)."""

    name: str
    arch: str
    checksum: str
    layers: tuple[str, ...]
    embedding_length: int
    source: str


@dataclasses.dataclass
class Probe:
    """A loaded probe: the timm ``model`` (eval mode), its ``layers`` [(name, module)] and ``info``."""

    model: Any
    layers: list[tuple[str, Any]]
    info: ProbeInfo

    @property
    def feature_dim(self) -> int:
        """Width of the pooled pre-logit features the head reads."""
        return int(getattr(self.model, "head_hidden_size", None) or self.model.num_features)

    def features(self, images):
        """Pooled pre-logit features [B, F] of images [B, 3, H, W] (with autograd if enabled)."""
        feats = self.model.forward_head(self.model.forward_features(images), pre_logits=True)
        return feats.reshape(feats.shape[0], -1)


def _is_filter_layer(module) -> bool:
    from timm.layers import Conv2dSame
    from torch import nn

    if isinstance(module, Conv2dSame):
        return True
    if isinstance(module, nn.Conv2d):
        return type(module).forward is nn.Conv2d.forward
    if isinstance(module, nn.Linear):
        return type(module).forward is nn.Linear.forward
    return False


def filter_layers(model) -> list[tuple[str, Any]]:
    """Every Conv2d / Linear module of ``model`` outside its classifier, in module order."""
    classifier = model.get_classifier()
    inside = {id(m) for m in classifier.modules()} if classifier is not None else set()
    return [(name, m) for name, m in model.named_modules() if _is_filter_layer(m) and id(m) not in inside]


def _arch_of(model) -> str:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__.lower())


def resolve_probe(spec="bundled", *, arch: str | None = None, allow_random: bool = False) -> Probe:
    """Load the probe named by ``spec`` (or wrap a module) and describe it.

    Registry names: ``timm:NAME`` -> ``NAME``; ``hf-hub:REPO`` -> ``hf-hub:REPO``;
    files, the bundled probe and modules -> ``ARCH@<first 12 hex of the weights checksum>``,
    so two different weight files never share a name.
    """
    import torch

    from zoo.networks import load_network, looks_untrained, parse_source, weights_checksum

    if isinstance(spec, Probe):
        return spec
    if isinstance(spec, torch.nn.Module):
        model, source = spec.eval(), "module"
        if not allow_random and looks_untrained(model):
            raise InvalidInput("the probe has untrained (random) weights; pass allow_random=True for tests")
    else:
        source = parse_source(str(spec)).uri
        model = load_network(source, arch=arch, allow_random=allow_random)
    for param in model.parameters():
        param.requires_grad_(False)
    layers = filter_layers(model)
    if not layers:
        raise InvalidInput(f"probe {source} has no Conv2d/Linear layers outside its classifier; use a CNN")
    checksum = weights_checksum(model)
    kind = source.split(":", 1)[0]
    if kind == "timm":
        name = source.split(":", 1)[1]
    elif kind == "hf-hub":
        name = source
    else:
        name = f"{_arch_of(model)}@{checksum[:12]}"
    info = ProbeInfo(
        name=name,
        arch=_arch_of(model),
        checksum=checksum,
        layers=tuple(n for n, _ in layers),
        embedding_length=int(sum(m.weight.shape[0] for _, m in layers)),
        source=source,
    )
    return Probe(model=model, layers=layers, info=info)


def fisher_prior(probe: Probe, beta: float = BETA) -> np.ndarray:
    """t0 for the Monte Carlo / expected Fisher, [D] float32 (METHOD sections 4-5).

    The robust Fisher's optimum is 2*beta*Lambda_f = mean_f(F) + 2*beta/lambda_l^2,
    with lambda_l^2 the prior variance of layer l. For a plain Fisher we take the
    same prior in Fisher units with sigma -> 0, lambda_l^2 = mean of w^2 over the
    layer's weights: t0_f = 2*beta / lambda_l^2. It depends on the probe only.
    """
    parts = []
    for _, module in probe.layers:
        weight = module.weight.detach().double().cpu()
        lam2 = float((weight**2).mean().clamp_min(1e-12))
        parts.append(np.full(weight.shape[0], 2.0 * beta / lam2))
    return np.concatenate(parts).astype(np.float32)
