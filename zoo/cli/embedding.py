"""``zoo embed-task``, ``zoo distance`` and ``zoo tasks similar``: Task2Vec from the command line."""

from __future__ import annotations

import click

from zoo.cli.common import echo_json, handle_errors, open_zoo
from zoo.cli.jobs import given_on_command_line, gpus_option, ray_option, run_and_report
from zoo.cli.options import quiet_option
from zoo.embedding import DEFAULT_METHOD, METHODS

_METHODS = click.Choice(METHODS)


def _probe_option(func):
    return click.option(
        "--probe",
        default=None,
        metavar="SPEC",
        help="Probe: a registered probe name, bundled, timm:NAME or file:PATH (default: the task's only probe).",
    )(func)


@click.command("embed-task")
@click.argument("name", required=False)
@click.option(
    "--all", "run_all", is_flag=True, help="Embed every registered task lacking an embedding for this probe and method."
)
@click.option("--tasks", "tasks_glob", metavar="GLOB", help="With --all: only tasks whose name matches.")
@ray_option
@gpus_option
@click.option(
    "--data",
    "data",
    metavar="PATH",
    help="Image folder (one subfolder per class), bench task folder, or CSV/JSONL manifest "
    "(path,label). Needed when NAME is not registered yet.",
)
@click.option(
    "--probe",
    default="bundled",
    show_default=True,
    metavar="SPEC",
    help="Probe network: bundled, timm:NAME (e.g. timm:resnet34.a1_in1k) or file:PATH.",
)
@click.option("--arch", metavar="ARCH", help="timm architecture of a file:PATH probe (e.g. resnet18).")
@click.option(
    "--method",
    type=_METHODS,
    default=DEFAULT_METHOD,
    show_default=True,
    help="Fisher estimator: exact per-example Monte Carlo, exact expectation over classes, "
    "or the robust (variational) Fisher.",
)
@click.option("--max-samples", type=int, metavar="N", help="Class-balanced subsample of at most N images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the subsample and sampled labels.")
@click.option(
    "--taxonomy",
    metavar="GROUP/...",
    help="Taxonomy of a new task: its groups, broadest first, joined by '/' (a label, not a file), "
    "e.g. scripts/Brahmic/Devanagari (default: the data folder's task.json, if any).",
)
@click.option(
    "--allow-random-probe", "allow_random", is_flag=True, help="Accept a probe with untrained weights (tests only)."
)
@quiet_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the stored embedding's summary (with --all: the run's summary) as JSON.",
)
@click.pass_context
@handle_errors
def embed_task(
    ctx: click.Context,
    name: str | None,
    run_all: bool,
    tasks_glob: str | None,
    ray_address: str | None,
    gpus_per_task: float,
    data: str | None,
    probe: str,
    arch: str | None,
    method: str,
    max_samples: int | None,
    seed: int,
    taxonomy: str | None,
    allow_random: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Compute and store the Task2Vec embedding of task NAME.

    With --data, a new NAME is registered first (data path, classes, samples,
    content fingerprint, taxonomy). Without --data, NAME must be registered and
    its recorded data folder is used. Prints length, norm and time. With
    --all (no NAME), every registered task without an embedding for the probe
    and method is embedded, each stored in its own transaction: a rerun does
    only what is still missing; --ray runs them on a Ray cluster.

    \b
    Example:
        zoo embed-task birds --data ./birds --max-samples 2000
        zoo embed-task birds --method variational --json
        zoo embed-task digits --data digits.csv --probe file:probe.safetensors --arch resnet18
        zoo embed-task --all --tasks 'script-*' --ray auto --json
    """
    from registry.errors import InvalidInput, arg

    if run_all:
        if name or data or taxonomy or arch or allow_random:
            raise InvalidInput(
                f"{arg('run_all')} embeds the registered tasks; drop NAME, {arg('data', 'PATH')}, "
                f"{arg('taxonomy')}, {arg('arch', 'ARCH')} and {arg('allow_random')}"
            )
        return _embed_all(ctx, tasks_glob, probe, method, max_samples, seed, ray_address, gpus_per_task, quiet, as_json)
    if not name:
        raise InvalidInput(f"pass a task NAME, or {arg('run_all')}")
    if tasks_glob or given_on_command_line(ctx, "ray_address") or gpus_per_task:
        raise InvalidInput(f"{arg('tasks_glob', 'GLOB')} and the Ray options go with {arg('run_all')}")
    _embed_one(ctx, name, data, probe, arch, method, max_samples, seed, taxonomy, allow_random, quiet, as_json)


def _embed_all(
    ctx: click.Context,
    tasks_glob: str | None,
    probe: str,
    method: str,
    max_samples: int | None,
    seed: int,
    ray_address: str | None,
    gpus_per_task: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """``zoo embed-task --all``: plan the missing embeddings, run them, report."""
    from zoo.api.jobs import plan_embed

    with open_zoo(ctx) as zoo:
        units = plan_embed(zoo, tasks_glob, probe, method, max_samples=max_samples, seed=seed)
        url = zoo.url
    run_and_report(
        units,
        url,
        what="embed-task",
        ray_address=ray_address,
        gpus_per_task=gpus_per_task,
        quiet=quiet,
        as_json=as_json,
    )


def _embed_one(
    ctx: click.Context,
    name: str,
    data: str | None,
    probe: str,
    arch: str | None,
    method: str,
    max_samples: int | None,
    seed: int,
    taxonomy: str | None,
    allow_random: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """``zoo embed-task NAME``: one task, in this process."""
    import time

    started = time.perf_counter()
    with open_zoo(ctx) as zoo:
        record = zoo.embed_task(
            data,
            name,
            probe=probe,
            method=method,
            max_samples=max_samples,
            seed=seed,
            taxonomy=taxonomy,
            progress=not quiet,
            arch=arch,
            allow_random=allow_random,
        )
    import numpy as np

    summary = {
        "task": record.task,
        "probe": record.probe,
        "method": record.method,
        "length": int(record.vector.shape[0]),
        "norm": float(np.linalg.norm(record.vector)),
        "sample_count": record.sample_count,
        "seed": record.seed,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"embedded {summary['task']} with {summary['probe']}/{summary['method']}: "
        f"{summary['length']} values, norm {summary['norm']:.4g}, {summary['sample_count']} images, "
        f"{summary['seconds']} s"
    )


@click.command("distance")
@click.argument("a")
@click.argument("b")
@_probe_option
@click.option("--method", type=_METHODS, default=DEFAULT_METHOD, show_default=True, help="Embedding method.")
@click.option("--json", "as_json", is_flag=True, help="Print the distances as JSON.")
@click.pass_context
@handle_errors
def distance(ctx: click.Context, a: str, b: str, probe: str | None, method: str, as_json: bool) -> None:
    """Task2Vec distances between stored tasks A and B: d_sym and d_asym(A -> B).

    \b
    Example:
        zoo distance script-devanagari script-bengali
        zoo distance script-devanagari script-bengali --method variational --json
    """
    with open_zoo(ctx) as zoo:
        result = zoo.distance(a, b, probe=probe, method=method)
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"d_sym({a}, {b}) = {result['d_sym']:.4f}   "
        f"d_asym({a} -> {b}) = {result['d_asym']:.4f}  (alpha {result['alpha']}, {result['probe']}/{method})"
    )


@click.command("similar")
@click.argument("name")
@click.option("-k", "k", type=int, default=5, show_default=True, help="How many tasks.")
@click.option("--asymmetric", is_flag=True, help="Rank by d_asym(source -> NAME): which tasks transfer best to NAME.")
@_probe_option
@click.option("--method", type=_METHODS, default=DEFAULT_METHOD, show_default=True, help="Embedding method.")
@click.option("--json", "as_json", is_flag=True, help="Print the neighbours as JSON.")
@click.pass_context
@handle_errors
def similar(
    ctx: click.Context, name: str, k: int, asymmetric: bool, probe: str | None, method: str, as_json: bool
) -> None:
    """The K stored tasks nearest to task NAME (exact scan, same probe and method).

    \b
    Example:
        zoo tasks similar script-devanagari -k 3
        zoo tasks similar script-devanagari --asymmetric --json
    """
    with open_zoo(ctx) as zoo:
        found = zoo.similar_tasks(name, k, asymmetric=asymmetric, probe=probe, method=method)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo(f"No other task has a {method} embedding with this probe.", err=True)
        return
    kind = "d_asym" if asymmetric else "d_sym"
    width = max(len(row["task"]) for row in found)
    click.echo(f"{'TASK'.ljust(width)}  {kind.upper()}")
    for row in found:
        click.echo(f"{row['task'].ljust(width)}  {row['distance']:.4f}")
