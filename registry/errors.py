"""Errors a user can cause, each with a message that says what to do next.

Every layer raises these (or subclasses); each interface words them. A message
names the parameter to change with :func:`arg`, never a command-line flag:

    raise InvalidInput(f"several probes have data; pass {arg('probe', 'NAME')}")

``str(err)`` words it for a Python caller ("pass probe=NAME"); the CLI's
``handle_errors`` words the same error for the command line ("pass --probe
NAME"), from the options of the command that failed.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

# {arg:NAME} or {arg:NAME=VALUE}: a parameter of the call that failed
_ARG = re.compile(r"\{arg:([A-Za-z_][A-Za-z0-9_]*)(?:=([^{}]*))?\}")

Speller = Callable[[str, "str | None"], str]


def arg(name: str, value: str | None = None) -> str:
    """A reference to the parameter ``name`` (with a placeholder ``value``) inside an error message."""
    return "{arg:" + name + (f"={value}" if value else "") + "}"


def python_spelling(name: str, value: str | None) -> str:
    """How a Python caller passes a parameter: ``probe=NAME``, or ``force=True`` for a switch."""
    return f"{name}={value if value else 'True'}"


class ZooError(Exception):
    """Base of every error the user can act on. ``str(err)`` is one line.

    ``param`` is the parameter at fault: given, or the first one the message
    names with :func:`arg` (None when the error is about no parameter).
    """

    exit_code = 1

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        found = _ARG.search(message)
        self.param = param if param is not None else (found.group(1) if found else None)

    def render(self, spell: Speller = python_spelling) -> str:
        """The message with every parameter reference spelled by ``spell(name, value)``."""
        return _ARG.sub(lambda m: spell(m.group(1), m.group(2)), self.message)

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self):  # keeps ``param`` across pickling (worker processes)
        return (_rebuild, (type(self), self.message, self.param))


def _rebuild(cls: type, message: str, param: str | None) -> ZooError:
    return cls(message, param=param)


class NotFound(ZooError):
    """A named model, task, probe, embedding or run does not exist."""


class AlreadyExists(ZooError):
    """A unique name is taken."""


class InvalidInput(ZooError):
    """Malformed user input (a tag, a URL, a data folder, a probe spec...)."""

    exit_code = 2


class SchemaMismatch(ZooError):
    """The database schema is behind (or ahead of) this version of the code."""


class DependentRows(ZooError):
    """A delete would remove rows that other rows depend on; needs ``force``."""


class DatabaseUnavailable(ZooError):
    """The database cannot be reached or opened."""


class ProbeMismatch(ZooError):
    """Embeddings or model embeddings from different probes/methods were mixed."""


# ---------------------------------------------------------------- files the user names as output


def cannot_write(path: str | Path, err: OSError) -> InvalidInput:
    """The one error for an output path that cannot be written (an export, a figure, a report, a workdir)."""
    return InvalidInput(f"cannot write {path}: {err.strerror}; choose a writable path")


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def check_writable(path: str | Path, *, folder: bool = False) -> None:
    """:func:`cannot_write` unless ``path`` (a file, or a folder when ``folder``) can be written; creates nothing.

    Checked before expensive work, so a bad path fails at once: the nearest
    existing folder on the way to ``path`` must be a directory this process may
    write in, and a file's path must not be a directory.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise cannot_write(path, _os_error(errno.EISDIR))
    start = path if folder else path.parent
    base = next((p for p in (start, *start.parents) if p.exists()), Path("."))
    if not base.is_dir():
        raise cannot_write(path, _os_error(errno.ENOTDIR))
    if not os.access(base, os.W_OK | os.X_OK):
        raise cannot_write(path, _os_error(errno.EACCES))


def make_dirs(folder: str | Path) -> Path:
    """``folder`` and its parents created as needed (``mkdir -p``), or :func:`cannot_write`."""
    folder = Path(folder)
    check_writable(folder, folder=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(folder, err) from None
    return folder


def publish(tmp: str | Path, path: str | Path) -> None:
    """Rename the finished temporary file ``tmp`` onto ``path``, first given the permissions a file made by
    ``open()`` would have (0666 less the process umask). Files made by ``tempfile.mkstemp`` or by safetensors'
    ``save_file`` are private to their owner (0600), so weights, indexes and records written that way were
    unreadable to a teammate or a Ray worker running as another user on a shared bench folder."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status), else the usual 0o022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
