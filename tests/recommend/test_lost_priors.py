"""A run whose experts' priors are gone (a schema downgrade below 0003 drops every model embedding's params)
is refused in one line, instead of silently ranking models nobody measured first."""

from __future__ import annotations

import sqlite3

import pytest

from registry.errors import NotFound
from zoo.api import Zoo
from zoo.demo import SHIPPED_ZOO


def test_a_run_that_lost_its_experts_priors_asks_to_retrain(tmp_path):
    path = tmp_path / "zoo.db"
    with Zoo.open(f"sqlite:///{path}") as z:
        z.import_(SHIPPED_ZOO)
        before = z.recommend("script-avestan", k=1, progress=False)[0].model
    assert before.startswith("expert-")  # intact, the shipped run ranks
    with sqlite3.connect(path) as db:
        db.execute("UPDATE model_embeddings SET params = '{}'")
    with Zoo.open(f"sqlite:///{path}") as z, pytest.raises(NotFound, match="lost its experts' priors") as err:
        z.recommend("script-avestan", k=1, progress=False)
    assert "zoo train-model2vec" in str(err.value) and len(str(err.value).splitlines()) == 1
