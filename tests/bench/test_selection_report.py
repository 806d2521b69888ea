"""`zoo bench evaluate` on a built ci bench: every method side by side, files written."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from zoo.cli import main


def test_bench_evaluate_judges_every_method_on_the_heldout_tasks(ci_bench, tmp_path):
    heldout = set(json.loads((ci_bench["workdir"] / "sets.json").read_text())["heldout"])
    out = tmp_path / "figures"
    result = CliRunner().invoke(
        main,
        [
            "--db",
            ci_bench["url"],
            "bench",
            "evaluate",
            "--scorer",
            "logme",
            "--max-samples",
            "24",
            "--out-dir",
            str(out),
            "--quiet",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["tasks"] and set(report["tasks"]) <= heldout
    methods = [row["method"] for row in report["rows"]]
    for name in ("chance", "generic", "nearest source (d_sym)", "d_asym", "Model2Vec", "logme", "oracle"):
        assert name in methods
    oracle = next(row for row in report["rows"] if row["method"] == "oracle")
    assert oracle["relative_error"] == 0.0 and oracle["top1"] == 1.0
    assert {row["task"] for row in report["per_task"]} == set(report["tasks"])
    assert all(row["worst"] >= row["best"] for row in report["per_task"])
    written = json.loads((out / "selection.json").read_text())
    assert written["rows"] == report["rows"]
    assert "| Model2Vec |" in (out / "selection.md").read_text()
    with Image.open(out / "selection.png") as image:
        assert image.width > 600 and image.height > 200


def test_bench_evaluate_on_an_empty_registry_says_what_to_do(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    CliRunner().invoke(main, ["--db", url, "db", "upgrade"])
    result = CliRunner().invoke(main, ["--db", url, "bench", "evaluate", "--out-dir", str(tmp_path)])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
