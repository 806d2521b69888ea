"""The expert plan: enough experts, architectures and generalists at every size."""

from __future__ import annotations

from zoo.bench.build import select_tasks
from zoo.bench.experts import plan_experts, union_records
from zoo.bench.sizes import SIZES


def _records(specs):
    return [{"name": s.name, "collection": s.collection, "taxonomy": "/".join(s.taxonomy)} for s in specs]


def test_small_and_full_plan_thirty_plus_experts_of_three_archs_with_two_generalists():
    for size in ("small", "full"):
        chosen = select_tasks(SIZES[size], 0)
        plan = plan_experts(_records(chosen["expert"]), SIZES[size])
        assert len(plan) >= 30, size
        assert len({e.arch for e in plan}) >= 3
        generalists = [e for e in plan if e.tags["kind"] == "generalist"]
        assert len(generalists) >= 2
        assert all(
            {"scripts", "emoji", "fashion"} <= {t.split("-")[0].replace("script", "scripts") for t in g.tasks}
            for g in generalists
        )
        assert len({e.name for e in plan}) == len(plan)
        heldout = {s.name for s in chosen["heldout"]}
        assert not heldout & {t for e in plan for t in e.tasks}, "held-out tasks must never train an expert"


def test_plan_is_deterministic_and_unions_name_their_members():
    chosen = select_tasks(SIZES["small"], 0)
    first = plan_experts(_records(chosen["expert"]), SIZES["small"])
    again = plan_experts(_records(chosen["expert"])[::-1], SIZES["small"])
    assert first == again
    unions = union_records(first)
    assert "union-all-experts" in unions and all(len(m) >= 2 for m in unions.values())


def test_ci_is_small():
    chosen = select_tasks(SIZES["ci"], 0)
    assert len(chosen["expert"]) == 4 and len(chosen["heldout"]) == 3 and not chosen["probe"]
    assert sum(len(s.classes) for s in chosen["expert"] + chosen["heldout"]) <= 80
