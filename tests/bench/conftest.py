"""One ``ci`` bench build per test session, shared by the bench tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ci_bench(tmp_path_factory) -> dict:
    """A built ci bench: {"url", "workdir", "summary"}."""
    import torch

    from zoo.api import Zoo

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ci-bench")
    url = f"sqlite:///{root / 'bench.db'}"
    with Zoo.open(url) as z:
        summary = z.bench_build("ci", root / "work", progress=False, log=lambda msg: None)
    return {"url": url, "workdir": Path(root / "work"), "summary": summary}
