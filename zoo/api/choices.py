"""The names and defaults the library accepts, for interfaces that offer them as choices.

Each is read from the module that defines it, on call, so an interface can
list them without importing numpy or torch up front.
"""

from __future__ import annotations

from typing import Any


def scorer_names() -> tuple[str, ...]:
    """The forward-pass scorers of :data:`zoo.scorers.SCORERS`."""
    from zoo.scorers import SCORERS

    return tuple(SCORERS)


def model2vec_objectives() -> tuple[str, ...]:
    """The training objectives of :data:`zoo.model2vec.OBJECTIVES`."""
    from zoo.model2vec import OBJECTIVES

    return tuple(OBJECTIVES)


def model2vec_default(name: str) -> Any:
    """The default of one :class:`zoo.model2vec.Model2VecConfig` field (what None means to ``train_model2vec``)."""
    from zoo.model2vec import Model2VecConfig

    return getattr(Model2VecConfig, name)
