"""``zoo register-model`` and ``zoo models``: the expert models in the registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from registry.errors import InvalidInput, arg
from zoo.cli.common import echo_json, handle_errors, open_zoo

if TYPE_CHECKING:
    from registry.records import Model


def parse_tags(values: Iterable[str]) -> list[tuple[str, str]]:
    """``("k=v", ...)`` -> ``[("k", "v"), ...]`` in order (the store refuses a key given twice);
    a value without ``=`` or key is InvalidInput."""
    tags: list[tuple[str, str]] = []
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"malformed tag {value!r}: use {arg('tags', 'KEY=VALUE')}")
        tags.append((key.strip(), tag_value))
    return tags


@click.command("register-model")
@click.argument("name")
@click.option(
    "--source",
    required=True,
    metavar="URI",
    help="Where the weights come from: timm:NAME, hf-hub:REPO or file:PATH (a relative PATH is stored absolute).",
)
@click.option(
    "--arch", metavar="A", help="timm architecture (default: from a timm: source, or a file: source's sidecar)."
)
@click.option(
    "--trained-on",
    metavar="TASK",
    help="The registered task the model was trained on (its own task, whose result Model2Vec leaves out); "
    "register it first.",
)
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="A tag; repeat for more.")
@click.option("--description", metavar="TEXT", help="Free text.")
@click.option("--num-params", type=click.IntRange(min=1), metavar="N", help="Parameter count, when known.")
@click.option("--checksum", metavar="SHA256", help="Checksum of the weights, when known.")
@click.option(
    "--check/--no-check",
    "check",
    default=True,
    show_default=True,
    help="Check a file: source now (exists, regular file, readable weights header).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the registered model as JSON.")
@click.pass_context
@handle_errors
def register_model(
    ctx: click.Context,
    name: str,
    source: str,
    arch: str | None,
    trained_on: str | None,
    tags: tuple[str, ...],
    description: str | None,
    num_params: int | None,
    checksum: str | None,
    check: bool,
    as_json: bool,
) -> None:
    """Add an expert model NAME to the registry.

    A relative file: path is stored made absolute against the current folder
    (~ expanded), so it names the same file from any folder; bench:, timm: and
    hf-hub: sources are stored as given.

    \b
    Example:
        zoo register-model resnet34.a1_in1k --source timm:resnet34.a1_in1k \\
            --tag family=resnet --tag size=small
        zoo register-model my-expert --source file:my-expert.safetensors --arch resnet10t \\
            --trained-on script-devanagari
    """
    parsed = parse_tags(tags)
    with open_zoo(ctx) as zoo:
        model = zoo.register_model(
            name,
            source,
            arch=arch,
            trained_on=trained_on,
            tags=parsed,
            description=description,
            num_params=num_params,
            checksum=checksum,
            check=check,
        )
    if as_json:
        echo_json(model)
    elif model.source != source:
        click.echo(f"Registered model {model.name} ({model.source}, made absolute from {source})")
    else:
        click.echo(f"Registered model {model.name} ({model.source})")


@click.group()
def models() -> None:
    """List, show, alias, re-point (set-source) and remove the expert models.

    \b
    Example:
        zoo models list --filter 'expert-script-*' --tag arch=resnet10t
        zoo models show expert-generalist-resnet10t --json
    """


@models.command("list")
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching this glob.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Only models with this tag.")
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@click.pass_context
@handle_errors
def list_cmd(ctx: click.Context, pattern: str | None, tags: tuple[str, ...], as_json: bool) -> None:
    """List models, optionally filtered by name and tags.

    \b
    Example:
        zoo models list
        zoo models list --filter 'expert-emoji-*' --tag init=scratch --json
    """
    parsed = parse_tags(tags)
    with open_zoo(ctx) as zoo:
        found = zoo.models(pattern, tags=parsed)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo(_no_models(pattern, tags), err=True)
        return
    rows = [
        (m.name, m.source, m.arch or "-", m.trained_on or "-", ",".join(f"{k}={v}" for k, v in m.tags.items()) or "-")
        for m in found
    ]
    echo_table(("NAME", "SOURCE", "ARCH", "TRAINED_ON", "TAGS"), rows)


def _no_models(pattern: str | None, tags: tuple[str, ...]) -> str:
    """What an empty ``zoo models list`` says: nothing matched the filters given, or nothing is registered."""
    if pattern is None and not tags:
        return "No models. Add one with `zoo register-model NAME --source URI`."
    what = " and ".join([*([repr(pattern)] if pattern is not None else []), *(f"tag {tag}" for tag in tags)])
    return f"No models match {what}; `zoo models list` shows them all."


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show one model (by name or alias).

    \b
    Example:
        zoo models show expert-generalist-resnet10t
        zoo models show expert-script-yi-lcnet050 --json
    """
    with open_zoo(ctx) as zoo:
        model = zoo.get_model(name)
    if as_json:
        echo_json(model)
        return
    fields = [
        ("name", model.name),
        ("source", model.source),
        ("arch", model.arch),
        ("params", model.num_params),
        ("checksum", model.checksum),
        ("trained on", model.trained_on),
        ("description", model.description),
        ("created", model.created_at.isoformat(timespec="seconds")),
        ("tags", ", ".join(f"{k}={v}" for k, v in model.tags.items())),
        ("aliases", ", ".join(model.aliases)),
    ]
    for label, value in fields:
        click.echo(f"{label + ':':<13}{'-' if value in (None, '') else value}")


@models.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also remove its transfer results and model embeddings.")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@click.pass_context
@handle_errors
def remove_cmd(ctx: click.Context, name: str, force: bool, as_json: bool) -> None:
    """Remove a model; one with results needs --force and says what goes with it.

    \b
    Example:
        zoo models remove expert-script-yi-lcnet050
        zoo models remove expert-script-yi-lcnet050 --force
    """
    with open_zoo(ctx) as zoo:
        removed = zoo.remove_model(name, force=force)
    if as_json:
        echo_json(removed)
    else:
        click.echo(f"Removed model {name}{describe_removed(removed, 'models')}")


@models.command("alias")
@click.argument("alias")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
@click.pass_context
@handle_errors
def alias_cmd(ctx: click.Context, alias: str, name: str, as_json: bool) -> None:
    """Point ALIAS at model NAME (an existing alias moves).

    \b
    Example:
        zoo models alias production expert-generalist-resnet10t
        zoo models show production
    """
    with open_zoo(ctx) as zoo:
        model = zoo.alias(alias, name)
    if as_json:
        echo_json(model)
    else:
        click.echo(f"{alias} -> {model.name}")


@models.command("set-source")
@click.argument("name", required=False)
@click.argument("uri", required=False)
@click.option("--from-dir", "old_folder", metavar="OLD", help="Move every file: source under OLD ...")
@click.option("--to-dir", "new_folder", metavar="NEW", help="... to the same relative path under NEW.")
@click.option(
    "--check/--no-check",
    "check",
    default=True,
    show_default=True,
    help="Check each new file now (exists, readable weights header).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the changed models as JSON.")
@click.pass_context
@handle_errors
def set_source_cmd(
    ctx: click.Context,
    name: str | None,
    uri: str | None,
    old_folder: str | None,
    new_folder: str | None,
    check: bool,
    as_json: bool,
) -> None:
    """Point model NAME at its weights URI, or move a folder of weights (--from-dir/--to-dir).

    The new file must exist with a readable header (unless --no-check); when
    it exists and the model has a stored checksum, the file's sha256 must
    match it. A relative file: path is stored absolute. When the new source
    names an architecture (a timm name, a file's sidecar), it becomes the
    model's arch (a parameter count of another arch becomes unknown). The
    bulk form changes all the models or none.

    \b
    Example:
        zoo models set-source expert-generalist-resnet10t file:weights/expert-generalist-resnet10t.safetensors
        zoo models set-source --from-dir /old/experts --to-dir /data/experts
    """
    bulk = old_folder is not None or new_folder is not None
    if bulk and (name or uri or old_folder is None or new_folder is None):
        raise InvalidInput(f"give either NAME URI, or {arg('old_folder', 'OLD')} with {arg('new_folder', 'NEW')}")
    if not bulk and not (name and uri):
        raise InvalidInput(
            "give NAME and URI (e.g. file:PATH), or move a folder with "
            f"{arg('old_folder', 'OLD')} {arg('new_folder', 'NEW')}"
        )
    with open_zoo(ctx) as zoo:
        before = None if bulk else zoo.get_model(name)  # to say what re-pointing one model changed
        changed = (
            zoo.relocate_sources(old_folder, new_folder, check=check)
            if bulk
            else [zoo.set_model_source(name, uri, check=check)]
        )
    if as_json:
        echo_json(changed)
        return
    for model in changed:
        click.echo(f"{model.name} -> {model.source}{_arch_change(before, model)}")


def _arch_change(before: Model | None, after: Model) -> str:
    """`` (arch resnet18 -> resnet34, params 11689512 -> unknown)`` when re-pointing changed them, else ``""``."""
    if before is None or before.arch == after.arch:
        return ""
    params = f", params {before.num_params} -> unknown" if before.num_params != after.num_params else ""
    return f" (arch {before.arch or '-'} -> {after.arch}{params})"


def describe_removed(removed: dict[str, int], main_kind: str) -> str:
    """`` with 2 transfer results, 1 model tag`` for the non-zero dependents."""
    from registry.validation import describe_counts

    parts = {kind: n for kind, n in removed.items() if kind != main_kind and n}
    return f" with {describe_counts(parts)}" if parts else ""


def echo_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print rows as left-aligned columns under a header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
