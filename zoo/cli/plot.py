"""``zoo plot distances``, ``zoo plot map`` and ``zoo report``: figures and the HTML report."""

from __future__ import annotations

import click

from zoo.cli.common import echo_json, handle_errors, open_zoo
from zoo.cli.options import quiet_option
from zoo.embedding import METHODS

_FIGURE_HELP = "Output file; the suffix picks the format: .png (default), .svg or .pdf."


@click.group()
def plot() -> None:
    """Draw figures of the zoo: the task distance heatmap and the task map.

    \b
    Example:
        zoo plot distances --out distances.png
        zoo plot map --query script-devanagari --out map.svg
    """


@plot.command("distances")
@click.option(
    "--tasks",
    "tasks_glob",
    metavar="GLOB",
    default=None,
    help="Only tasks whose name matches this shell pattern (e.g. 'emoji-*').",
)
@click.option("--out", default="distances.png", show_default=True, type=click.Path(dir_okay=False), help=_FIGURE_HELP)
@click.option(
    "--probe",
    default=None,
    metavar="NAME",
    help="Probe whose embeddings to use (default: the probe/method pair with the most tasks).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="Embedding method (default: the probe/method pair with the most tasks).",
)
@click.option(
    "--order",
    type=click.Choice(["cluster", "given"]),
    default="cluster",
    show_default=True,
    help="Within each taxonomy group: hierarchical clustering, or task-name order.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
@handle_errors
def distances(
    ctx: click.Context,
    tasks_glob: str | None,
    out: str,
    probe: str | None,
    method: str | None,
    order: str,
    as_json: bool,
) -> None:
    """Heatmap of the symmetric Task2Vec distance d_sym between embedded tasks.

    Tasks are grouped by taxonomy (first two components) when they have one,
    and ordered by hierarchical clustering within each group.

    \b
    Example:
        zoo plot distances --out distances.png
        zoo plot distances --tasks 'emoji-*' --out emoji.svg --json
    """
    with open_zoo(ctx, create=False) as zoo:
        path = zoo.plot_distances(tasks_glob, out, probe=probe, method=method, order=order)
    _report_written(as_json, {"figure": str(path)})


@plot.command("map")
@click.option("--out", default="map.png", show_default=True, type=click.Path(dir_okay=False), help=_FIGURE_HELP)
@click.option("--query", default=None, metavar="NAME", help="A registered, embedded task to highlight.")
@click.option(
    "--probe",
    default=None,
    metavar="NAME",
    help="Probe whose embeddings to use (default: the probe/method pair with the most tasks).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="Embedding method (default: the probe/method pair with the most tasks).",
)
@click.option(
    "--layout",
    type=click.Choice(["tsne", "mds"]),
    default="tsne",
    show_default=True,
    help="t-SNE on d_sym, or classical MDS (keeps large distances, blurs small ones).",
)
@click.option("--no-models", is_flag=True, help="Leave out the expert models.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the t-SNE layout.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
@handle_errors
def map_cmd(
    ctx: click.Context,
    out: str,
    query: str | None,
    probe: str | None,
    method: str | None,
    layout: str,
    no_models: bool,
    seed: int,
    as_json: bool,
) -> None:
    """2-D map of the tasks (t-SNE on d_sym), coloured by taxonomy.

    Expert models are placed with the tasks from their latest Model2Vec
    embeddings (same probe and method) when `zoo train-model2vec` has run.

    \b
    Example:
        zoo plot map --out map.png
        zoo plot map --query script-devanagari --out map.svg --json
    """
    with open_zoo(ctx, create=False) as zoo:
        path = zoo.plot_map(out, query, probe=probe, method=method, models=not no_models, layout=layout, seed=seed)
    _report_written(as_json, {"figure": str(path)})


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write the site to (created if missing; files in it are replaced).",
)
@click.option(
    "--selection",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Selection-quality report to include: the selection.json that `zoo bench evaluate --out-dir DIR` "
    "writes into DIR.",
)
@click.option("--probe", default=None, metavar="NAME", help="Probe for distances and figures (default: most used).")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="Embedding method for distances and figures (default: the most used).",
)
@click.option(
    "--neighbours",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Nearest tasks listed on each task's page.",
)
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
@click.pass_context
@handle_errors
def report(
    ctx: click.Context,
    out_dir: str,
    selection: str | None,
    probe: str | None,
    method: str | None,
    neighbours: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Write a static HTML report of the zoo; open DIR/index.html in a browser.

    It lists the models (tags, aliases, trained-on task) and tasks (taxonomy,
    embedding norm), shows the task map and distance heatmap, the selection
    report when given, and one page per task with its nearest tasks and its
    measured transfer results. No server or network needed.

    \b
    Example:
        zoo report --out site
        zoo report --out site --selection figures/selection.json --json
        xdg-open site/index.html
    """
    with open_zoo(ctx, create=False) as zoo:
        files = zoo.report(
            out_dir, selection=selection, probe=probe, method=method, neighbours=neighbours, progress=not quiet
        )
    _report_written(
        as_json,
        {
            "index": str(files.index),
            "task_pages": [str(p) for p in files.task_pages],
            "figures": [str(p) for p in files.figures],
        },
        text=f"wrote {files.index} ({len(files.task_pages)} task pages, {len(files.figures)} figures)",
    )


def _report_written(as_json: bool, data: dict, *, text: str | None = None) -> None:
    if as_json:
        echo_json(data)
    else:
        click.echo(text or f"wrote {data['figure']}")
