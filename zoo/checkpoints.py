"""Weights files and sources: parsing a source URI, reading a state dict, checksums.

The leaf under :mod:`zoo.networks` (which re-exports its public names): a
source is ``timm:NAME``, ``hf-hub:REPO``, ``file:PATH``, ``bench:REL`` or
``bundled`` (see :mod:`zoo.networks`). Reading a file never runs code from it:
safetensors holds tensors only and ``torch.load`` is always called with
``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from registry.errors import InvalidInput, arg

_KINDS = ("timm", "hf-hub", "file", "bundled", "bench")


@dataclasses.dataclass(frozen=True)
class Source:
    """A parsed source URI: ``kind`` in {timm, hf-hub, file, bundled} and its ``target``."""

    kind: str
    target: str

    @property
    def uri(self) -> str:
        return "bundled" if self.kind == "bundled" else f"{self.kind}:{self.target}"


def parse_source(uri: str) -> Source:
    """Parse ``timm:NAME``, ``hf-hub:REPO``, ``file:PATH``, ``bench:REL`` or ``bundled``."""
    text = (uri or "").strip()
    if text == "bundled":
        return Source("bundled", "")
    kind, sep, target = text.partition(":")
    if not sep or kind not in _KINDS or kind == "bundled" or not target.strip():
        raise InvalidInput(
            f"unknown network source {uri!r}: use timm:NAME (e.g. timm:resnet34.a1_in1k), "
            f"hf-hub:REPO, file:PATH (with {arg('arch', 'ARCH')}) or bundled"
        )
    return Source(kind, target.strip())


def read_sidecar(path: Path) -> dict[str, Any]:
    """The JSON description next to a weights file (``PATH.json`` or ``<stem>.json``), if any."""
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except (OSError, ValueError) as err:
                raise InvalidInput(f"cannot read {candidate}: {err}; fix or remove the file") from err
    return {}


def read_state_dict(path: Path) -> tuple[dict, dict[str, str]]:
    """Tensors and metadata from a safetensors file or a weights-only PyTorch checkpoint."""
    import torch

    if not path.is_file():
        raise InvalidInput(f"weights file {path} does not exist: check the path after file:")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = dict(handle.metadata() or {})
                state = {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as err:  # safetensors raises its own error types
            raise InvalidInput(f"{path} is not a readable safetensors file ({err})") from err
        return state, meta
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise InvalidInput(
            f"{path} is not a weights-only PyTorch checkpoint ({type(err).__name__}); "
            "save it with safetensors or torch.save(model.state_dict())"
        ) from err
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise InvalidInput(f"{path} does not hold a state dict of tensors; save model.state_dict()")
    return {k.removeprefix("module."): v for k, v in obj.items()}, {}


def local_weights(source: str) -> Path | None:
    """The local weights file a ``file:`` or ``bench:`` source names (it may not exist); None for the others."""
    src = parse_source(source)
    if src.kind == "file":
        return Path(os.path.expanduser(src.target))
    if src.kind == "bench":
        from registry.locations import resolve_bench_uri

        return resolve_bench_uri(src.uri)
    return None


def local_file(src: Source) -> Path:
    """The file of a ``file:``/``bench:`` source; a missing bench file names the command that brings it."""
    path = local_weights(src.uri)
    if src.kind == "bench" and not path.is_file():
        from registry.locations import ROOT_VARIABLE

        raise InvalidInput(
            f"weights file {path} ({src.uri}) is missing: run `zoo bench rebuild-experts`, "
            f"or set ${ROOT_VARIABLE} to the folder that holds experts/"
        )
    return path


def file_checksum(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_checksum(module_or_path) -> str:
    """sha256 of a network's weights.

    For a module: over its state dict (names, dtypes, shapes and bytes, in name
    order), so the same weights give the same checksum whatever file they came
    from. For a path: over the file's bytes.
    """
    import torch

    if isinstance(module_or_path, (str, os.PathLike)):
        return file_checksum(module_or_path)
    digest = hashlib.sha256()
    state = module_or_path.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
