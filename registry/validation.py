"""Checks on what callers hand the store, each failing with a one-line InvalidInput."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from registry import records as rec
from registry.errors import InvalidInput, ProbeMismatch, arg

_NAME = re.compile(r"^[^\s\x00-\x1f]{1,255}$")
SOURCE_SCHEMES = ("timm:", "hf-hub:", "file:", "bench:")  # bench: see registry.locations
#: the largest whole number a registry column holds (a signed 64-bit integer)
MAX_COUNT = 2**63 - 1
#: the largest value of a 32-bit integer column (sample counts, sizes, seeds)
MAX_INT32 = 2**31 - 1
# Unicode categories refused in names: controls, format characters (bidi overrides such as
# U+202E, zero-width characters), line and paragraph separators.
_REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def normalise_name(name: str) -> str:
    """``name`` in Unicode NFC, so two spellings of "café" are one name (lookups use it too)."""
    return unicodedata.normalize("NFC", name) if isinstance(name, str) else name


def check_name(kind: str, name: Any) -> str:
    """A name in NFC: 1-255 characters, no whitespace, control, format or bidi-override characters."""
    if not isinstance(name, str):
        raise InvalidInput(f"bad {kind} name {name!r}: use 1-255 characters without spaces")
    name = refuse_invisible(f"{kind} name", normalise_name(name))
    if not _NAME.match(name):
        raise InvalidInput(f"bad {kind} name {name!r}: use 1-255 characters without spaces")
    return name


_SHA256 = re.compile(r"(?:sha256:)?[0-9a-fA-F]{64}")


def check_checksum(checksum: Any) -> str | None:
    """A model's ``checksum`` as given: None, or a sha256 in 64 hex digits (case and a ``sha256:`` prefix as
    :func:`check_source_checksum` reads them); anything else is InvalidInput, since it could never match a file."""
    if checksum is None:
        return None
    if not isinstance(checksum, str) or not _SHA256.fullmatch(checksum):
        raise InvalidInput(
            f"checksum {checksum!r:.80} is not a sha256: give {arg('checksum', 'SHA256')} as the 64 hex digits "
            "`sha256sum FILE` prints, or leave it out"
        )
    return checksum


def refuse_invisible(label: str, text: str) -> str:
    """``text`` unchanged, unless it holds a control, format (bidi override) or separator character."""
    bad = next((c for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise InvalidInput(
            f"bad {label} {text!r}: it holds the invisible character U+{ord(bad):04X}; use visible characters only"
        )
    return text


def check_count(label: str, value: Any, *, limit: int = MAX_COUNT, minimum: int = 0) -> int:
    """A whole number in ``minimum..limit`` (a database integer column), as a Python int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidInput(f"{label} must be a whole number, got {value!r}")
    if not minimum <= int(value) <= limit:
        raise InvalidInput(f"{label} must be between {minimum} and {limit}, got {value}")
    return int(value)


def check_finite(label: str, value: Any) -> float:
    """A finite number (NaN and infinities are refused)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(number) or isinstance(value, bool):
        raise InvalidInput(f"{label} must be a finite number, got {value!r}")
    return number


def check_source(source: Any) -> str:
    """A model source URI: ``timm:NAME``, ``hf-hub:REPO``, ``file:PATH`` or ``bench:REL``, as given."""
    if not isinstance(source, str):
        raise InvalidInput(
            f"source must be a string such as timm:NAME, hf-hub:REPO or file:PATH, got {type(source).__name__}"
        )
    if not any(source.startswith(s) and len(source) > len(s) for s in SOURCE_SCHEMES):
        raise InvalidInput(f"bad source {source!r}: use timm:NAME, hf-hub:REPO or file:PATH")
    return source


def absolute_source(source: str) -> str:
    """``source`` as the registry stores a new one: a ``file:`` path made absolute against the working folder.

    ``~`` is expanded and no symlink is resolved (as :func:`registry.model_writes.plan_relocation` does), so
    the source names the same file whichever folder a later command runs in, and for every user of a shared
    registry. Other sources are unchanged: ``bench:REL`` is relative to the bench data root by design
    (:mod:`registry.locations`), ``timm:`` and ``hf-hub:`` are names. Import keeps what the file says.
    """
    path = source_path(source) if source.startswith("file:") else None
    return source if path is None else f"file:{os.path.abspath(path)}"


def timm_arch(source: str) -> str | None:
    """The architecture a ``timm:NAME`` source names: NAME before its first '.'; None for other sources."""
    if not source.startswith("timm:"):
        return None
    return source[len("timm:") :].split(".")[0] or None


def source_arch(source: str) -> str | None:
    """The architecture ``source`` determines: a timm name's (:func:`timm_arch`), or the ``arch`` of the sidecar
    beside a local ``file:``/``bench:`` weights file (:func:`read_sidecar`); None when it determines none."""
    arch = timm_arch(source)
    path = source_path(source) if arch is None else None
    if path is not None:
        found = read_sidecar(path).get("arch")
        arch = found if isinstance(found, str) and found.strip() else None
    return arch


def read_sidecar(path: Path) -> dict[str, Any]:
    """The JSON object beside a weights file (``PATH.json``, else ``<stem>.json``), or {} when there is none.

    The files :func:`zoo.checkpoints.read_sidecar` reads (the registry cannot import zoo); an unreadable
    one is InvalidInput.
    """
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file():
            try:
                found = json.loads(candidate.read_text())
            except (OSError, ValueError) as err:
                raise InvalidInput(f"cannot read {candidate}: {err}; fix or remove the file") from None
            return found if isinstance(found, dict) else {}
    return {}


def check_text(label: str, value: Any, limit: int | None = 255) -> str | None:
    """None, or a string of at most ``limit`` characters (an ``arch``, a ``description``)."""
    if value is not None and (not isinstance(value, str) or (limit is not None and len(value) > limit)):
        bound = "" if limit is None else f" of at most {limit} characters"
        raise InvalidInput(f"{label} must be a string{bound} or None, got {value!r:.60}")
    return value


def check_pattern(pattern: Any) -> str | None:
    """None, or a name glob as a string (``expert-*``)."""
    if pattern is not None and not isinstance(pattern, str):
        raise InvalidInput(f"pattern must be a glob string such as 'expert-*', got {type(pattern).__name__}")
    return pattern


def check_switch(label: str, value: Any) -> bool:
    """``True`` or ``False`` (numpy's too); a string such as ``"no"`` is refused rather than read as true."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInput(f"{label} must be True or False, got {value!r:.60}")
    return bool(value)


def check_whole(label: str, value: Any) -> int:
    """A whole number (an int; numpy's too, not a bool or a string) as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidInput(f"{label} must be a whole number (an int), got {value!r:.60}")
    return int(value)


def check_tags(tags: Mapping[str, Any] | Iterable[tuple[str, Any] | str] | str) -> dict[str, str]:
    """Tags as a ``{key: value}`` dict of strings with non-empty keys.

    ``tags`` is a mapping, one ``"KEY=VALUE"`` string, or an iterable of
    ``(key, value)`` pairs (what the command line's ``--tag`` parser makes) and
    ``"KEY=VALUE"`` strings; a key given twice is refused (never last-wins).
    Keys are NFC-normalised; a string's key is stripped of spaces, as ``--tag`` does.
    """
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (Mapping, Iterable)) or isinstance(tags, (bytes, bytearray)):
        raise InvalidInput(
            f"tags must be a mapping, a 'KEY=VALUE' string or a list of them or of (key, value) pairs, "
            f"got {type(tags).__name__}"
        )
    pairs = tags.items() if isinstance(tags, Mapping) else tags
    clean: dict[str, str] = {}
    for pair in pairs:
        try:
            key, value = _tag_pair(pair)
        except (TypeError, ValueError):
            raise InvalidInput(f"bad tag {pair!r}: give KEY=VALUE strings or (key, value) pairs") from None
        if not isinstance(key, str) or not key.strip() or "=" in key:
            raise InvalidInput(f"bad tag key {key!r}: use a non-empty KEY without '='")
        key = refuse_invisible("tag key", normalise_name(key))
        if key in clean:
            raise InvalidInput(
                f"tag {key!r} is given twice ({clean[key]!r} and {value!r}); give each key once in {arg('tags')}"
            )
        clean[key] = str(value)
    return clean


def _tag_pair(pair: Any) -> tuple[Any, Any]:
    """``"KEY=VALUE"`` -> ``("KEY", "VALUE")`` (key stripped); a pair as it is; ValueError otherwise."""
    if isinstance(pair, str):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(pair)
        return key.strip(), value
    key, value = pair
    return key, value


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


def check_lengths(what: str, probe: str, probe_length: int | None, **lengths: int | None) -> int:
    """One length shared by every named vector (vector, prior, bias...) and by the probe.

    ``lengths`` maps a vector's label to its number of values (None: absent).
    Raises :class:`ProbeMismatch` naming the first vector that disagrees.
    """
    given = {label: n for label, n in lengths.items() if n is not None}
    first_label, first = next(iter(given.items()))
    for label, n in given.items():
        if n != first:
            raise InvalidInput(
                f"{what}: {label} has {n} values but {first_label} has {first}; give vectors of one length"
            )
    if probe_length is not None and first != probe_length:
        raise ProbeMismatch(f"{what}: probe {probe!r} embeds to {probe_length} values, the {first_label} has {first}")
    return first


def stored_length(label: str, data: bytes | None) -> int | None:
    """How many float32 values the stored bytes ``data`` hold (None when absent)."""
    if data is None:
        return None
    if len(data) % 4:
        raise InvalidInput(f"{label} has {len(data)} bytes, not a whole number of float32 values")
    return len(data) // 4


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


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOLS = {bytes([0x80, n]) for n in range(2, 6)}
#: a safetensors header larger than this is refused unread
MAX_SAFETENSORS_HEADER = 100 * 2**20


def check_source_file(source: str) -> None:
    """A ``file:PATH`` source names a regular weights file with a loadable header.

    ``.safetensors``: an 8-byte little-endian header length, then that many
    bytes of JSON. Any other suffix (``.pt``, ``.pth``, ``.bin``): a zip
    container (``torch.save``) or a pickle (protocol 2-5). Reads a few bytes;
    needs no torch. Other sources are not checked.
    """
    path = source_path(source)
    if path is None:
        return
    if path.is_dir():
        raise InvalidInput(f"source {source!r} is a directory; give the weights file inside it")
    if not path.exists():
        raise InvalidInput(f"source {source!r} does not exist; check the path after file:")
    if not path.is_file():
        raise InvalidInput(f"source {source!r} is not a regular file; give a weights file")
    try:
        with path.open("rb") as handle:
            if path.suffix == ".safetensors":
                _check_safetensors_header(source, handle)
            else:
                head = handle.read(4)
                if head != _ZIP_MAGIC and head[:2] not in _PICKLE_PROTOCOLS:
                    raise InvalidInput(
                        f"source {source!r} is neither a safetensors file nor a PyTorch "
                        "checkpoint (zip or pickle); check the file"
                    )
    except OSError as err:
        raise InvalidInput(f"cannot read source {source!r}: {err.strerror}; check the file") from None


def source_path(source: str) -> Path | None:
    """The local path of a ``file:PATH`` (or ``file://PATH``) or ``bench:REL`` source, ``~`` expanded; None
    for other sources."""
    if source.startswith("bench:"):
        from registry.locations import resolve_bench_uri

        return resolve_bench_uri(source)
    if not source.startswith("file:"):
        return None
    text = source[len("file:") :]
    return Path(text[2:] if text.startswith("//") else text).expanduser()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, as 64 lowercase hex digits (read in 1 MiB blocks, no torch).

    The same digest :func:`zoo.networks.file_checksum` records as a model's ``checksum``.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_source_checksum(model: str, source: str, checksum: str | None) -> None:
    """A ``file:`` source that exists holds the weights ``model`` was registered with.

    ``checksum`` is the model's stored sha256 (hex; a ``sha256:`` prefix and
    case are ignored); None, a source that is not ``file:``, or a path that is
    not a regular file are not checked.
    """
    path = source_path(source)
    if checksum is None or path is None or not path.is_file():
        return
    try:
        actual = file_sha256(path)
    except OSError as err:
        raise InvalidInput(f"cannot read source {source!r}: {err.strerror}; check the file") from None
    expected = checksum.strip().lower().removeprefix("sha256:")
    if actual != expected:
        raise InvalidInput(
            f"{path} has sha256 {actual[:12]}..., but model {model!r} was registered with "
            f"{expected[:12]}...: the file is not the registered weights; give the right file"
        )


def _check_safetensors_header(source: str, handle: Any) -> None:
    head = handle.read(8)
    size = int.from_bytes(head, "little") if len(head) == 8 else -1
    if not 0 < size <= MAX_SAFETENSORS_HEADER:
        raise InvalidInput(f"source {source!r} has no safetensors header; check the file")
    try:
        header = json.loads(handle.read(size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        raise InvalidInput(f"source {source!r} has a damaged safetensors header; check the file")


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
