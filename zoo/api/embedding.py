"""Zoo methods (see docs/ARCHITECTURE.md)."""
from __future__ import annotations


class EmbeddingMixin:
    store: object
