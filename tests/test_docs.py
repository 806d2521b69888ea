"""The documentation in docs/ covers the CLI, and its links lead somewhere.

Every registered command (group subcommands included) needs a section in
``docs/*.md`` whose heading names it (``## `zoo models list` ``), and each of
its options (long spelling; the short one when it has no long one) must be
named in one of those sections. The docs are written by hand; this test only
reads them.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from zoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _walk(command: click.Command, path: tuple[str, ...] = ()):
    """(path, command) for ``command`` and, for a group, every subcommand under it."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"`zoo {' '.join((*path, name))}` is listed but cannot be loaded"
            yield from _walk(sub, (*path, name))


def _flags(command: click.Command) -> list[str]:
    """The spelling each option is documented by: its long flags, else its short one."""
    flags = []
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        names = [*param.opts, *param.secondary_opts]
        long = [name for name in names if name.startswith("--")]
        flags.extend(long or names[:1])
    return flags


COMMANDS = list(_walk(main))
OPTIONS = [(path, flag) for path, command in COMMANDS for flag in _flags(command)]


def _sections() -> list[tuple[str, str, str]]:
    """(file, heading, body) for every heading of docs/*.md; a body runs to the next heading of its level or above.

    Lines inside fenced code blocks are never headings (``# a comment`` in a bash block).
    """
    sections = []
    for path in sorted(DOCS.glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        heads, fenced = [], False
        for i, line in enumerate(lines):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            match = None if fenced else re.match(r"(#{1,6}) (.*)", line)
            if match:
                heads.append((i, len(match.group(1)), match.group(2)))
        for n, (start, level, heading) in enumerate(heads):
            end = next((i for i, lev, _ in heads[n + 1 :] if lev <= level), len(lines))
            sections.append((path.name, heading, "\n".join(lines[start + 1 : end])))
    return sections


SECTIONS = _sections()


def _sections_of(path: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """The sections whose heading names `zoo PATH` (and not a longer command that starts with it)."""
    words = "".join(r"\s+" + re.escape(word) for word in path)
    pattern = re.compile(r"`zoo" + words + r"(?=`|\s+[^a-z`])")
    return [section for section in SECTIONS if pattern.search(section[1])]


def _command_id(path: tuple[str, ...]) -> str:
    return " ".join(("zoo", *path))


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=_command_id)
def test_every_command_has_a_section_in_docs(path):
    assert _sections_of(path), f"no heading in docs/*.md names `{_command_id(path)}` (add it to docs/cli.md)"


@pytest.mark.parametrize("path, flag", OPTIONS, ids=[f"{_command_id(p)} {f}" for p, f in OPTIONS])
def test_every_option_is_named_in_its_commands_section(path, flag):
    mention = re.compile(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])")
    sections = _sections_of(path)
    assert any(mention.search(body) for _, _, body in sections), (
        f"`{_command_id(path)}` has {flag}, but no docs section about it names the option: "
        f"{[f'{name}: {heading}' for name, heading, _ in sections]}"
    )


def _option_rows(path: tuple[str, ...]) -> dict[str, str]:
    """docs/cli.md's option rows (``| `--flag ...` | text |``) of `zoo PATH`'s own section, by first flag."""
    rows = {}
    for _, _, body in (s for s in _sections_of(path) if s[0] == "cli.md"):
        for line in body.splitlines():
            match = re.match(r"\| `(-[^`]*)` \|", line)
            if match:  # `-q, --quiet`, `--check / --no-check`, `--scorer [a\|b]`: every flag names the row
                for flag in re.findall(r"(?:^|[,/]\s*)(-[\w-]+)", match.group(1)):
                    rows.setdefault(flag, match.group(1))
    return rows


@pytest.mark.parametrize("path, flag", OPTIONS, ids=[f"{_command_id(p)} {f}" for p, f in OPTIONS])
def test_the_command_reference_lists_every_option_with_its_choices(path, flag):
    """docs/cli.md says it lists every option of every command as --help prints it: a row per option in the
    command's own section there, with a choice option's every choice."""
    command = dict(COMMANDS)[path]
    rows = _option_rows(path)
    assert flag in rows, f"docs/cli.md's section on `{_command_id(path)}` has no row for {flag}"
    param = next(p for p in command.params if flag in (*p.opts, *p.secondary_opts))
    if isinstance(param.type, click.Choice):
        shown = "[" + "\\|".join(str(c) for c in param.type.choices) + "]"
        assert shown in rows[flag], f"docs/cli.md: `{_command_id(path)} {flag}` should show {shown}: {rows[flag]}"


def test_every_relative_link_in_the_docs_leads_to_a_file():
    link = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
    files = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    broken = [
        f"{path.relative_to(ROOT)}: {target}"
        for path in files
        for target, _ in link.findall(path.read_text(encoding="utf-8"))
        if "://" not in target and not (path.parent / target).exists()
    ]
    assert not broken


def test_ci_runs_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) >= 2, "the README starts with two commands: set up and run, then test"
    test_command = blocks[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_nothing_points_at_the_old_docs_sections():
    files = [
        ROOT / "README.md",
        *DOCS.rglob("*.md"),
        *(ROOT / "zoo").rglob("*.py"),
        *(ROOT / "registry").rglob("*.py"),
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
    ]
    stale = [str(path.relative_to(ROOT)) for path in files if "docs" + "/sections" in path.read_text(encoding="utf-8")]
    assert not stale
