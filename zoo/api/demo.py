"""The demo as one call: the shipped zoo in a registry of its own, one recommendation, one chart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo.api.recommend import Recommendation
from zoo.demo import DemoSetup


@dataclass(frozen=True)
class DemoRun:
    """What ``zoo demo`` shows: the demo registry, the picks, the chart, and the measured errors on the task."""

    setup: DemoSetup
    recommendations: list[Recommendation]
    chart: Path
    measured: dict[str, float]


def run_demo(workdir: str | Path = "zoo-demo", *, k: int = 5, progress: bool = True) -> DemoRun:
    """Recommend ``k`` experts for the shipped held-out task with the shipped zoo (see :mod:`zoo.demo`).

    The registry lives in ``workdir/zoo.db`` (never the user's); the chart is ``workdir/demo.png``.
    """
    from zoo.api import Zoo
    from zoo.demo import prepare

    folder = Path(workdir)
    setup = prepare(folder)
    with Zoo.open(setup.db_url) as zoo:
        recs = zoo.recommend(str(setup.task_dir), k=k, progress=progress)
        chart = zoo.plot_recommendations(recs, folder / "demo.png", task=setup.task_name)
        measured = zoo.measured_errors(setup.task_name)
    return DemoRun(setup, recs, chart, measured)
