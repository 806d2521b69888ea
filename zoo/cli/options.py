"""Option types whose values come from the library, read only when a command is run or its help shown.

``zoo --help`` lists every command without importing numpy or torch; the
choices and defaults below live in the library (see :mod:`zoo.api.choices`),
so the CLI never repeats them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click


class LazyChoice(click.Choice):
    """A :class:`click.Choice` whose choices ``names()`` returns, asked on first use."""

    def __init__(self, names: Callable[[], Sequence[str]], case_sensitive: bool = True) -> None:
        self._names = names
        super().__init__((), case_sensitive=case_sensitive)

    @property
    def choices(self) -> Sequence[str]:  # type: ignore[override]
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:  # click.Choice.__init__ assigns; ``names`` decides
        pass


class LibraryDefault(click.Option):
    """An option whose value defaults to None ("the library's default"); its help shows ``default_of(name)``."""

    def __init__(self, *args: Any, default_of: Callable[[str], Any], **kwargs: Any) -> None:
        kwargs.setdefault("default", None)
        super().__init__(*args, **kwargs)
        self._default_of = default_of

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        extra["default"] = str(self._default_of(self.name))
        return extra


def quiet_option(func: Callable) -> Callable:
    """``-q, --quiet`` (parameter ``quiet``): every command that shows progress bars hides them with it."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress bars or progress messages on stderr.")(func)
