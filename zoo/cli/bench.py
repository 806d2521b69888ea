"""`zoo bench build|evaluate|report|train-probe|export-demo|rebuild-experts` (`zoo evaluate`: zoo.cli.evaluate)."""

from __future__ import annotations

import click

from zoo.api.bench import DEFAULT_SCORERS
from zoo.api.choices import scorer_names
from zoo.cli.common import echo_json, handle_errors, open_zoo
from zoo.cli.jobs import gpus_option, ray_option
from zoo.cli.options import LazyChoice, quiet_option
from zoo.cli.rebuild import rebuild_experts
from zoo.embedding import BENCH_METHODS


@click.group("bench")
def bench() -> None:
    """Build and report the bench: real task collections, experts, ground truth.

    \b
    Example:
        zoo bench build --size ci --workdir .zoo-work/ci
        zoo bench report --out-dir figures
    """


@bench.command("build")
@click.option(
    "--size",
    type=click.Choice(["ci", "small", "full"]),
    default="ci",
    show_default=True,
    help="ci: ~1 minute, tests; small: 30+ experts; full: every task (about 1 h 12 min on 2 cores).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where rendered tasks, expert weights and markers go (default: user cache dir).",
)
@click.option("--train-probe", is_flag=True, help="Train a probe on the probe pool instead of the shipped one.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every rendering and training.")
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Torch CPU threads. More than the idle cores makes training slower, not faster.",
)
@click.option(
    "--sequential",
    is_flag=True,
    help="Embed, then measure transfer (default: both at once, in two threads; for a single core).",
)
@ray_option
@gpus_option
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the build summary as JSON.")
@click.pass_context
@handle_errors
def build_cmd(
    ctx: click.Context,
    size: str,
    workdir: str | None,
    train_probe: bool,
    seed: int,
    threads: int,
    sequential: bool,
    ray_address: str | None,
    gpus_per_task: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Render tasks, embed them, train experts, measure transfer; fill the registry.

    Every stage is cached in WORKDIR: run the same command again after an
    interruption (even kill -9) and it continues where it stopped. With --ray
    the experts, embeddings and transfer stages run on Ray, stage after stage,
    one Ray task per expert, per embedding and per (expert, task) pair
    (WORKDIR must be on a filesystem every node mounts at the same path).

    \b
    Example:
        zoo --db sqlite:///bench.db bench build --size ci --workdir .zoo-work/ci
        zoo --db postgresql+psycopg://zoo@db/zoo bench build --size small --workdir /mnt/nfs/bench --ray auto
        zoo --db sqlite:///zoo-full.db bench build --size full --workdir .zoo-work/full
    """
    import torch

    torch.set_num_threads(threads)
    with open_zoo(ctx) as z:
        summary = z.bench_build(
            size,
            workdir,
            seed=seed,
            train_probe=train_probe,
            progress=not quiet,
            overlap=not sequential,
            ray_address=ray_address or None,
            gpus_per_task=gpus_per_task,
            log=(lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True)),
        )
    if as_json:
        echo_json(summary)
        return
    seconds = summary["seconds"]
    tasks = summary["tasks"]
    click.echo(
        f"bench {summary['size']} in {summary['workdir']}: {tasks['expert']} expert + "
        f"{tasks['heldout']} held-out + {tasks['probe']} probe-pool tasks, "
        f"{summary['unions']} union tasks, {summary['experts']} experts, "
        f"{summary['transfer_pairs']} transfer results; {seconds['total']:.0f} s "
        f"(render {seconds['render']:.0f}, experts {seconds['experts']:.0f}, "
        f"embed {seconds['embed']:.0f}, transfer {seconds['transfer']:.0f})"
    )


@bench.command("evaluate")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    metavar="TASK",
    help="Judge on this task (repeat); default: the held-out tasks the Model2Vec run left out.",
)
@click.option(
    "--scorer",
    "scorers",
    multiple=True,
    type=LazyChoice(scorer_names),
    help=f"Forward-pass scorers run on every expert (default: {' and '.join(DEFAULT_SCORERS)}).",
)
@click.option("--no-scorers", is_flag=True, help="Skip the forward-pass scorers (Task2Vec methods only).")
@click.option("--max-samples", type=int, default=200, show_default=True, help="Images per task the scorers see.")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where selection.json, selection.md and selection.png go.",
)
@click.option(
    "--leave-out",
    "leave_out",
    multiple=True,
    metavar="COLLECTION",
    help="Judge on a collection Model2Vec never saw (repeat; 'all': each in turn). Writes leave-out.json "
    "and leave-out.md.",
)
@click.option("--no-plots", is_flag=True, help="Skip the chart.")
@ray_option
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@handle_errors
def evaluate_cmd(
    ctx: click.Context,
    tasks: tuple[str, ...],
    scorers: tuple[str, ...],
    no_scorers: bool,
    max_samples: int,
    out_dir: str,
    leave_out: tuple[str, ...],
    no_plots: bool,
    ray_address: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Judge expert selection on held-out tasks: every method side by side.

    Chance, generic (best on average), nearest source task (d_sym), d_asym,
    Model2Vec, forward-pass scorers (LogME, LEEP, ...) and the oracle, each
    with relative error to the oracle, gap in points, top-1/top-3 hit rates,
    Kendall and weighted tau, and cost per task. With --leave-out, each named
    collection is left out of Model2Vec entirely and judged on its held-out
    tasks (plus the shrunk default ranking, the hybrid with LogME top-3/5 when
    LogME runs, and the interval's coverage), fold by fold and on average.
    With --ray, each scorer value (one model on one task) is one Ray task.

    \b
    Example:
        zoo --db sqlite:///bench.db bench evaluate --out-dir figures
        zoo bench evaluate --scorer logme --scorer nce --json
        zoo bench evaluate --leave-out all --no-scorers --out-dir figures
    """
    with open_zoo(ctx, create=False) as z:
        report = z.bench_evaluate(
            out_dir=out_dir,
            tasks=list(tasks) or None,
            scorers=() if no_scorers else (scorers or DEFAULT_SCORERS),
            max_samples=max_samples,
            plots=not no_plots,
            progress=not quiet,
            leave_out=leave_out,
            log=(lambda line: None) if quiet else (lambda line: click.echo(line, err=True)),
            ray_address=ray_address or None,
        )
    if as_json:
        echo_json(report)
        return
    click.echo(report["markdown"])
    click.echo("Written: " + ", ".join(report["files"].values()))


@bench.command("report")
@click.option(
    "--out-dir", type=click.Path(file_okay=False), default=".", show_default=True, help="Where the heatmap PNGs go."
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    type=click.Choice(BENCH_METHODS),
    help="Embedding methods to report (default: both).",
)
@click.option("--no-plots", is_flag=True, help="Skip the heatmaps.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@quiet_option
@click.pass_context
@handle_errors
def report_cmd(
    ctx: click.Context, out_dir: str, methods: tuple[str, ...], no_plots: bool, as_json: bool, quiet: bool
) -> None:
    """Taxonomy agreement, difficulty and expert-error spread of the built bench.

    \b
    Example:
        zoo --db sqlite:///bench.db bench report --out-dir figures
        zoo bench report --method montecarlo --json
    """
    with open_zoo(ctx, create=False) as z:
        result = z.bench_report(
            out_dir=out_dir, methods=methods or BENCH_METHODS, plots=not no_plots, progress=not quiet
        )
    if as_json:
        echo_json(result)
        return
    click.echo(_format_report(result))


def _num(value, fmt: str = "{:+.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _format_report(result: dict) -> str:
    lines = [
        "Taxonomy agreement (Spearman of d_sym vs tree distance; within/between-family mean d_sym)",
        f"{'method':<12} {'collection':<10} {'tasks':>5} {'spearman':>9} {'within':>7} {'between':>8} {'ratio':>6}",
    ]
    for method, rows in result["agreement"].items():
        for collection, row in rows.items():
            lines.append(
                f"{method:<12} {collection:<10} {row['tasks']:>5} {_num(row['spearman']):>9} "
                f"{_num(row['within'], '{:.3f}'):>7} {_num(row['between'], '{:.3f}'):>8} "
                f"{_num(row['ratio'], '{:.2f}'):>6}"
            )
    lines.append("")
    lines.append("Difficulty (correlation of embedding norm with best-expert error)")
    for method, row in result["difficulty"].items():
        lines.append(
            f"{method:<12} tasks {row['tasks']:>4}  spearman {_num(row['spearman'])}  pearson {_num(row['pearson'])}"
        )
    errors = result["errors"]
    if errors.get("tasks"):
        lines.append("")
        lines.append(
            f"Expert errors over {errors['tasks']} tasks: best-expert error median "
            f"{100 * errors['best_error_median']:.1f}% (p10 {100 * errors['best_error_p10']:.1f}%, "
            f"p90 {100 * errors['best_error_p90']:.1f}%), {100 * errors['share_best_in_5_50']:.0f}% "
            f"of tasks in [5%, 50%]; spread (worst - best) median {errors['spread_median_pp']:.1f} pp"
        )
    for path in result["plots"]:
        lines.append(f"wrote {path}")
    return "\n".join(lines)


@bench.command("train-probe")
@click.option(
    "--workdir", type=click.Path(file_okay=False), required=True, help="Where the probe-pool tasks are rendered."
)
@click.option("--steps", type=int, default=1200, show_default=True, help="Optimiser steps (batch 128).")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Where probe.safetensors/probe.json go (default: zoo/assets/probe, the shipped probe).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--augment",
    type=click.Choice(["shift", "strong"]),
    default="shift",
    show_default=True,
    help="shift: random 3 px shift (the bundled probe's); strong: resized crop, rotation, colour jitter, erasing.",
)
@click.option(
    "--restart", is_flag=True, help="Start at step 0, removing the checkpoint an interrupted run left in OUT."
)
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the probe record as JSON.")
@handle_errors
def train_probe_cmd(
    workdir: str, steps: int, out: str | None, seed: int, augment: str, restart: bool, quiet: bool, as_json: bool
) -> None:
    """Train the bundled probe (resnet10t, 32 px) on every probe-pool task at once.

    A checkpoint is saved to OUT/.train-probe.ckpt every 50 steps: run the
    same command again after an interruption and it resumes there.

    \b
    Example:
        zoo bench train-probe --workdir .zoo-work/full --steps 1200
    """
    import torch

    from zoo.api import Zoo

    torch.set_num_threads(min(2, torch.get_num_threads()))
    record = Zoo.bench_train_probe(
        workdir,
        steps=steps,
        out=out,
        seed=seed,
        progress=not quiet,
        augment=augment,
        restart=restart,
        log=(lambda line: None) if quiet else (lambda line: click.echo(line, err=True)),
    )
    if as_json:
        echo_json(record)
        return
    made = record["made"]
    click.echo(
        f"probe {record['arch']} trained {made['epochs']} epochs on {len(made['tasks'])} tasks: "
        f"within-task test accuracy {100 * made['test_accuracy_within_task']:.1f}%"
    )


@bench.command("export-demo")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder to write the task into.")
@click.option("--task", "task", default=None, help="A held-out task name (default: the first held-out script).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the task record as JSON.")
@handle_errors
def export_demo(out: str, task: str | None, seed: int, as_json: bool) -> None:
    """Write one small held-out task (a few hundred 32 px PNGs) for `zoo demo`.

    \b
    Example:
        zoo bench export-demo --out zoo/assets/demo
    """
    from zoo.api import Zoo

    folder, record = Zoo.bench_export_demo(out, task=task, seed=seed)
    if as_json:
        echo_json(record)
        return
    click.echo(
        f"wrote {folder} ({record['counts']['train']} train + {record['counts']['test']} test images, "
        f"{len(record['classes'])} classes)"
    )


bench.add_command(rebuild_experts)
