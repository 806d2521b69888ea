"""What every command shares: opening the registry, errors, JSON output."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from registry.errors import InvalidInput, ZooError

#: the exit code of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it)
INTERRUPTED = 130


def handle_errors(func: Callable) -> Callable:
    """Turn a :class:`ZooError` into one line on stderr and its exit code; Ctrl-C into one line and 130 (the
    shell's code for an interrupt), not click's "Aborted!" and 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ZooError as err:
            click.echo(f"Error: {cli_message(err)}", err=True)
            sys.exit(err.exit_code)
        except OSError as err:
            if err.errno != errno.ENAMETOOLONG:
                raise
            click.echo(
                f"Error: a name is too long for a file path ({err.strerror}): check the folder or task given", err=True
            )
            sys.exit(InvalidInput.exit_code)
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted: the registry keeps only what was committed before; run the command again "
                "(long jobs resume from what they saved)",
                err=True,
            )
            sys.exit(INTERRUPTED)

    return wrapper


#: zoo's own packages: a warning raised from code under these prints as one line
_OWN_CODE = (Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2] / "registry")


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """While a command runs, a Python warning from zoo's own code prints as one line on stderr, ``Warning: ...``.

    Python would add the file, the line number and the source line; a warning
    from elsewhere (a library's) prints as Python prints it. The library itself
    warns as before (``warnings.warn``), so Python callers can filter or catch it.
    """
    import warnings

    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if _is_own_code(filename):
            click.echo(f"Warning: {message}", err=True)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        if warnings.showwarning is show:
            warnings.showwarning = previous


def _is_own_code(filename: str) -> bool:
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return False
    return any(path.is_relative_to(root) for root in _OWN_CODE)


def cli_message(err: ZooError, ctx: click.Context | None = None) -> str:
    """``err`` worded for the command line: each parameter it names becomes the option that sets it."""
    ctx = ctx or click.get_current_context(silent=True)
    params: dict[str, click.Parameter] = {}
    while ctx is not None:  # the command's own options first, then its groups' (``--db`` is the root's)
        for p in ctx.command.params:
            params.setdefault(p.name, p)
        ctx = ctx.parent

    def spell(name: str, value: str | None) -> str:
        param = params.get(name)
        if isinstance(param, click.Argument):
            return value or name.upper()
        flag = param.opts[0] if param is not None else "--" + name.replace("_", "-")
        is_switch = param is not None and getattr(param, "is_flag", False)
        return flag if is_switch or not value else f"{flag} {value}"

    return err.render(spell)


def open_zoo(ctx: click.Context, *, create: bool = True):
    """The :class:`zoo.api.Zoo` for the ``--db`` given to ``zoo``."""
    from zoo.api import Zoo

    root = ctx.find_root()
    url = (root.obj or {}).get("db_url")
    return Zoo.open(url, create=create)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dataclasses, numpy scalars and arrays allowed)."""
    click.echo(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(obj: Any) -> Any:
    import dataclasses
    import datetime

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} as JSON")
