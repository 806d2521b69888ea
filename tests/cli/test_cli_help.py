"""Every command documents itself with an example, and help never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from zoo.cli import main


def _walk(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"`zoo {' '.join((*path, name))}` is listed but cannot be loaded"
            yield from _walk(sub, (*path, name))


PATHS = [path for path, _ in _walk(main, ()) if path]


def test_every_registered_command_is_listed_and_loads():
    ctx = click.Context(main)
    for name in main.list_commands(ctx):  # a lazy command whose module or attribute is wrong fails here
        assert isinstance(main.get_command(ctx, name), click.Command), name
    for name in ("db", "register-model", "models", "tasks", "export", "import", "recommend", "demo"):
        assert name in main.list_commands(ctx)


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_every_command_has_help_with_an_example(path, assert_help_has_example):
    assert_help_has_example(*path)


def test_commands_that_print_data_have_json():
    for path in (
        ["models", "list"],
        ["models", "show"],
        ["tasks", "list"],
        ["tasks", "show"],
        ["db", "current"],
        ["register-model"],
        ["export"],
        ["import"],
    ):
        assert "--json" in CliRunner().invoke(main, [*path, "--help"]).output, path


def _imports_torch(*args: str) -> tuple[bool, str]:
    code = (
        "import sys\nfrom zoo.cli import main\n"
        f"sys.argv = ['zoo', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] == "TORCH", result.stdout


@pytest.mark.parametrize(
    "args",
    [("models", "--help"), ("db", "--help"), ("tasks", "--help"), ("register-model", "--help"), ("export", "--help")],
)
def test_registry_help_does_not_import_torch(args):
    imported, output = _imports_torch(*args)
    assert not imported, output
    assert "Example" in output


def test_top_level_help_does_not_import_torch():
    imported, output = _imports_torch("--help")
    assert not imported, output
    assert "register-model" in output


# every command that draws progress bars
PROGRESS_COMMANDS = [
    ("demo",),
    ("embed-task",),
    ("evaluate",),
    ("recommend",),
    ("report",),
    ("train-model2vec",),
    ("index", "rebuild"),
    ("bench", "build"),
    ("bench", "evaluate"),
    ("bench", "rebuild-experts"),
    ("bench", "report"),
    ("bench", "train-probe"),
]


def test_every_command_with_progress_bars_takes_the_same_quiet_option():
    commands = dict(_walk(main, ()))
    quiet = {path: next((p for p in command.params if p.name == "quiet"), None) for path, command in commands.items()}
    assert {path for path, option in quiet.items() if option is not None} == set(PROGRESS_COMMANDS)
    for path in PROGRESS_COMMANDS:
        option = quiet[path]
        assert (sorted(option.opts), option.is_flag, option.help) == (
            ["--quiet", "-q"],
            True,
            quiet[("demo",)].help,
        ), path


def test_install_advice_installs_from_the_checkout_not_from_pypi():
    """zoo is installed from its checkout (``pip install -e .``); a ``zoo`` on PyPI may be another project."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pypi = re.compile(r"pip install (-U |--upgrade )?['\"]?zoo\b")
    found = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path in [*(root / "zoo" / "cli").glob("*.py"), root / "docs" / "cli.md"]
        for match in pypi.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found
