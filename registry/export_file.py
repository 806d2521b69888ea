"""The export file: its header, and the checks on reading one before anything is imported.

A file is a header line (``{"kind": "zoo-registry", "format": 2, "counts":
{...}, "sha256": ...}``) followed by one JSON object per line. Reading refuses,
with one line naming the file (and the line), anything that is not such a
file: a directory or special file, binary data, a damaged gzip stream, a line
that is not a JSON object, an unknown format or kind, and, once every row is
read, rows that disagree with the header's ``counts`` or ``sha256``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

from registry.errors import InvalidInput

FORMAT = 2
#: formats this code reads: 1 wrote vectors as lists of numbers
READABLE_FORMATS = (1, 2)
HEADER_KIND = "zoo-registry"
KINDS = ("probe", "task", "model", "task_embedding", "transfer_result", "model2vec_run")


def is_export(path: Path) -> bool:
    """Whether ``path`` starts with a zoo export header (plain or gzipped)."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else path.open("rb") as handle:
            first = handle.readline(1 << 16)
        return json.loads(first.decode("utf-8")).get("kind") == HEADER_KIND
    except (OSError, EOFError, zlib.error, ValueError, AttributeError):
        return False


def check_whole(path: Path, header: dict[str, Any], counts: dict[str, int], digest: str) -> None:
    """The rows read agree with the header's ``counts`` and ``sha256`` (when it has them)."""
    declared = header.get("counts")
    if declared is not None:
        if not isinstance(declared, dict) or any(k not in KINDS for k in declared):
            raise InvalidInput(f"{path}: the header's counts are damaged; make the file again with `zoo export`")
        wrong = [k for k in KINDS if declared.get(k, 0) != counts[k]]
        if wrong:
            kind = wrong[0]
            raise InvalidInput(
                f"{path} holds {counts[kind]} {kind} rows but its header says {declared.get(kind, 0)}: "
                "the file was cut short or changed; nothing was imported"
            )
    expected = header.get("sha256")
    if expected is not None and header.get("format") == FORMAT and expected != digest:
        raise InvalidInput(
            f"{path} does not match the checksum in its header: it was cut short or changed "
            "after export; nothing was imported (export it again)"
        )


def read_lines(path: Path) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]], str]:
    """The header, the numbered rows after it, and the sha256 of every byte after the header line."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give the path of a `zoo export` file")
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise InvalidInput(f"{path} is not a regular file; give the path of a `zoo export` file")
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else path.open("rb") as handle:
            data = handle.read()
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise InvalidInput(f"{path} is a damaged or truncated gzip file; export it again") from None
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err.strerror}; give the path of a `zoo export` file") from None
    header: dict[str, Any] | None = None
    lines: list[tuple[int, dict[str, Any]]] = []
    digest = hashlib.sha256()
    for lineno, raw_line in enumerate(data.splitlines(keepends=True), start=1):
        if header is not None:
            digest.update(raw_line)
        if not raw_line.strip():
            continue
        line = _parse_line(path, lineno, raw_line)
        if header is None:
            header = _check_header(path, line)
            continue
        if line["kind"] not in KINDS:
            raise InvalidInput(f"{path}:{lineno}: unknown kind {line['kind']!r}")
        lines.append((lineno, line))
    if header is None:
        raise InvalidInput(f"{path} is empty; make the file with `zoo export`")
    return header, lines, digest.hexdigest()


def _parse_line(path: Path, lineno: int, raw_line: bytes) -> dict[str, Any]:
    try:
        line = json.loads(raw_line.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}:{lineno}: not UTF-8 text; is this file a `zoo export`?") from None
    except ValueError as err:
        raise InvalidInput(
            f"{path}:{lineno}: not JSON ({getattr(err, 'msg', err)}); is this file a `zoo export`?"
        ) from None
    if not isinstance(line, dict) or "kind" not in line:
        raise InvalidInput(f"{path}:{lineno}: expected an object with a 'kind'")
    return line


def _check_header(path: Path, line: dict[str, Any]) -> dict[str, Any]:
    if line.get("kind") != HEADER_KIND:
        raise InvalidInput(f"{path} does not start with a zoo export header; make the file with `zoo export`")
    if line.get("format") not in READABLE_FORMATS:
        raise InvalidInput(
            f"{path} has export format {line.get('format')!r}; this zoo "
            f"reads formats {', '.join(map(str, READABLE_FORMATS))}: upgrade zoo"
        )
    return line


__all__ = ["FORMAT", "HEADER_KIND", "KINDS", "READABLE_FORMATS", "check_whole", "is_export", "read_lines"]
