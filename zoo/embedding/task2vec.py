"""Task2Vec: embed a labelled image data set with a probe network (paper section 3).

    from zoo.embedding.task2vec import embed
    e = embed("path/to/images", "bundled")          # montecarlo, the default
    e.vector            # [D] float32, one number per probe filter
    e.prior             # [D] float32, the trivial embedding t0

Steps: load the data (class-balanced, seeded), cache the probe's pre-logit
features, fit the head (:mod:`zoo.embedding.head`), then one pass of the Fisher
estimator (:mod:`zoo.embedding.fisher` or :mod:`zoo.embedding.variational`).
Works without a registry; :meth:`zoo.api.Zoo.embed_task` stores the result.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from registry.errors import InvalidInput, arg
from zoo.embedding import DEFAULT_METHOD, METHODS
from zoo.version import __version__

__all__ = ["Embedding", "embed"]

#: image tensors are cached between the feature and Fisher passes below this size.
_CACHE_BYTES = 512 * 1024 * 1024


@dataclasses.dataclass
class Embedding:
    """A task embedding and how it was made.

    ``vector`` [D] float32 (filter-wise Fisher, or Lambda = exp(-logvar) for
    variational), ``prior`` [D] float32 (the trivial embedding t0), ``probe``
    (:class:`zoo.embedding.probe.ProbeInfo`), ``params`` (head recipe, layers,
    estimator settings, timings).
    """

    vector: np.ndarray
    prior: np.ndarray | None
    method: str
    probe: Any
    sample_count: int
    seed: int
    params: dict
    package_version: str

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))

    def summary(self) -> dict[str, Any]:
        """What the CLI prints: length, norm, method, probe, samples, seconds."""
        return {
            "method": self.method,
            "probe": self.probe.name,
            "length": int(self.vector.shape[0]),
            "norm": self.norm,
            "sample_count": self.sample_count,
            "seed": self.seed,
            "seconds": self.params.get("seconds"),
        }


class _ImageSource:
    """Batches of transformed image tensors, cached in memory when small enough."""

    def __init__(self, data, model, batch_size: int) -> None:
        from zoo.batches import data_config

        self.data, self.model, self.batch_size = data, model, batch_size
        channels, height, width = data_config(model)["input_size"]
        self.cache: list | None = [] if len(data) * channels * height * width * 4 <= _CACHE_BYTES else None
        self.filled = False

    def batches(self):
        from zoo.batches import tensor_batches

        if self.filled:
            yield from self.cache
            return
        for images, _labels in tensor_batches(self.data, self.model, batch_size=self.batch_size):
            if self.cache is not None:
                self.cache.append(images)
            yield images
        self.filled = self.cache is not None


def embed(
    dataset,
    probe="bundled",
    *,
    method: str = DEFAULT_METHOD,
    max_samples: int | None = None,
    seed: int = 0,
    progress: bool = True,
    arch: str | None = None,
    allow_random: bool = False,
    batch_size: int = 32,
    variational_options: dict | None = None,
    device: str | None = None,
) -> Embedding:
    """Embed ``dataset`` (folder, manifest, Dataset or :class:`zoo.data.LabelledImages`) with ``probe``.

    ``probe``: a spec (``bundled``, ``timm:NAME``, ``file:PATH`` with ``arch``), a
    loaded :class:`zoo.embedding.probe.Probe`, or a timm ``nn.Module``.
    Deterministic for a given ``seed`` (subsample, sampled labels, variational noise) on
    one device. ``device``: a torch device; None picks CUDA when available, else the CPU.
    """
    import torch

    from zoo.data import load_labelled
    from zoo.embedding.head import fit_head
    from zoo.embedding.probe import resolve_probe

    _check_request(method, max_samples)
    started = time.perf_counter()
    data = load_labelled(dataset, max_samples=max_samples, seed=seed, progress=progress)  # checks every image
    probe = resolve_probe(probe, arch=arch, allow_random=allow_random)
    _check_class_count(method, data.num_classes)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    probe.model.to(device)
    images = _ImageSource(data, probe.model, batch_size)
    labels = np.asarray(data.labels)
    features = _features(probe, images, len(data), device, progress)
    head, head_stats = fit_head(features, labels, data.num_classes, progress=progress)
    params = _run_params(data, head_stats, batch_size, device.type)
    vector, prior, info = _fisher(
        method,
        probe,
        head.to(device),
        images,
        labels,
        seed=seed,
        progress=progress,
        variational_options=variational_options,
    )
    params.update(info)
    params["seconds"] = round(time.perf_counter() - started, 3)
    return Embedding(
        vector=np.asarray(vector, dtype=np.float32),
        prior=np.asarray(prior, dtype=np.float32),
        method=method,
        probe=probe.info,
        sample_count=len(data),
        seed=int(seed),
        params=params,
        package_version=__version__,
    )


def _check_request(method: str, max_samples: int | None) -> None:
    """InvalidInput for an unknown ``method`` or a ``max_samples`` under 2."""
    if method not in METHODS:
        raise InvalidInput(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if max_samples is not None and max_samples < 2:
        raise InvalidInput(f"{arg('max_samples', str(max_samples))} is too small: give at least 2")


def _check_class_count(method: str, num_classes: int) -> None:
    """InvalidInput for method ``expected`` on more than 100 classes (one backward pass per class)."""
    if method == "expected" and num_classes > 100:
        raise InvalidInput(
            f"method expected needs one backward pass per class ({num_classes}); "
            f"use {arg('method', 'montecarlo')} for many classes"
        )


def _run_params(data, head_stats: dict[str, float], batch_size: int, device_type: str) -> dict[str, Any]:
    """The recipe of a run (head, layers, data) that the embedding stores; ``_fisher``'s info joins it."""
    from zoo.embedding.head import HEAD_RECIPE

    return {
        "head": {**HEAD_RECIPE, **head_stats},
        "layers": "every Conv2d/Linear outside the classifier",
        "skipped_stages": [],
        "batchnorm": "eval",
        "batch_size": batch_size,
        "num_classes": data.num_classes,
        "data_source": data.source,
        "skipped_images": data.skipped,
        "device": device_type,
    }


def _features(probe, images: _ImageSource, count: int, device, progress: bool) -> np.ndarray:
    """The probe's pre-logit features of every image -> [N, F] float32 (the head is fitted on them)."""
    import torch
    from tqdm.auto import tqdm

    feats = []
    with torch.no_grad(), tqdm(total=count, desc="features", unit="img", disable=not progress) as bar:
        for batch in images.batches():
            feats.append(probe.features(batch.to(device)).float().cpu().numpy())
            bar.update(batch.shape[0])
    return np.concatenate(feats)


def _fisher(
    method: str,
    probe,
    head,
    images: _ImageSource,
    labels: np.ndarray,
    *,
    seed: int,
    progress: bool,
    variational_options: dict | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One pass of the Fisher estimator ``method`` -> (embedding [D], trivial embedding t0 [D], its params)."""
    import torch
    from tqdm.auto import tqdm

    from zoo.embedding.fisher import fisher_diagonal
    from zoo.embedding.probe import BETA, fisher_prior

    torch.manual_seed(seed)
    with tqdm(total=len(labels), desc=f"fisher ({method})", unit="img", disable=not progress) as bar:
        if method == "variational":
            from zoo.embedding.variational import variational_fisher

            return variational_fisher(
                probe, head, images.batches, labels, seed=seed, progress=bar, **(variational_options or {})
            )
        vector, _ = fisher_diagonal(probe, head, images.batches(), method=method, seed=seed, progress=bar)
    info = {
        "estimator": "exact per-example squared gradients (hooks)",
        "samples_per_example": 1 if method == "montecarlo" else "all classes",
        "t0": "2*beta/lambda_l^2, lambda_l^2 = mean w^2 of layer l",
        "beta": BETA,
    }
    return vector, fisher_prior(probe, BETA), info
