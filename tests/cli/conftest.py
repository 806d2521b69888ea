"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shipped_template(tmp_path_factory) -> Path:
    """The shipped zoo imported once per session into a SQLite file; a test copies it before writing."""
    from registry.store import Store
    from zoo.demo import SHIPPED_ZOO

    path = tmp_path_factory.mktemp("shipped") / "zoo.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.import_jsonl(SHIPPED_ZOO)
    return path
