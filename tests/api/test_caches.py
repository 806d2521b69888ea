"""``zoo cache``: each cache's folder is where its writer puts files, sizes add up, clearing takes only what it
is asked to and never a bench build. The autouse fixture of tests/conftest.py points ``$XDG_CACHE_HOME`` at a
fresh folder per test."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo.api import caches
from zoo.cli import main


def _write(path: Path, size: int, days_old: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if days_old:
        stamp = time.time() - days_old * 86400.0
        os.utime(path, (stamp, stamp))
    return path


def test_each_kind_is_the_folder_its_writer_uses():
    from zoo.api.folds import fold_runs_directory
    from zoo.api.scorer_cache import ScoreCache
    from zoo.api.scorer_cache import cache_directory as scores_directory
    from zoo.bench.arrays import cache_directory as arrays_directory
    from zoo.cli.cache import _KINDS
    from zoo.index import index_directory

    assert _KINDS == tuple(caches.KINDS)
    assert caches.cache_folder("scores") == scores_directory() == ScoreCache().folder
    assert caches.cache_folder("arrays") == arrays_directory()
    assert caches.cache_folder("fold-runs") == fold_runs_directory()
    assert index_directory("postgresql+psycopg://me@dbhost/zoo").parent == caches.cache_folder("index")
    for kind in caches.KINDS:
        assert caches.cache_folder(kind).parent == caches.cache_root()
    with pytest.raises(ValueError, match="unknown cache"):
        caches.cache_folder("bench")


def test_usage_counts_every_file_and_byte():
    _write(caches.cache_folder("scores") / "logme" / "ab" / "1.json", 10)
    _write(caches.cache_folder("scores") / "leep" / "2.json", 5)
    _write(caches.cache_folder("arrays") / "a.npz", 100)
    _write(caches.cache_root() / "bench" / "ci" / "tasks" / "t.png", 7)
    usage = {u.kind: u for u in caches.cache_usage()}
    assert list(usage) == list(caches.KINDS)
    assert (usage["scores"].files, usage["scores"].size) == (2, 15)
    assert (usage["arrays"].files, usage["arrays"].size) == (1, 100)
    assert (usage["fold-runs"].files, usage["fold-runs"].size) == (0, 0)  # absent folder
    builds = caches.bench_builds()
    assert [(b.kind, b.files, b.size) for b in builds] == [("bench/ci", 1, 7)]


def test_clear_by_age_keeps_recent_files_bench_builds_and_the_folders():
    old = _write(caches.cache_folder("scores") / "logme" / "ab" / "old.json", 10, days_old=40)
    new = _write(caches.cache_folder("scores") / "logme" / "cd" / "new.json", 3)
    arrays = _write(caches.cache_folder("arrays") / "a.npz", 100, days_old=40)
    build = _write(caches.cache_root() / "bench" / "ci" / "t.png", 7, days_old=40)

    dry = caches.clear_caches(["scores"], older_than_days=30, dry_run=True)
    assert [(u.kind, u.files, u.size) for u in dry] == [("scores", 1, 10)]
    assert old.exists() and new.exists()

    done = caches.clear_caches(["scores", "scores"], older_than_days=30)
    assert [(u.kind, u.files, u.size) for u in done] == [("scores", 1, 10)]
    assert not old.exists() and not old.parent.exists()  # its emptied folder goes too
    assert new.exists() and arrays.exists() and build.exists()

    everything = caches.clear_caches(caches.KINDS)
    assert {u.kind: u.files for u in everything} == {"scores": 1, "arrays": 1, "fold-runs": 0, "index": 0}
    assert caches.cache_folder("scores").is_dir() and not any(caches.cache_folder("scores").iterdir())
    assert build.exists()
    with pytest.raises(ValueError, match="unknown cache bench"):
        caches.clear_caches(["bench"])


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (34_500_000, "34.5 MB"), (2.2e12, "2200.0 GB")]
)
def test_human_size(size, text):
    assert caches.human_size(int(size)) == text


def test_cli_shows_and_clears():
    runner = CliRunner()
    _write(caches.cache_folder("scores") / "logme" / "1.json", 10, days_old=40)
    _write(caches.cache_folder("scores") / "logme" / "2.json", 10)
    _write(caches.cache_root() / "bench" / "ci" / "t.png", 7)

    shown = runner.invoke(main, ["cache"])
    assert shown.exit_code == 0, shown.output
    assert "scores" in shown.output and "20 B" in shown.output and "Kept (not a cache): bench/ci" in shown.output
    listed = json.loads(runner.invoke(main, ["cache", "show", "--json"]).output)
    assert {c["kind"]: c["files"] for c in listed["caches"]}["scores"] == 2
    assert listed["bench_builds"][0]["path"] == str(caches.cache_root() / "bench" / "ci")

    would = runner.invoke(main, ["cache", "clear", "--all", "--older-than", "30", "--dry-run"])
    assert would.exit_code == 0
    assert "Would remove 1 file last written over 30 days ago (10 B) from scores" in would.output
    cleared = runner.invoke(main, ["cache", "clear", "scores", "--json"])
    assert json.loads(cleared.output)["removed"][0]["files"] == 2
    assert caches.cache_usage()[0].files == 0 and (caches.cache_root() / "bench" / "ci" / "t.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cache", "clear"], "name the caches to clear (scores, arrays, fold-runs, index) or pass --all"),
        (["cache", "clear", "scores", "--all"], "not both"),
        (["cache", "clear", "bench"], "'bench' is not one of"),
        (["cache", "clear", "--all", "--older-than", "-1"], "--older-than"),
    ],
)
def test_cli_bad_input_is_one_line_and_removes_nothing(args, message):
    kept = _write(caches.cache_folder("scores") / "logme" / "1.json", 10, days_old=40)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert kept.exists()


def test_a_file_that_cannot_be_removed_is_kept_counted_and_one_line_exit_1(monkeypatch):
    mine = _write(caches.cache_folder("scores") / "logme" / "mine.json", 10)
    theirs = _write(caches.cache_folder("scores") / "leep" / "theirs.json", 10)
    real_unlink = Path.unlink

    def unlink(path, *args, **kwargs):
        if path.name == "theirs.json":  # another user's file in a shared cache
            raise PermissionError(13, "Permission denied")
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    (usage,) = caches.clear_caches(["scores"])
    assert (usage.files, usage.size, usage.failed) == (1, 10, 1)
    assert usage.reason == f"Permission denied: {theirs}"
    assert not mine.exists() and theirs.exists()

    _write(caches.cache_folder("scores") / "logme" / "again.json", 3)
    result = CliRunner().invoke(main, ["cache", "clear", "scores"])
    assert result.exit_code == 1
    assert "Removed 1 file (3 B) from scores" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"Error: 1 file could not be removed (Permission denied: {theirs}); remove them as the user who owns them"
    ]
