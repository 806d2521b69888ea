"""Checks on what callers hand the store, each failing with a one-line InvalidInput."""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

import numpy as np

from registry import records as rec
from registry.errors import InvalidInput

_NAME = re.compile(r"^[^\s\x00-\x1f]{1,255}$")
SOURCE_SCHEMES = ("timm:", "hf-hub:", "file:")


def check_name(kind: str, name: Any) -> str:
    """A name: 1-255 characters, no whitespace or control characters."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"bad {kind} name {name!r}: use 1-255 characters without spaces")
    return name


def check_source(source: Any) -> str:
    """A model source URI: ``timm:NAME``, ``hf-hub:REPO`` or ``file:PATH``."""
    if not isinstance(source, str) or not any(
            source.startswith(s) and len(source) > len(s) for s in SOURCE_SCHEMES):
        raise InvalidInput(f"bad source {source!r}: use timm:NAME, hf-hub:REPO or file:PATH")
    return source


def check_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tags as a ``{key: value}`` dict of strings with non-empty keys."""
    clean = {}
    for key, value in dict(tags).items():
        if not isinstance(key, str) or not key.strip() or "=" in key:
            raise InvalidInput(f"bad tag key {key!r}: use a non-empty KEY without '='")
        clean[key] = str(value)
    return clean


def check_vector(label: str, vector: Any) -> tuple[bytes, int]:
    """A finite, non-empty 1-D vector as float32 bytes and its length."""
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInput(f"{label} is not a numeric vector") from None
    if array.ndim != 1 or array.shape[0] == 0:
        raise InvalidInput(f"{label} must be a non-empty 1-D vector, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidInput(f"{label} has NaN or infinite values")
    return rec.vector_to_bytes(array)


def check_json(label: str, value: Any) -> dict[str, Any]:
    """A JSON-serialisable dict (numpy scalars become Python numbers)."""
    try:
        return json.loads(json.dumps(dict(value or {}), default=_json_scalar, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"{label} must be a JSON object of finite values: {err}") from None


def _json_scalar(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def describe_counts(counts: Mapping[str, int]) -> str:
    """``{"transfer_results": 3, "model_aliases": 1}`` -> ``"3 transfer results, 1 model alias"``."""
    return ", ".join(f"{n} {count_label(kind, n)}" for kind, n in counts.items())


def count_label(kind: str, n: int) -> str:
    """``("transfer_results", 1)`` -> ``"transfer result"``; plural otherwise."""
    words = kind.replace("_", " ")
    if n != 1:
        return words
    if words.endswith("aliases"):
        return words[:-2]
    return words[:-1] if words.endswith("s") else words
