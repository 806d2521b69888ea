"""registry: the SQL store of zoo's models, tasks, embeddings and results.

Importing this package is cheap (no SQLAlchemy until a function is called),
so ``zoo --help`` stays fast. The store itself is :class:`registry.store.Store`.

    from registry.store import Store
    store = Store.open("sqlite:///zoo.db")
    store.add_model("resnet18.a1_in1k", "timm:resnet18.a1_in1k")
"""

from __future__ import annotations

__all__ = ["current_revision", "default_database_url", "head_revision", "upgrade"]


def default_database_url() -> str:
    """``$ZOO_DATABASE_URL``, else a SQLite file ``zoo.db`` in ``user_data_dir("zoo")``."""
    from registry.engine import default_database_url as default

    return default()


def upgrade(url: str | None = None) -> str | None:
    """Migrate the database at ``url`` (default URL when None) to the newest schema."""
    from registry.engine import default_sqlite_path, parse_url, sqlite_path

    if url is None:
        path = sqlite_path(parse_url(None))
        if path is not None and path == default_sqlite_path():
            path.parent.mkdir(parents=True, exist_ok=True)
    from registry.schema import upgrade as run_upgrade

    return run_upgrade(url)


def current_revision(url: str | None = None) -> str | None:
    """The schema revision of the database at ``url`` (None for an empty database)."""
    from registry.schema import current_revision as current

    return current(url)


def head_revision() -> str:
    """The newest schema revision this code knows."""
    from registry.schema import head_revision as head

    return head()
