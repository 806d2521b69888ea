"""``zoo bench rebuild-experts``: the shipped zoo's expert weights, rebuilt on this machine."""

from __future__ import annotations

import click

from zoo.cli.common import echo_json, handle_errors, open_zoo
from zoo.cli.options import quiet_option


@click.command("rebuild-experts")
@click.option(
    "--size",
    type=click.Choice(["ci", "small", "full"]),
    default="full",
    show_default=True,
    help="The bench size whose experts to rebuild (full: the shipped zoo's 48).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the tasks and experts go (default: the bench data root, $ZOO_BENCH_ROOT).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The bench's seed.")
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Torch CPU threads; the shipped experts were trained with 1 (bit-identical needs the same).",
)
@click.option(
    "--accept-different",
    is_flag=True,
    help="Also point the registry at experts whose file differs from the stored checksum.",
)
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print every expert's check as JSON.")
@click.pass_context
@handle_errors
def rebuild_experts(
    ctx: click.Context,
    size: str,
    workdir: str | None,
    seed: int,
    threads: int,
    accept_different: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Rebuild the bench's experts here, check them, and point the registry at them.

    Renders the tasks the experts train on, trains each expert with the
    bench's seed (no embedding, no transfer), compares each file with the
    checksum in the registry and sets the source of each identical one. An
    expert whose file differs is listed with its transfer error on one task
    next to the stored one; --accept-different points the registry at it
    anyway. Finished files are kept, so a second run only checks.

    \b
    Example:
        zoo bench rebuild-experts
        zoo bench rebuild-experts --size ci --workdir zoo-ci --json
    """
    import torch

    torch.set_num_threads(threads)
    with open_zoo(ctx) as zoo:
        report = zoo.rebuild_experts(
            size=size,
            workdir=workdir,
            seed=seed,
            accept_different=accept_different,
            progress=not quiet,
            log=(lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True)),
        )
    if as_json:
        echo_json(report)
        return
    for row in report["experts"]:
        if row["status"] == "identical":
            continue
        line = f"{row['name']}: {row['status']}"
        if row["check"]:
            check = row["check"]
            line += (
                f" (transfer error on {check['task']}: {100 * check['rebuilt_error']:.1f}% rebuilt, "
                f"{100 * check['stored_error']:.1f}% stored)"
            )
        click.echo(line)
    click.echo(
        f"{report['identical']} identical, {report['different']} different, {report['unregistered']} not "
        f"registered; the registry points at {report['pointed']} of them ({report['seconds']:.0f} s)"
    )
