"""The static report site: ``index.html`` plus one page per task.

:func:`write_site` takes plain frozen dataclasses (filled by :mod:`zoo.api.visual`
from the registry) and writes HTML only; figures are made beforehand and given
as paths relative to the site folder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import cannot_write, make_dirs
from zoo.report.html import Link, escape, fixed, json_section, number, page, percent, table


@dataclass(frozen=True)
class ModelRow:
    """A model as listed in the report."""

    name: str
    source: str
    arch: str | None
    trained_on: str | None
    num_params: int | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class TaskRow:
    """A task as listed in the report; ``embedding_norm`` under the report's probe/method."""

    name: str
    taxonomy: str | None
    num_classes: int
    num_samples: int
    data_uri: str
    embedding_norm: float | None


@dataclass(frozen=True)
class Neighbour:
    """A nearby task and its d_sym distance."""

    task: str
    distance: float


@dataclass(frozen=True)
class Measurement:
    """One measured transfer result of a model on the page's task."""

    model: str
    metric: str
    value: float
    protocol: str
    train_size: int
    test_size: int


@dataclass(frozen=True)
class TaskPage:
    """What a task's own page shows."""

    task: TaskRow
    nearest: tuple[Neighbour, ...] = ()
    results: tuple[Measurement, ...] = ()
    recommended: tuple[dict[str, Any], ...] = ()  # model, expected_error, distance


@dataclass(frozen=True)
class Figure:
    """A figure file (relative to the site folder) with its caption."""

    path: str
    caption: str


@dataclass(frozen=True)
class ReportContent:
    """Everything the site shows."""

    title: str
    database: str
    probe: str | None
    method: str | None
    generated_at: str
    models: tuple[ModelRow, ...]
    tasks: tuple[TaskRow, ...]
    pages: tuple[TaskPage, ...] = ()
    figures: tuple[Figure, ...] = ()
    selection: Any = None
    selection_source: str | None = None
    notes: tuple[str, ...] = ()


_PAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]*-[0-9a-f]{8}\.html$")


def task_page_name(task: str) -> str:
    """A file name for a task's page, safe on every file system and unique per name."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", task).strip("._")[:60] or "task"
    return f"{slug}-{hashlib.sha1(task.encode('utf-8')).hexdigest()[:8]}.html"


def write_site(out_dir: str | Path, content: ReportContent) -> list[Path]:
    """Write ``index.html`` and ``tasks/*.html`` under ``out_dir``; returns the files written."""
    root = Path(out_dir)
    make_dirs(root / "tasks")
    paged = {p.task.name for p in content.pages}
    keep = {task_page_name(name) for name in paged}
    written = [root / "index.html"]
    try:
        for stale in (root / "tasks").glob("*.html"):  # pages of tasks removed since the last report
            if _PAGE_NAME.match(stale.name) and stale.name not in keep:
                stale.unlink()
        written[0].write_text(_index(content, paged), encoding="utf-8")
        for task_page in content.pages:
            path = root / "tasks" / task_page_name(task_page.task.name)
            path.write_text(_task_page(content, task_page, paged), encoding="utf-8")
            written.append(path)
    except OSError as err:
        raise cannot_write(err.filename or root, err) from None
    return written


def _subtitle(content: ReportContent) -> str:
    embedded = f"probe {content.probe}, method {content.method}" if content.probe else "no task embeddings yet"
    return f"{content.database} · {embedded} · generated {content.generated_at}"


def _task_link(name: str | None, paged: set[str], prefix: str) -> Any:
    if name is None:
        return None
    return Link(name, prefix + task_page_name(name)) if name in paged else name


def _index(content: ReportContent, paged: set[str]) -> str:
    sections = []
    if content.notes:
        sections.append("".join(f'<p class="note">{escape(n)}</p>' for n in content.notes))
    sections.append(f'<h2 id="models">Models ({len(content.models)})</h2>')
    sections.append(_models_table(content, paged))
    sections.append(f'<h2 id="tasks">Tasks ({len(content.tasks)})</h2>')
    sections.append(_tasks_table(content, paged))
    sections.append('<h2 id="figures">Figures</h2>')
    if content.figures:
        sections.extend(
            f'<figure><a href="{escape(f.path)}"><img src="{escape(f.path)}" alt="{escape(f.caption)}"></a>'
            f"<figcaption>{escape(f.caption)}</figcaption></figure>"
            for f in content.figures
        )
    else:
        sections.append('<p class="empty">No figures: they need at least two embedded tasks.</p>')
    sections.append('<h2 id="selection">Selection quality</h2>')
    if content.selection is None:
        sections.append(
            '<p class="empty">No selection-quality report given: run `zoo bench evaluate` and '
            "pass its JSON with `zoo report --selection FILE`.</p>"
        )
    else:
        source = f'<p class="note">From {escape(content.selection_source)}</p>' if content.selection_source else ""
        sections.append(source + json_section(content.selection, table_prefix="selection"))
    nav = [
        Link("Models", "#models"),
        Link("Tasks", "#tasks"),
        Link("Figures", "#figures"),
        Link("Selection", "#selection"),
    ]
    return page(content.title, "\n".join(sections), subtitle=_subtitle(content), nav=nav)


def _models_table(content: ReportContent, paged: set[str]) -> str:
    """The models table of the index page; a model trained on a paged task links to it."""
    return table(
        "models-table",
        ["model", "aliases", "tags", "trained on", "architecture", "parameters", "source"],
        [
            [
                m.name,
                ", ".join(m.aliases),
                _tags(m.tags),
                _task_link(m.trained_on, paged, "tasks/"),
                m.arch or "",
                number(m.num_params),
                m.source,
            ]
            for m in content.models
        ],
        empty="No models registered: add one with `zoo register-model`.",
    )


def _tasks_table(content: ReportContent, paged: set[str]) -> str:
    """The tasks table of the index page; a paged task links to its page."""
    return table(
        "tasks-table",
        ["task", "taxonomy", "classes", "samples", "embedding norm"],
        [
            [
                _task_link(t.name, paged, "tasks/"),
                t.taxonomy or "",
                number(t.num_classes),
                number(t.num_samples),
                number(t.embedding_norm, 4),
            ]
            for t in content.tasks
        ],
        empty="No tasks registered: add one with `zoo embed-task NAME --data DIR`.",
    )


def _tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _task_page(content: ReportContent, task_page: TaskPage, paged: set[str]) -> str:
    task = task_page.task
    facts = [
        ("taxonomy", task.taxonomy or "–"),
        ("classes", f"{task.num_classes:,}"),
        ("samples", f"{task.num_samples:,}"),
        ("data", task.data_uri),
        ("embedding norm", "–" if task.embedding_norm is None else f"{task.embedding_norm:.4g}"),
    ]
    body = ['<dl class="facts">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts) + "</dl>"]
    body.append("<h2>Nearest tasks (d_sym)</h2>")
    body.append(
        table(
            "nearest-table",
            ["rank", "task", "d_sym", "taxonomy"],
            [
                [i + 1, _task_link(n.task, paged, ""), fixed(n.distance), _taxonomy_of(content, n.task)]
                for i, n in enumerate(task_page.nearest)
            ],
            empty="No other embedded tasks to compare with.",
        )
    )
    if task_page.recommended:
        measured = {m.model: m.value for m in task_page.results if "error" in m.metric}
        body.append("<h2>Recommended models (latest Model2Vec run)</h2>")
        body.append(
            table(
                "recommended-table",
                ["rank", "model", "expected error", "measured error", "distance"],
                [
                    [
                        i + 1,
                        r.get("model"),
                        percent(r.get("expected_error")),
                        percent(measured.get(r.get("model"))),
                        fixed(r.get("distance")),
                    ]
                    for i, r in enumerate(task_page.recommended)
                ],
            )
        )
    body.append("<h2>Measured transfer results (best first)</h2>")
    body.append(
        table(
            "results-table",
            ["rank", "model", "metric", "value", "protocol", "train", "test"],
            [
                [i + 1, m.model, m.metric, _metric_value(m), m.protocol, number(m.train_size), number(m.test_size)]
                for i, m in enumerate(task_page.results)
            ],
            empty="No transfer results for this task: measure one with `zoo evaluate`.",
        )
    )
    nav = [Link("← all models and tasks", "../index.html")]
    return page(f"Task {task.name}", "\n".join(body), subtitle=_subtitle(content), nav=nav)


def _metric_value(measurement: Measurement) -> Any:
    return percent(measurement.value) if "error" in measurement.metric else number(measurement.value, 4)


def _taxonomy_of(content: ReportContent, name: str) -> str:
    for task in content.tasks:
        if task.name == name:
            return task.taxonomy or ""
    return ""


def sort_results(results: Sequence[Measurement]) -> tuple[Measurement, ...]:
    """Best first: lowest value for error-like metrics, highest otherwise."""
    return tuple(sorted(results, key=lambda m: m.value if "error" in m.metric or "loss" in m.metric else -m.value))
