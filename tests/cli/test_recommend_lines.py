"""What `zoo recommend` says around its table: each line matches what triggered it.

The recommendations are made up (``Zoo.recommend`` is replaced), so each case
sets exactly the fields a line reads: the query's novelty, the trust kept in
Model2Vec's task term, the probe head's difficulty and its offset.
"""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from registry.store import Store
from zoo.api import Zoo
from zoo.api.recommend import Recommendation
from zoo.cli import main
from zoo.shrinkage import Novelty

NEAR = Novelty(distance=0.0, ratio=0.0, percentile=0.0, nearest="t")
FAR = Novelty(distance=0.9, ratio=3.0, percentile=100.0, nearest="t")


def _recs(**fields) -> list[Recommendation]:
    base = {"expected_error": 0.2, "distance": 0.1, "evidence": (), "trained": True, "source": "timm:x"}
    return [Recommendation(rank=1, model="m", **{**base, **fields})]


def _run(tmp_path, monkeypatch, recs, task: str = "t"):
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    Store.open(url).close()
    monkeypatch.setattr(Zoo, "recommend", lambda self, *args, **kwargs: recs)
    result = CliRunner().invoke(main, ["--db", url, "recommend", "--task", task, "-q"])
    assert result.exit_code == 0, result.output
    return result


def test_a_far_query_is_warned_about_as_far(tmp_path, monkeypatch):
    result = _run(tmp_path, monkeypatch, _recs(novelty=FAR, trust=0.1))
    assert "Warning: this task is farther from the tasks the ranking learned from" in result.stderr


def test_a_near_query_with_the_task_term_off_is_not_called_far(tmp_path, monkeypatch):
    """A query whose nearest task is itself (d_sym 0, 0th percentile) on a run whose fit keeps little of the
    task term anywhere: the ranking leans on overall quality, but not because the task is far."""
    result = _run(tmp_path, monkeypatch, _recs(novelty=NEAR, trust=0.2))
    assert "far" not in result.stderr  # nor "farther"
    assert "Note: the ranking leans on each expert's overall quality (Model2Vec's task term kept at 20%)" in (
        result.stderr
    )
    assert "did not beat that overall quality" in result.stderr and "--verify 5" in result.stderr


def test_a_trusted_ranking_has_neither(tmp_path, monkeypatch):
    assert _run(tmp_path, monkeypatch, _recs(novelty=NEAR, trust=0.9)).stderr == ""


def _difficulty_line(result) -> str:
    return next((line for line in result.stdout.splitlines() if line.startswith("The probe's own head")), "")


def test_a_clipped_difficulty_is_not_shown_as_one_percent(tmp_path, monkeypatch):
    recs = _recs(novelty=FAR, trust=0.1, difficulty=0.005000000000000001, typical_difficulty=0.05, difficulty_offset=-1)
    line = _difficulty_line(_run(tmp_path, monkeypatch, recs))
    assert "misses 0.5% or less of this task's training images" in line
    assert "(a typical task the ranking learned from: 5.0%)" in line and "lowered" in line


def test_the_clip_bound_is_the_one_the_library_uses():
    from zoo.cli.recommend import _DIFFICULTY_CLIP
    from zoo.shrinkage.trust import _CLIP

    assert _DIFFICULTY_CLIP == _CLIP


@pytest.mark.parametrize(
    "fields",
    [
        # all of the task term kept: the offset moves the prior, which weighs nothing
        {"trust": 1.0, "difficulty": 0.005, "typical_difficulty": 0.0067, "difficulty_offset": -0.48},
        # the same share either way, shown
        {"trust": 0.1, "difficulty": 0.0501, "typical_difficulty": 0.0502, "difficulty_offset": 0.5},
    ],
    ids=["offset-weighs-nothing", "same-share"],
)
def test_no_raised_or_lowered_claim_when_nothing_moves(tmp_path, monkeypatch, fields):
    assert _difficulty_line(_run(tmp_path, monkeypatch, _recs(novelty=NEAR, **fields))) == ""


def test_a_folder_named_like_a_registered_task_is_used_and_noted(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    with Store.open(url) as store:
        store.add_task("my-shapes", data_uri="/elsewhere", num_classes=2, num_samples=4, fingerprint="f")
    (tmp_path / "here" / "my-shapes").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "here")
    given = []
    monkeypatch.setattr(Zoo, "recommend", lambda self, target, **kwargs: given.append(target) or _recs())
    result = CliRunner().invoke(main, ["--db", url, "recommend", "--task", "my-shapes", "-q"])
    assert result.exit_code == 0, result.output
    assert given == ["my-shapes"]
    [note] = [line for line in result.stderr.splitlines() if line.startswith("Note:")]
    assert f"'my-shapes' is both a folder here and a registered task; using the folder {tmp_path}/here/my-shapes" in (
        note
    )
    for quiet in (["--task", "./my-shapes"], ["--task", str(tmp_path / "here" / "my-shapes")]):
        result = CliRunner().invoke(main, ["--db", url, "recommend", *quiet, "-q"])
        assert result.exit_code == 0 and "Note:" not in result.stderr, result.output


@pytest.mark.parametrize(
    ("low", "high", "text"), [(0.0, 0.0136, "0.0-1.4%"), (0.0, 0.36, "0-36%"), (0.12, 0.169, "12.0-16.9%")]
)
def test_a_narrow_interval_keeps_its_tenths(low, high, text):
    from zoo.cli.recommend import _interval_text

    assert _interval_text(low, high) == text


@pytest.mark.parametrize(("value", "text"), [(0.004, "0.4 points"), (0.01, "1.0 points"), (0.11, "11 points")])
def test_the_margin_in_points_keeps_its_tenths_when_small(value, text):
    from zoo.cli.recommend import _points

    assert _points(value) == text


def test_an_exact_copy_of_a_registered_task_is_noted(tmp_path, monkeypatch):
    """A copied folder: its nearest seen task (the original) and its first evidence task both at d_sym 0."""
    from zoo.api.recommend import Evidence

    novelty = Novelty(distance=0.0, ratio=0.0, percentile=0.0, nearest="script-avestan")
    evidence = (Evidence("script-avestan", 0.0, 0.03), Evidence("script-mandaic", 0.151, 0.01))
    result = _run(tmp_path, monkeypatch, _recs(novelty=novelty, trust=0.9, evidence=evidence))
    assert "Note: this data set is nearly the registered task script-avestan (d_sym 0.000: the same images)" in (
        result.stderr
    )


@pytest.mark.parametrize(("distance", "noted"), [(0.015, True), (0.044, True), (0.046, False), (0.15, False)])
def test_a_folder_that_is_nearly_a_registered_task_is_noted(tmp_path, monkeypatch, distance, noted):
    """The typical distance is the seen tasks' median nearest-neighbour one (0.151 / 0.824 = 0.183 here); an
    evidence task under a quarter of it (0.0458) is the query's own data embedded again."""
    from zoo.api.recommend import Evidence

    novelty = Novelty(distance=0.151, ratio=0.824, percentile=19.0, nearest="script-mandaic")
    evidence = (Evidence("script-avestan", distance, 0.03), Evidence("script-mandaic", 0.151, 0.01))
    result = _run(tmp_path, monkeypatch, _recs(novelty=novelty, trust=0.9, evidence=evidence))
    line = "Note: this data set is nearly the registered task script-avestan"
    assert (line in result.stderr) is noted
    if noted:
        assert f"(d_sym {distance:.3f}, under a quarter of the 0.183 between two of the zoo's tasks" in result.stderr


def test_a_screen_that_told_no_expert_apart_is_not_said_to_have_proposed_one(tmp_path, monkeypatch):
    alike = [Recommendation(rank=i, model=f"m{i}", expected_error=0.2, distance=0.1, evidence=(), trained=True,
                            source="timm:x", logme=0.5, screen=1e-16 * i) for i in (1, 2)]  # fmt: skip
    out = _run(tmp_path, monkeypatch, alike).stdout
    assert "The screen scored every eligible expert alike" in out and "in turn" not in out
    apart = [dataclasses.replace(r, screen=0.1 * r.rank) for r in alike]
    out = _run(tmp_path, monkeypatch, apart).stdout
    assert "took the screen's and the ranking's best in turn" in out and "alike" not in out


def test_save_says_what_it_registered(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    Store.open(url).close()
    monkeypatch.setattr(Zoo, "recommend", lambda self, *args, **kwargs: _recs())
    result = CliRunner().invoke(main, ["--db", url, "recommend", "--task", "t", "--save", "mine", "-q"])
    assert result.exit_code == 0, result.output
    assert "Registered the folder as task mine with its embedding" in result.stdout


def test_a_skipped_screen_and_a_capped_shortlist_are_said(tmp_path, monkeypatch):
    verified = {"logme": 0.5, "verify_asked": 3, "shortlisted": 3}
    out = _run(tmp_path, monkeypatch, _recs(**verified)).stdout
    assert "The screen was skipped" not in out and "Verified" not in out
    out = _run(tmp_path, monkeypatch, _recs(**{**verified, "screen_skipped": True})).stdout
    assert "The screen was skipped: its share of your images (--screen F) holds one image per class" in out
    assert "The screen scored every eligible expert alike" not in out
    out = _run(tmp_path, monkeypatch, _recs(**{**verified, "shortlisted": 2})).stdout
    assert "Verified 2 experts, not the 3 asked: only 2 are candidates for verification." in out


def test_ctrl_c_exits_130_with_one_line_and_no_traceback(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    Store.open(url).close()

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Zoo, "recommend", interrupted)
    result = CliRunner().invoke(main, ["--db", url, "recommend", "--task", "t", "-q"])
    assert result.exit_code == 130
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Interrupted: the registry keeps only what was committed")
    assert "Traceback" not in result.output and "Aborted" not in result.output


def test_a_path_too_long_for_the_file_system_is_one_line(tmp_path, assert_one_line_error):
    url = f"sqlite:///{tmp_path / 'zoo.db'}"
    Store.open(url).close()
    for args in (["recommend", "--task", "a" * 300], ["embed-task", "x", "--data", str(tmp_path / ("a" * 300))]):
        result = CliRunner().invoke(main, ["--db", url, *args])
        assert_one_line_error(result, 2, "too long for a file path")


def test_a_ranking_learned_from_few_tasks_says_its_figures_are_rough(tmp_path, monkeypatch):
    few = _run(tmp_path, monkeypatch, _recs(novelty=NEAR, trust=0.9, learned_from=1)).stderr
    assert "Note: the ranking learned from only 1 task(s) with measured results" in few and "zoo evaluate --all" in few
    assert (
        "learned from only" not in _run(tmp_path, monkeypatch, _recs(novelty=NEAR, trust=0.9, learned_from=183)).stderr
    )
