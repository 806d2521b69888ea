"""Errors a user can cause, each with a message that says what to do next.

Every layer raises these (or subclasses); the CLI turns them into one line on
stderr and a non-zero exit.
"""
from __future__ import annotations


class ZooError(Exception):
    """Base of every error the user can act on. ``str(err)`` is one line."""

    exit_code = 1


class NotFound(ZooError):
    """A named model, task, probe, embedding or run does not exist."""


class AlreadyExists(ZooError):
    """A unique name is taken."""


class InvalidInput(ZooError):
    """Malformed user input (a tag, a URL, a data folder, a probe spec...)."""

    exit_code = 2


class SchemaMismatch(ZooError):
    """The database schema is behind (or ahead of) this version of the code."""


class DependentRows(ZooError):
    """A delete would remove rows that other rows depend on; needs ``force``."""


class DatabaseUnavailable(ZooError):
    """The database cannot be reached or opened."""


class ProbeMismatch(ZooError):
    """Embeddings or model embeddings from different probes/methods were mixed."""
