"""`zoo evaluate`: the transfer error of one model on one task, or of every missing pair (--all)."""

from __future__ import annotations

import click

from zoo.cli.common import echo_json, handle_errors, open_zoo
from zoo.cli.jobs import device_option, given_on_command_line, gpus_option, ray_option, run_and_report
from zoo.cli.options import quiet_option


@click.command("evaluate")
@click.option("--model", "-m", "model", help="A registered model (name or alias).")
@click.option("--task", "-t", "task", help="A registered task whose folder holds train/<class>/ and test/<class>/.")
@click.option(
    "--all",
    "run_all",
    is_flag=True,
    help="Measure every (model, task) pair that has no result under the current protocol.",
)
@click.option("--models", "models_glob", metavar="GLOB", help="With --all: only models whose name matches.")
@click.option("--tasks", "tasks_glob", metavar="GLOB", help="With --all: only tasks whose name matches.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="With --all: only models with this tag (repeat).")
@ray_option
@gpus_option
@device_option
@click.option("--no-save", is_flag=True, help="Measure only; do not store the result.")
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the result (with --all: the run's summary) as JSON.")
@click.pass_context
@handle_errors
def evaluate(
    ctx: click.Context,
    model: str | None,
    task: str | None,
    run_all: bool,
    models_glob: str | None,
    tasks_glob: str | None,
    tags: tuple[str, ...],
    ray_address: str | None,
    gpus_per_task: float,
    device: str,
    no_save: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Measure the transfer error of MODEL on TASK and store it; --all fills the matrix.

    The protocol (linear-probe-3shot): the model's frozen pooled features,
    3 training images per class from the task's train split, an L2-regularised
    logistic regression, error on the whole test split. Works for any
    registered model whose weights are reachable (timm:, hf-hub:, file:).
    With --all, every missing pair is measured, each written in its own
    transaction: a rerun does only what is still missing. --ray runs the pairs
    on a Ray cluster (weights must be readable on every node).

    \b
    Example:
        zoo evaluate --model expert-generalist-resnet10t --task script-devanagari
        zoo evaluate -m expert-generalist-lcnet050 -t script-bengali --json
        zoo evaluate --all --models 'expert-*' --json
        zoo --db postgresql+psycopg://zoo@db/zoo evaluate --all --ray auto --gpus-per-task 1
    """
    from registry.errors import InvalidInput, arg

    if run_all:
        if model or task or no_save:
            raise InvalidInput(
                f"{arg('run_all')} measures every missing pair and stores it; "
                f"drop {arg('model', 'MODEL')}, {arg('task', 'TASK')} and {arg('no_save')}"
            )
        return _evaluate_all(ctx, models_glob, tasks_glob, tags, ray_address, gpus_per_task, device, quiet, as_json)
    if not (model and task):
        raise InvalidInput(f"pass {arg('model', 'MODEL')} and {arg('task', 'TASK')}, or {arg('run_all')}")
    if models_glob or tasks_glob or tags or given_on_command_line(ctx, "ray_address") or gpus_per_task:
        raise InvalidInput(f"the filters and Ray options go with {arg('run_all')}")
    with open_zoo(ctx) as z:
        result = z.evaluate(model, task, save=not no_save, device=device, progress=not quiet)
    if as_json:
        echo_json(result)
        return
    saved = "stored" if result["saved"] else "not stored"
    click.echo(
        f"{result['model']} on {result['task']}: error {100 * result['value']:.1f}% "
        f"({result['protocol']}, {result['train_size']} train / {result['test_size']} test images; {saved})"
    )


def _evaluate_all(
    ctx: click.Context,
    models_glob: str | None,
    tasks_glob: str | None,
    tags: tuple[str, ...],
    ray_address: str | None,
    gpus_per_task: float,
    device: str,
    quiet: bool,
    as_json: bool,
) -> None:
    """``zoo evaluate --all``: plan the missing pairs, run them, report."""
    from zoo.api.jobs import plan_evaluate, resolve_device
    from zoo.cli.models import parse_tags

    if not ray_address:
        resolve_device(device)  # CUDA asked for where there is none: one line now, not one per pair
    with open_zoo(ctx) as z:
        counts: dict[str, int] = {}
        units = plan_evaluate(z, models_glob, tasks_glob, dict(parse_tags(tags)) or None, device=device, counts=counts)
        url = z.url
    if counts["measured"] and units and not as_json:  # a rerun: say what it resumes after
        n = counts["measured"]
        kept = f"{n} pair measured before is kept" if n == 1 else f"{n} pairs measured before are kept"
        click.echo(f"evaluate: {kept}; {len(units)} left", err=True)
    run_and_report(
        units, url, what="evaluate", ray_address=ray_address, gpus_per_task=gpus_per_task, quiet=quiet, as_json=as_json
    )
