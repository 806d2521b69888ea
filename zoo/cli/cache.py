"""``zoo cache``: what zoo keeps in the user cache directory, and clearing it."""

from __future__ import annotations

import sys

import click

from zoo.api.caches import KINDS
from zoo.cli.common import echo_json, handle_errors

_KINDS = tuple(KINDS)


def _rows(usages) -> list[str]:
    from zoo.api.caches import human_size

    return [f"{u.kind:<10} {u.files:>8} {human_size(u.size):>9}  {u.path}  ({u.what})" for u in usages]


@click.group(invoke_without_command=True)
@click.pass_context
def cache(ctx: click.Context) -> None:
    """Show or clear what zoo keeps in the user cache directory.

    Every cache holds values zoo computes again when they are missing (at a
    cost): scorer values (scores), decoded bench images (arrays), the fold
    runs of an interrupted train-model2vec (fold-runs), and the FAISS indexes
    of registries that are not SQLite files (index). Bench builds are data:
    listed, never cleared. Bare `zoo cache` is `zoo cache show`.

    \b
    Example:
        zoo cache
        zoo cache clear scores --older-than 30
        zoo cache clear --all --dry-run
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(show_cmd)


@cache.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the folders, file counts and bytes as JSON.")
def show_cmd(as_json: bool = False) -> None:
    """List each cache's folder, files and size, and the bench builds kept beside them.

    \b
    Example:
        zoo cache show --json
    """
    from zoo.api.caches import bench_builds, cache_usage, human_size

    usages, builds = cache_usage(), bench_builds()
    if as_json:
        echo_json({"caches": usages, "bench_builds": builds})
        return
    click.echo(f"{'cache':<10} {'files':>8} {'size':>9}  folder")
    for line in _rows(usages):
        click.echo(line)
    total = sum(u.size for u in usages)
    click.echo(f"{'total':<10} {sum(u.files for u in usages):>8} {human_size(total):>9}")
    for build in builds:
        click.echo(f"Kept (not a cache): {build.kind}, {human_size(build.size)} in {build.path}")


@cache.command("clear")
@click.argument("kinds", nargs=-1, type=click.Choice(_KINDS))
@click.option("--all", "all_kinds", is_flag=True, help="Clear every cache (never a bench build).")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(0),
    metavar="DAYS",
    help="Remove only files last written more than DAYS days ago.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@handle_errors
def clear_cmd(kinds: tuple[str, ...], all_kinds: bool, older_than: float | None, dry_run: bool, as_json: bool) -> None:
    """Remove the files of the caches KINDS (scores, arrays, fold-runs, index), or of all with --all.

    Safe while zoo runs elsewhere: a value removed is computed again when it
    is next needed. Clearing fold-runs makes an interrupted train-model2vec
    train its fold runs again; an index cleared is rebuilt on the next query
    with the default factory (`zoo index rebuild --factory` again for another).

    \b
    Example:
        zoo cache clear scores --older-than 30
        zoo cache clear --all --dry-run
    """
    from zoo.api.caches import clear_caches, human_size

    if not kinds and not all_kinds:
        raise click.UsageError(f"name the caches to clear ({', '.join(_KINDS)}) or pass --all")
    if kinds and all_kinds:
        raise click.UsageError("name the caches to clear or pass --all, not both")
    removed = clear_caches(_KINDS if all_kinds else kinds, older_than_days=older_than, dry_run=dry_run)
    if as_json:
        echo_json({"dry_run": dry_run, "older_than_days": older_than, "removed": removed})
        sys.exit(1 if any(u.failed for u in removed) else 0)
    verb = "Would remove" if dry_run else "Removed"
    for u in removed:
        age = "" if older_than is None else f" last written over {older_than:g} days ago"
        files = f"{u.files} file" + ("" if u.files == 1 else "s")
        click.echo(f"{verb} {files}{age} ({human_size(u.size)}) from {u.kind}: {u.path}")
    stuck = [u for u in removed if u.failed]
    if stuck:
        count = sum(u.failed for u in stuck)
        click.echo(
            f"Error: {count} file{'' if count == 1 else 's'} could not be removed ({stuck[0].reason}); "
            "remove them as the user who owns them",
            err=True,
        )
        sys.exit(1)
