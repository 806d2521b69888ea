"""``zoo export`` and ``zoo import``: the whole registry as JSON Lines."""

from __future__ import annotations

import click

from zoo.cli.common import echo_json, handle_errors, open_zoo


def _summary(counts: dict[str, int]) -> str:
    from registry.validation import describe_counts

    return describe_counts({f"{kind}s": n for kind, n in counts.items()})


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--json", "as_json", is_flag=True, help="Print the row counts as JSON.")
@click.option("--force", is_flag=True, help="Overwrite FILE even if it is not a previous export.")
@click.pass_context
@handle_errors
def export_cmd(ctx: click.Context, file: str, as_json: bool, force: bool) -> None:
    """Write the whole registry to FILE as JSON Lines (a backup you can diff).

    Never over the registry's own database file; over an existing file that
    is not a previous export only with --force. The header records the row
    counts and a checksum, which `zoo import` verifies.

    \b
    Example:
        zoo export backup.jsonl
        zoo --db postgresql+psycopg://me@dbhost/zoo import backup.jsonl
    """
    with open_zoo(ctx, create=False) as zoo:
        counts = zoo.export(file, force=force)
    if as_json:
        echo_json({"file": file, "counts": counts})
    else:
        click.echo(f"Exported {_summary(counts)} to {file}")


@click.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--shipped",
    is_flag=True,
    help="Import the zoo shipped with this package (experts, tasks, results, Model2Vec run) instead of FILE.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the row counts as JSON.")
@click.pass_context
@handle_errors
def import_cmd(ctx: click.Context, file: str | None, shipped: bool, as_json: bool) -> None:
    """Add everything in FILE (made by `zoo export`) to the registry.

    All or nothing: a name that already exists, a vector of the wrong length,
    or a file cut short or changed since export refuses the whole file.
    With --shipped, the file is the zoo shipped with zoo (the one the default
    registry starts as): how a new --db registry gets it.

    \b
    Example:
        zoo --db sqlite:///new.db import backup.jsonl
        zoo --db sqlite:///new.db import --shipped
    """
    from registry.errors import InvalidInput, arg

    if shipped == (file is not None):
        raise InvalidInput(f"give FILE or {arg('shipped')}, not {'both' if shipped else 'neither'}")
    if shipped:
        from zoo.api.seed import shipped_zoo

        file = str(shipped_zoo())
    with open_zoo(ctx) as zoo:
        counts = zoo.import_(file)
    if as_json:
        echo_json({"file": file, "counts": counts})
    else:
        click.echo(f"Imported {_summary(counts)} from {file}")
