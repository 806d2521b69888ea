"""Zoo methods (see docs/ARCHITECTURE.md)."""
from __future__ import annotations


class RecommendMixin:
    store: object
