"""``zoo db``: create or upgrade the registry's schema, and show where it stands."""
from __future__ import annotations

import click

from zoo.cli.common import echo_json, handle_errors


def _db_url(ctx: click.Context) -> str | None:
    return (ctx.find_root().obj or {}).get("db_url")


@click.group()
def db() -> None:
    """Create, upgrade and inspect the registry database.

    \b
    Example:
        zoo db upgrade
        zoo --db postgresql+psycopg://me@dbhost/zoo db current --json
    """


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@handle_errors
def upgrade_cmd(ctx: click.Context, as_json: bool) -> None:
    """Create the registry, or migrate it to this version's schema.

    Safe to run again: a registry already at the newest schema is left as it
    is. Existing rows are kept.

    \b
    Example:
        zoo db upgrade
        zoo --db sqlite:///team.db db upgrade --json
    """
    from zoo.api import Zoo

    result = Zoo.db_upgrade(_db_url(ctx))
    if as_json:
        echo_json(result)
    elif result["from"] == result["to"]:
        click.echo(f"{result['url']}: already at schema {result['to']}")
    else:
        click.echo(f"{result['url']}: upgraded schema {result['from'] or '(empty)'} -> {result['to']}")


@db.command("current")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@handle_errors
def current_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the registry's URL, schema revision and row counts.

    \b
    Example:
        zoo db current
        zoo db current --json
    """
    import registry
    from registry.engine import display_url, parse_url
    from zoo.cli.common import open_zoo

    url = _db_url(ctx)
    revision = registry.current_revision(url)
    head = registry.head_revision()
    result: dict[str, object] = {"url": display_url(parse_url(url)), "revision": revision,
                                 "head": head, "counts": None}
    if revision == head:
        with open_zoo(ctx, create=False) as zoo:
            result["counts"] = zoo.store.counts()
    if as_json:
        echo_json(result)
        return
    state = "up to date" if revision == head else "behind: run `zoo db upgrade`"
    click.echo(f"database: {result['url']}")
    click.echo(f"schema:   {revision or '(empty)'} (head {head}, {state})")
    if result["counts"]:
        click.echo("rows:     " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()))
