"""Network loading and feature extraction shared by every part of zoo.

A *source* says where a network's weights come from:

- ``timm:NAME`` - a timm pretrained tag (``timm:resnet34.a1_in1k``), downloaded
  from the Hugging Face hub by timm;
- ``hf-hub:REPO`` - a timm model published on the hub;
- ``file:PATH`` - a local safetensors file, or a PyTorch checkpoint read with
  ``torch.load(weights_only=True)``, plus its architecture (``arch=``, or an
  ``"arch"`` entry in the safetensors metadata or in a sidecar ``PATH.json`` /
  ``<stem>.json``);
- ``bundled`` - the project's probe in ``zoo/assets/probe/`` (probe.safetensors +
  probe.json);
- ``bench:REL`` - a file under the bench data root (``$ZOO_BENCH_ROOT``, see
  :mod:`registry.locations`), read like ``file:``; the shipped zoo's experts are
  ``bench:experts/NAME.safetensors``.

Every network comes back as a timm model in eval mode, so callers rely on timm's
uniform interface (``forward_features``, ``forward_head``, ``reset_classifier``,
the pretrained data config) instead of special-casing architectures.

A checkpoint from someone else never runs code here: safetensors holds tensors
only and ``torch.load`` is always called with ``weights_only=True``. Parsing
sources, reading weights files and checksums live in :mod:`zoo.checkpoints`
(re-exported here).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from registry.errors import InvalidInput, arg
from zoo.batches import data_config, tensor_batches
from zoo.checkpoints import (
    Source,
    file_checksum,
    local_file,
    local_weights,
    parse_source,
    read_sidecar,
    read_state_dict,
    weights_checksum,
)

__all__ = [
    "Source",
    "parse_source",
    "bundled_probe_dir",
    "load_network",
    "weights_checksum",
    "file_checksum",
    "local_weights",
    "data_config",
    "looks_untrained",
    "extract_features",
    "resolve_device",
]

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
#: a safetensors metadata key: weights that name their record (``probe.json``) under it are refused without it
#: (a `zoo bench train-probe` stopped between writing its two files; see zoo.bench.probe)
RECORD_KEY = "record"


def bundled_probe_dir() -> Path:
    """The folder of the bundled probe (``zoo/assets/probe``)."""
    return Path(__file__).resolve().parent / "assets" / "probe"


def _apply_data_overrides(model, info: dict[str, Any]) -> None:
    """Let a probe description (probe.json) override the timm data config."""
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    if "input_size" in info:
        size = info["input_size"]
        cfg["input_size"] = tuple(size) if isinstance(size, (list, tuple)) else (3, int(size), int(size))
    for key in ("mean", "std"):
        if key in info:
            cfg[key] = tuple(info[key])
    for key in ("interpolation", "crop_pct", "crop_mode"):
        if key in info:
            cfg[key] = info[key]
    model.pretrained_cfg = cfg


#: the timm constructor arguments a weights file's ``model_args`` (metadata or sidecar) may set: the
#: architecture's shape only. Anything else (``checkpoint_path``, ``pretrained_cfg``, ``num_classes``,
#: which the stored classifier decides) is refused, so a file cannot make timm read another file.
MODEL_ARGS = (
    "layers",
    "channels",
    "stem_width",
    "stem_type",
    "depths",
    "dims",
    "widths",
    "embed_dim",
    "num_heads",
    "mlp_ratio",
    "patch_size",
    "img_size",
    "in_chans",
    "channel_multiplier",
    "depth_multiplier",
    "drop_rate",
    "drop_path_rate",
    "global_pool",
)


def _checked_model_args(path: Path, model_args: Any) -> dict[str, Any]:
    """``model_args`` as keyword arguments for ``timm.create_model``; InvalidInput for any not in MODEL_ARGS."""
    if model_args is None:
        return {}
    if not isinstance(model_args, dict):
        raise InvalidInput(f"model_args of {path} must be a JSON object of timm arguments; fix its metadata")
    refused = sorted(str(key) for key in model_args if key not in MODEL_ARGS)
    if refused:
        raise InvalidInput(
            f"model_args of {path} sets {', '.join(refused)}, which zoo does not pass to timm; "
            f"keep to {', '.join(MODEL_ARGS)}"
        )
    return dict(model_args)


def _build_from_file(path: Path, arch: str | None, num_classes: int | None, extra: dict[str, Any]):
    import timm

    state, meta = read_state_dict(path)
    _check_record(path, meta)
    info = {**read_sidecar(path), **extra}
    if "model_args" in meta:
        info.setdefault("model_args", json.loads(meta["model_args"]))
    arch = arch or info.get("arch") or meta.get("arch")
    if not arch:
        raise InvalidInput(
            f"architecture of {path} unknown: pass {arg('arch', 'ARCH')} (a timm architecture such as resnet18)"
        )
    model_args = _checked_model_args(path, info.get("model_args"))
    try:
        probe = timm.create_model(arch, pretrained=False, **model_args)
    except Exception as err:  # timm raises RuntimeError/TypeError/KeyError for unknown archs/args
        raise InvalidInput(
            f"timm cannot build architecture {arch!r} ({err}); pass a timm architecture as {arg('arch', 'ARCH')}"
        ) from err
    classifier_keys = [f"{name}.weight" for name, mod in probe.named_modules() if mod is probe.get_classifier()]
    stored_classes = None
    if classifier_keys and classifier_keys[0] in state:
        stored_classes = int(state[classifier_keys[0]].shape[0])
    head_classes = stored_classes if stored_classes is not None else 0
    model = timm.create_model(arch, pretrained=False, num_classes=head_classes, **model_args)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise InvalidInput(
            f"weights in {path} do not fit {arch!r} (tensor shapes differ); "
            f"pass the architecture they were saved from as {arg('arch', 'ARCH')}"
        ) from err
    if missing or unexpected:
        raise InvalidInput(
            f"weights in {path} do not fit {arch!r} ({len(missing)} missing, {len(unexpected)} "
            f"unexpected tensors, e.g. {(list(missing) + list(unexpected))[0]}); "
            f"pass the architecture they were saved from as {arg('arch', 'ARCH')}"
        )
    _apply_data_overrides(model, info)
    if num_classes is not None and num_classes != head_classes:
        model.reset_classifier(num_classes)
    return model


def _check_record(path: Path, meta: dict[str, str]) -> None:
    """InvalidInput when the weights at ``path`` name a record file (:data:`RECORD_KEY`) and neither it nor a
    sidecar :func:`zoo.checkpoints.read_sidecar` would read (the name a renamed pair carries) is beside them."""
    record = Path(meta.get(RECORD_KEY) or "").name
    if not record:
        return
    beside = (path.with_name(record), path.with_name(path.name + ".json"), path.with_suffix(".json"))
    if not any(candidate.is_file() for candidate in beside):
        raise InvalidInput(
            f"{path} has no {record} beside it: the probe training that wrote it stopped before its record; "
            "rerun `zoo bench train-probe` (or `zoo bench build --train-probe`) with the same settings (it resumes)"
        )


def load_network(
    source: str,
    *,
    arch: str | None = None,
    num_classes: int | None = None,
    allow_random: bool = False,
    device: str | None = None,
    model_name: str | None = None,
):
    """Load a timm network from ``source`` (see module doc), in eval mode, on ``device`` (default: the CPU).

    ``device``: ``auto``, ``cpu`` or ``cuda`` (see :func:`resolve_device`). ``model_name``: the registered
    model whose source this is, if any; then weights the hub cannot give are advised to be pointed at with
    ``zoo models set-source`` (else: a ``file:PATH`` source with ``arch``, as a probe takes it).

    ``num_classes`` replaces the classifier (``reset_classifier``) when it differs.
    Networks whose normalisation layers are still at their initial values (never
    trained) are refused unless ``allow_random``: their features mean nothing.
    """
    import timm

    src = parse_source(source)
    if src.kind == "bundled":
        folder = bundled_probe_dir()
        weights, desc = folder / "probe.safetensors", folder / "probe.json"
        if weights.is_file() and not desc.is_file():
            raise InvalidInput(
                f"the bundled probe in {folder} has no probe.json: its training stopped before writing it; "
                "rerun `zoo bench train-probe` with the same settings (it resumes)"
            )
        if not weights.is_file() or not desc.is_file():
            raise InvalidInput(
                f"the bundled probe is not built ({folder} has no probe.safetensors/probe.json): "
                f"build it with `zoo bench train-probe`, or pass {arg('probe', 'timm:NAME')}, "
                f"or {arg('probe', 'file:PATH')} with {arg('arch', 'ARCH')}"
            )
        info = json.loads(desc.read_text())
        model = _build_from_file(weights, arch or info.get("arch"), num_classes, info)
    elif src.kind in ("file", "bench"):
        try:
            model = _build_from_file(local_file(src), arch, num_classes, {})
        except InvalidInput as err:
            if model_name is None or err.param != "arch":  # a probe: its caller has the arch option named
                raise
            reason = str(err).split("; pass")[0].split(": pass")[0]
            raise InvalidInput(
                f"cannot build expert {model_name} ({reason}); register it again with its timm architecture "
                f"(`zoo models remove {model_name} --force`, then `zoo register-model {model_name} --source "
                f'{source} --arch ARCH`), or write it as "arch" in a sidecar JSON beside the weights and run '
                f"`zoo models set-source {model_name} {source}`"
            ) from err
    else:
        name = src.target if src.kind == "timm" else f"hf-hub:{src.target}"
        kwargs = {} if num_classes is None else {"num_classes": num_classes}
        online = _hub_reachable()
        try:
            with _hub_offline(not online):
                model = timm.create_model(name, pretrained=True, **kwargs)
        except Exception as err:  # network errors surface as many types (OSError, HTTPError, ...)
            reason = (
                "the Hugging Face hub is unreachable and the weights are not cached"
                if not online
                else (str(err).splitlines()[0].split(". ")[0][:120] or type(err).__name__)
            )
            advice = (
                f"point {model_name} at them with `zoo models set-source {model_name} file:PATH`"
                if model_name
                else f"use file:PATH with {arg('arch', src.target.split('.')[0])}"
            )
            raise InvalidInput(
                f"cannot load pretrained weights for {name} ({reason}); download the weights elsewhere and {advice}"
            ) from err
    model.eval()
    if not allow_random and looks_untrained(model):
        # an expert (model_name) has no allow_random anywhere a user calls it; a probe has (embed-task's option)
        fix = (
            f"point {model_name} at trained weights with `zoo models set-source {model_name} SOURCE`"
            if model_name
            else f"use trained weights, or pass {arg('allow_random')} for tests"
        )
        raise InvalidInput(f"network {source} has untrained (random) weights, so its features mean nothing; {fix}")
    if device is not None:
        model.to(resolve_device(device))
    return model


def resolve_device(device: str = "auto") -> str:
    """``auto``: ``cuda`` when torch sees a GPU, else ``cpu``; ``cpu``, ``cuda``, ``cuda:N`` checked (InvalidInput)."""
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if (name == "cuda" or name.startswith("cuda:")) and not torch.cuda.is_available():
        raise InvalidInput(
            f"device {device!r} asked for, but torch sees no CUDA GPU here; "
            f"pass {arg('device', 'cpu')} or {arg('device', 'auto')}"
        )
    if name == "cpu" or name == "cuda" or name.startswith("cuda:"):
        return name
    raise InvalidInput(f"unknown device {device!r}; pass {arg('device', 'auto|cpu|cuda')}")


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection (fails fast offline, no retries)."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


class _hub_offline:
    """Put huggingface_hub in offline mode (cache only) for the block, when ``active``.

    Without it, an unreachable hub costs a long series of retries before failing.
    """

    def __init__(self, active: bool) -> None:
        self.active, self.saved = active, None

    def __enter__(self):
        if self.active:
            from huggingface_hub import constants

            self.saved, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            from huggingface_hub import constants

            constants.HF_HUB_OFFLINE = self.saved


def looks_untrained(model) -> bool:
    """True when every normalisation layer is still at its initial state.

    BatchNorm running statistics stay at mean 0 / variance 1 until the network
    sees data; LayerNorm/GroupNorm affine parameters stay at 1 / 0 until trained.
    A network without normalisation layers cannot be judged and counts as trained.
    """
    import torch
    from torch import nn

    seen = False
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            seen = True
            if not (torch.all(module.running_mean == 0) and torch.all(module.running_var == 1)):
                return False
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)) and getattr(module, "weight", None) is not None:
            seen = True
            if not (torch.all(module.weight == 1) and torch.all(module.bias == 0)):
                return False
    return seen


def extract_features(model, dataset, *, batch_size: int = 64, progress: bool = True, desc: str = "features"):
    """Pooled pre-logit features of every item of ``dataset`` -> ``np.ndarray`` [N, D] float32.

    ``dataset`` yields ``(image, label)``; PIL images go through the model's own
    timm transforms (:func:`zoo.batches.transform_for`), tensors are used as given.
    Computed as ``forward_head(forward_features(x), pre_logits=True)`` in eval mode,
    on the device the model's weights are on; the features come back to the CPU.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    chunks = []
    with torch.no_grad(), tqdm(total=len(dataset), desc=desc, unit="img", disable=not progress) as bar:
        for images, _ in tensor_batches(dataset, model, batch_size=batch_size):
            feats = model.forward_head(model.forward_features(images.to(device)), pre_logits=True)
            chunks.append(feats.reshape(feats.shape[0], -1).float().cpu().numpy())
            bar.update(images.shape[0])
    if not chunks:
        return np.zeros((0, int(getattr(model, "num_features", 0))), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
