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

    Exits 1 when this zoo cannot use the database as it is: its schema is
    behind (run `zoo db upgrade`) or ahead (upgrade zoo), or it holds tables
    but no zoo schema version (another application's database).

    \b
    Example:
        zoo db current
        zoo db current --json
    """
    import registry
    from registry.engine import display_url, parse_url
    from registry.schema import database_state
    from zoo.cli.common import open_zoo

    url = _db_url(ctx)
    revision, state = database_state(url)
    head = registry.head_revision()
    result: dict[str, object] = {
        "url": display_url(parse_url(url)),
        "revision": revision,
        "head": head,
        "state": state,
        "counts": None,
    }
    if state == "current":
        with open_zoo(ctx, create=False) as zoo:  # also checks that every table is there
            result["counts"] = zoo.store.counts()
    if as_json:
        echo_json(result)
    else:
        words = {
            "current": "up to date",
            "empty": "empty: run `zoo db upgrade`",
            "behind": "behind: run `zoo db upgrade`",
            "ahead": "ahead of this zoo, which cannot use it: upgrade zoo in its checkout "
            "(git pull && pip install -e .)",
            "foreign": "the database has tables but no zoo schema version: point --db at a zoo registry "
            "or an empty database",
        }
        shown = revision or ("(none)" if state == "foreign" else "(empty)")
        click.echo(f"database: {result['url']}")
        click.echo(f"schema:   {shown} (head {head}, {words[state]})")
        if result["counts"]:
            click.echo("rows:     " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()))
    if state in ("behind", "ahead", "foreign"):  # a schema this zoo cannot use, as every other command refuses it
        ctx.exit(1)
