"""``zoo tasks``: the tasks (labelled data sets) in the registry and their embeddings."""

from __future__ import annotations

import importlib.util

import click

from zoo.cli import LazyGroup
from zoo.cli.common import echo_json, handle_errors, open_zoo
from zoo.cli.models import describe_removed, echo_table


class TasksGroup(LazyGroup):
    """The ``tasks`` group; a lazy subcommand whose module is not installed is not listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [
            name
            for name in super().list_commands(ctx)
            if name not in self.lazy_commands or _module_exists(self.lazy_commands[name])
        ]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and not _module_exists(self.lazy_commands[cmd_name]):
            return None
        return super().get_command(ctx, cmd_name)


def _module_exists(target: str) -> bool:
    try:
        return importlib.util.find_spec(target.split(":")[0]) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=TasksGroup, lazy_commands={"similar": "zoo.cli.embedding:similar"})
def tasks() -> None:
    """List, show and remove tasks (labelled data sets) and their embeddings; find similar tasks.

    \b
    Example:
        zoo tasks list
        zoo tasks show script-devanagari --json
    """


@tasks.command("list")
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching this glob.")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
@click.pass_context
@handle_errors
def list_cmd(ctx: click.Context, pattern: str | None, as_json: bool) -> None:
    """List tasks, optionally filtered by a glob on the name.

    \b
    Example:
        zoo tasks list
        zoo tasks list --filter 'script-*' --json
    """
    with open_zoo(ctx) as zoo:
        found = zoo.tasks(pattern)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo(
            f"No tasks match {pattern!r}; `zoo tasks list` shows them all."
            if pattern is not None
            else "No tasks. Register and embed one with `zoo embed-task NAME --data PATH`.",
            err=True,
        )
        return
    echo_table(
        ("NAME", "CLASSES", "SAMPLES", "TAXONOMY", "DATA"),
        [(t.name, str(t.num_classes), str(t.num_samples), t.taxonomy or "-", t.data_uri) for t in found],
    )


@tasks.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the task and its embeddings as JSON.")
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a task with every embedding of it: provenance and a summary of each vector.

    A vector of more than 8 values is summarised (length, norm, min, max and
    its first 8 values); --json prints every vector whole.

    \b
    Example:
        zoo tasks show script-devanagari
        zoo tasks show script-devanagari --json | jq '.embeddings[0].vector'
    """
    with open_zoo(ctx) as zoo:
        task = zoo.get_task(name)
        embeddings = zoo.task_embeddings(name)
    if as_json:
        echo_json({"task": task, "embeddings": embeddings})
        return
    fields = [
        ("name", task.name),
        ("data", task.data_uri),
        ("classes", task.num_classes),
        ("samples", task.num_samples),
        ("fingerprint", task.fingerprint),
        ("taxonomy", task.taxonomy or "-"),
        ("created", task.created_at.isoformat(timespec="seconds")),
        ("embeddings", len(embeddings)),
    ]
    for label, value in fields:
        click.echo(f"{label + ':':<13}{value}")
    for emb in embeddings:
        click.echo("")
        click.echo(
            f"embedding {emb.probe}/{emb.method} (id {emb.id}): {emb.vector.shape[0]} values, "
            f"{emb.sample_count} samples, seed {emb.seed}, zoo {emb.package_version}, "
            f"{emb.created_at.isoformat(timespec='seconds')}"
        )
        click.echo(f"  params: {emb.params}")
        click.echo(f"  vector: {_summarise_vector(emb.vector)}")
        if emb.prior is not None:
            click.echo(f"  prior:  {_summarise_vector(emb.prior)}")
    if any(len(v) > _SHOWN for emb in embeddings for v in (emb.vector, emb.prior) if v is not None):
        click.echo("")
        click.echo(f"(first {_SHOWN} values of each vector shown; --json prints them whole)")


#: a vector longer than this is summarised (a Task2Vec embedding has thousands of values)
_SHOWN = 8


def _summarise_vector(vector) -> str:
    """A short vector whole; a long one as its length, norm, range and first values."""
    import numpy as np

    values = np.asarray(vector, dtype=float)
    if len(values) <= _SHOWN:
        return _format_values(values)
    first = _format_values(values[:_SHOWN])[:-1] + ", ...]"
    return (
        f"{len(values)} values, norm {np.linalg.norm(values):.6g}, min {values.min():.6g}, "
        f"max {values.max():.6g}, first {first}"
    )


def _format_values(values) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


@tasks.command("remove")
@click.argument("name")
@click.option(
    "--force", is_flag=True, help="Also remove its embeddings and transfer results, and clear models' trained_on."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@click.pass_context
@handle_errors
def remove_cmd(ctx: click.Context, name: str, force: bool, as_json: bool) -> None:
    """Remove a task; one with embeddings or results, or a model's training task, needs --force.

    \b
    Example:
        zoo tasks remove script-devanagari
        zoo tasks remove script-devanagari --force
    """
    with open_zoo(ctx) as zoo:
        removed = zoo.remove_task(name, force=force)
    if as_json:
        echo_json(removed)
    else:
        cleared = removed.get("trained_on_cleared", 0)
        rows = {k: v for k, v in removed.items() if k != "trained_on_cleared"}
        click.echo(
            f"Removed task {name}{describe_removed(rows, 'tasks')}"
            + (
                f"; {cleared} model{'s no longer name' if cleared != 1 else ' no longer names'} it as trained_on"
                if cleared
                else ""
            )
        )
