"""What the ``--all`` commands share: the Ray and device options, and running a plan with a one-line report.

``zoo evaluate --all`` and ``zoo embed-task --all`` plan the missing units
(:mod:`zoo.api.jobs`) and run them here, locally or on Ray.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from zoo.cli.common import echo_json

DEVICES = ("auto", "cpu", "cuda")


def ray_option(func: Callable) -> Callable:
    """``--ray ADDRESS`` (parameter ``ray_address``, also read from ``$ZOO_RAY_ADDRESS``)."""
    return click.option(
        "--ray",
        "ray_address",
        envvar="ZOO_RAY_ADDRESS",
        metavar="ADDRESS",
        help="Run each unit as a Ray task: auto (a running cluster), local (start one here) or "
        "HOST:PORT; default $ZOO_RAY_ADDRESS, else this process. Needs Ray: pip install -e '.[ray]' in zoo's checkout.",
    )(func)


def gpus_option(func: Callable) -> Callable:
    """``--gpus-per-task N`` (parameter ``gpus_per_task``)."""
    return click.option(
        "--gpus-per-task",
        "gpus_per_task",
        type=click.FloatRange(0),
        default=0,
        show_default=True,
        metavar="N",
        help="GPUs each Ray task asks for (fractions share a GPU).",
    )(func)


def device_option(func: Callable) -> Callable:
    """``--device auto|cpu|cuda`` (parameter ``device``)."""
    return click.option(
        "--device",
        type=click.Choice(DEVICES),
        default="auto",
        show_default=True,
        help="Where the forward passes run: auto is CUDA when there is a GPU, else the CPU.",
    )(func)


def given_on_command_line(ctx: click.Context, name: str) -> bool:
    """Whether parameter ``name`` was typed (not taken from its default or the environment)."""
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def run_and_report(
    units: Sequence[Any],
    url: str,
    *,
    what: str,
    ray_address: str | None,
    gpus_per_task: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run ``units`` (a progress bar on stderr unless ``quiet``), print the summary, exit 1 if a unit failed."""
    from zoo.api.jobs import run_units

    summary = run_units(
        units, url, ray_address=ray_address or None, gpus_per_task=gpus_per_task, progress=not quiet and bool(units)
    )
    if as_json:
        echo_json(summary)
    else:
        click.echo(
            f"{what}: {summary['units']} to do, {summary['done']} done, {summary['skipped']} already there, "
            f"{summary['failed']} failed in {summary['seconds']:.1f} s ({summary['runner']})"
        )
        for error in summary["errors"]:
            click.echo(f"failed: {error['unit']['kind']} {_unit_name(error['unit'])}: {error['error']}", err=True)
    if summary["failed"]:
        sys.exit(1)


def _unit_name(unit: dict[str, Any]) -> str:
    return f"{unit['model']} on {unit['task']}" if "model" in unit else unit["task"]
