"""The version of the installed ``zoo`` distribution, as a leaf module.

Every layer records it (an embedding says which package made it), so it lives
here rather than in ``zoo/__init__.py``, which imports the API: a library part
that read ``zoo.__version__`` would import the layer above it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

#: what a source tree that was never installed reports (PEP 440: version 0, local label "unknown").
UNKNOWN_VERSION = "0+unknown"


def installed_version() -> str:
    """The version of the installed ``zoo`` distribution, or :data:`UNKNOWN_VERSION` when it is not installed."""
    try:
        return version("zoo")
    except PackageNotFoundError:
        return UNKNOWN_VERSION


__version__ = installed_version()
