"""zoo: a model-zoo registry with a joint task/model embedding (Task2Vec, Model2Vec).

Importing this package is cheap: no torch, no database connection. The heavy
parts are imported by the functions that need them.
"""

from __future__ import annotations

from zoo.version import __version__

__all__ = ["__version__", "connect"]


def connect(url: str | None = None, *, create: bool = True):
    """Open the registry at ``url`` and return a :class:`zoo.api.Zoo`.

    ``url`` defaults to ``$ZOO_DATABASE_URL``, then to a SQLite file in the
    user's data directory (see :func:`registry.default_database_url`).
    """
    from zoo.api import Zoo

    return Zoo.open(url, create=create)
