"""The browsable static report: ``zoo report --out DIR``.

:func:`write_site` writes ``index.html`` (models, tasks, figures, the latest
selection-quality report) and one page per task, from plain dataclasses; it
needs no server, no network and no database.
"""

from __future__ import annotations

from zoo.report.site import (
    Figure,
    Measurement,
    ModelRow,
    Neighbour,
    ReportContent,
    TaskPage,
    TaskRow,
    sort_results,
    task_page_name,
    write_site,
)

__all__ = [
    "Figure",
    "Measurement",
    "ModelRow",
    "Neighbour",
    "ReportContent",
    "TaskPage",
    "TaskRow",
    "sort_results",
    "task_page_name",
    "write_site",
]
