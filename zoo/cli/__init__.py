"""The ``zoo`` command line: thin commands over :mod:`zoo.api`.

Each command lives in a module of this package and is loaded only when it is
invoked or listed, so ``zoo --help`` never imports torch. Command modules
import click (and nothing heavy) at module level.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute"; every entry is a click command or group.
COMMANDS: dict[str, str] = {
    "db": "zoo.cli.db:db",
    "register-model": "zoo.cli.models:register_model",
    "models": "zoo.cli.models:models",
    "tasks": "zoo.cli.tasks:tasks",
    "export": "zoo.cli.backup:export_cmd",
    "import": "zoo.cli.backup:import_cmd",
    "embed-task": "zoo.cli.embedding:embed_task",
    "distance": "zoo.cli.embedding:distance",
    "evaluate": "zoo.cli.evaluate:evaluate",
    "bench": "zoo.cli.bench:bench",
    "train-model2vec": "zoo.cli.recommend:train_model2vec",
    "recommend": "zoo.cli.recommend:recommend",
    "index": "zoo.cli.recommend:index",
    "demo": "zoo.cli.demo:demo",
    "plot": "zoo.cli.plot:plot",
    "report": "zoo.cli.plot:report",
    "cache": "zoo.cli.cache:cache",
}


class OneLineUsageError(click.ClickException):
    """A usage error (a bad option value, an unknown option, a missing argument) shown as one line, exit 2."""

    exit_code = 2


def _one_line(err: click.UsageError, ctx: click.Context) -> click.UsageError | OneLineUsageError:
    """``err`` as one line naming the help to read; a group called bare keeps click's help."""
    if isinstance(err, click.exceptions.NoArgsIsHelpError):
        return err
    where = (err.ctx or ctx).command_path
    return OneLineUsageError(f"{err.format_message()} (see '{where} --help')")


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, and whose subcommands' usage errors are
    one line (click's own add the usage block and a hint on two more)."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:  # the group's own options (``zoo --bogus``)
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            raise _one_line(err, ctx) from None

    def invoke(self, ctx: click.Context):
        try:  # a subcommand's options and arguments, parsed as it is invoked
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _one_line(err, ctx) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, attr = self.lazy_commands[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "url",
    envvar="ZOO_DATABASE_URL",
    metavar="URL",
    help=(
        "Registry database URL (SQLAlchemy form, e.g. sqlite:///zoo.db or "
        "postgresql+psycopg://user@host/db). Default: $ZOO_DATABASE_URL, else "
        "a SQLite file in your user data directory (~/.local/share/zoo/zoo.db on Linux)."
    ),
)
@click.version_option(package_name="zoo")
@click.pass_context
def main(ctx: click.Context, url: str | None) -> None:
    """zoo: which pretrained backbone should I start from?

    A registry of expert models and tasks with a joint embedding (Task2Vec,
    Model2Vec) that recommends experts for a new labelled data set.

    \b
    Example:
        zoo demo
        zoo register-model resnet34.a1_in1k --source timm:resnet34.a1_in1k
        zoo recommend --task ./my_images -k 5
    """
    from zoo.cli.common import one_line_warnings

    ctx.ensure_object(dict)
    ctx.obj["db_url"] = url
    ctx.with_resource(one_line_warnings())  # zoo's warnings as one line each, for as long as the command runs
