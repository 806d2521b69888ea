"""The Python API: one :class:`Zoo` object over a registry.

    import zoo
    z = zoo.connect()                 # $ZOO_DATABASE_URL or the default SQLite file
    z.register_model("resnet34.a1_in1k", "timm:resnet34.a1_in1k")
    picks = z.recommend("path/to/images", k=5)

The class is assembled from one mixin per concern; each mixin passes data
between the library modules and the registry store (``self.store``).
"""
from __future__ import annotations

from zoo.api.bench import BenchMixin
from zoo.api.catalog import CatalogMixin
from zoo.api.embedding import EmbeddingMixin
from zoo.api.recommend import RecommendMixin
from zoo.api.visual import VisualMixin


class Zoo(CatalogMixin, EmbeddingMixin, BenchMixin, RecommendMixin, VisualMixin):
    """A connection to a zoo registry. Use :func:`zoo.connect` to make one."""

    def __init__(self, store) -> None:
        self.store = store

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> "Zoo":
        from registry.store import Store

        return cls(Store.open(url, create=create))

    @property
    def url(self) -> str:
        return self.store.url

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Zoo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Zoo"]
