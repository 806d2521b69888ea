"""``zoo demo``: the main job on the shipped zoo, offline, in under two minutes."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli.common import echo_json, handle_errors
from zoo.cli.options import quiet_option


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("zoo-demo"),
    show_default=True,
    help="Where the demo's own registry (zoo.db) and chart are written.",
)
@click.option("-k", type=int, default=5, show_default=True, help="How many experts to recommend.")
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the recommendations as JSON.")
@handle_errors
def demo(workdir: Path, k: int, quiet: bool, as_json: bool) -> None:
    """Recommend experts for a held-out task shipped with zoo, using the shipped zoo.

    Imports the shipped zoo (models, task embeddings, transfer results,
    Model2Vec run) into a fresh registry in WORKDIR (never your own
    registry, which starts as the same shipped zoo: see `zoo recommend`),
    embeds the shipped demo task's images with the bundled probe
    (one probe pass), prints the recommendation table and saves a chart to
    WORKDIR/demo.png. The demo task is one of the bench's held-out tasks:
    Model2Vec never saw it, but its measured transfer errors are in the
    shipped zoo, so the chart shows how the picks really did.

    \b
    Example:
        zoo demo
        zoo demo --workdir my-demo -k 10
    """
    from zoo.api import Zoo
    from zoo.cli.recommend import echo_recommendations

    result = Zoo.run_demo(workdir, k=k, progress=not quiet)
    setup, recs, chart, measured = result.setup, result.recommendations, result.chart, result.measured
    if as_json:
        echo_json(
            {
                "registry": setup.db_url,
                "task": setup.task_name,
                "taxonomy": setup.taxonomy,
                "recommendations": recs,
                "plot": str(chart),
            }
        )
        return
    from registry.validation import describe_counts

    counts = describe_counts({f"{kind}s": n for kind, n in setup.imported.items() if n})  # as `zoo import` says it
    click.echo(f"Registry {setup.db_url} holds the shipped zoo ({counts}).")
    click.echo(f"Task: {setup.task_name} ({setup.taxonomy or 'no taxonomy'}), images in {setup.task_dir}")
    echo_recommendations(recs)
    if measured:
        best = min(measured, key=measured.get)
        picked = ", ".join(f"{r.model}: {100 * measured[r.model]:.1f}%" for r in recs if r.model in measured)
        click.echo(
            f"Measured on this held-out task: best expert {best} ({100 * measured[best]:.1f}%); the picks: {picked}"
        )
    click.echo(f"Chart saved to {chart}")
    click.echo("Next, your own folder of images (one subfolder per class): zoo recommend --task DIR -k 3")
