"""``zoo demo``: the main job on the shipped zoo, offline, in under two minutes."""
from __future__ import annotations

from pathlib import Path

import click

from zoo.cli.common import handle_errors


@click.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("zoo-demo"),
              show_default=True, help="Where the demo's own registry (zoo.db) and chart are written.")
@click.option("-k", type=int, default=5, show_default=True, help="How many experts to recommend.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the recommendations as JSON.")
@click.pass_context
@handle_errors
def demo(ctx: click.Context, workdir: Path, k: int, quiet: bool, as_json: bool) -> None:
    """Recommend experts for a held-out task shipped with zoo, using the shipped zoo.

    Imports the shipped zoo (models, task embeddings, transfer results,
    Model2Vec run) into a fresh registry in WORKDIR (never your own
    registry), embeds the shipped demo task's images with the bundled probe,
    prints the recommendation table and saves a chart to WORKDIR/demo.png.

    \b
    Example:
        zoo demo
        zoo demo --workdir /tmp/zoo-demo -k 10
    """
    from zoo.cli.recommend import recommend
    from zoo.demo import prepare

    setup = prepare(workdir)
    if not as_json:
        counts = ", ".join(f"{v} {k_}" for k_, v in setup.imported.items() if v)
        click.echo(f"Registry {setup.db_url} holds the shipped zoo ({counts}).")
        click.echo(f"Task: {setup.task_name} ({setup.taxonomy or 'no taxonomy'}), images in {setup.task_dir}")
    ctx.find_root().obj["db_url"] = setup.db_url
    ctx.invoke(recommend, target=str(setup.task_dir), k=k, probe=None, method="montecarlo", save=None, verify=0,
               plot_path=str(workdir / "demo.png"), quiet=quiet, as_json=as_json)
