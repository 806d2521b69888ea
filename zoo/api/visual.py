"""Zoo methods (see docs/ARCHITECTURE.md)."""
from __future__ import annotations


class VisualMixin:
    store: object
