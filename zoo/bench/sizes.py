"""Bench sizes: how many tasks, images and experts each of ci / small / full builds.

``ci`` is what the tests build (under 3 minutes on 2 CPU cores, reusing the
shipped probe); ``small`` is a quick look (>= 30 experts); ``full`` builds every
task of every collection and is what the shipped zoo export comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.errors import InvalidInput


@dataclass(frozen=True)
class BenchSize:
    """Everything that differs between sizes. ``None`` task limits mean all tasks."""

    name: str
    #: per set, per collection: how many tasks (None: all)
    expert_tasks: dict = field(default_factory=dict)
    heldout_tasks: dict = field(default_factory=dict)
    smallest_first: bool = False  # ci takes the tasks with the fewest classes
    train_per_class: int = 30
    test_per_class: int = 20
    single_experts: int | None = None  # single-task experts (None: one per expert task)
    single_steps: int = 80
    group_steps: int = 160
    generalist_steps: int = 300
    batch_size: int = 64
    embed_methods: tuple[str, ...] = ("montecarlo", "variational")  # zoo.embedding.BENCH_METHODS (no sibling import)
    #: the probe-pool tasks (full only) are embedded with these; they are not measured
    probe_pool_methods: tuple[str, ...] = ("montecarlo",)
    embed_max_samples: int | None = 600
    train_probe_steps: int = 300  # probe training steps with --train-probe


SIZES: dict[str, BenchSize] = {
    "ci": BenchSize(
        name="ci",
        expert_tasks={"scripts": 2, "emoji": 1, "fashion": 1},
        heldout_tasks={"scripts": 1, "emoji": 1, "fashion": 1},
        smallest_first=True,
        train_per_class=8,
        test_per_class=6,
        single_experts=2,
        single_steps=12,
        group_steps=12,
        generalist_steps=16,
        batch_size=32,
        train_probe_steps=30,
        embed_max_samples=64,
        embed_methods=("montecarlo",),  # variational costs ~13 s a task
    ),
    "small": BenchSize(
        name="small",
        expert_tasks={"scripts": 14, "emoji": 8, "fashion": 4},
        heldout_tasks={"scripts": 8, "emoji": 6, "fashion": 3},
        train_per_class=30,
        test_per_class=20,
    ),
    "full": BenchSize(
        name="full",
        train_per_class=40,
        test_per_class=20,
        single_experts=30,
        single_steps=150,
        group_steps=300,
        generalist_steps=800,
        embed_max_samples=1000,
        train_probe_steps=1200,
    ),
}


def get_size(name: str) -> BenchSize:
    """The size called ``name``; InvalidInput naming the choices otherwise."""
    try:
        return SIZES[name]
    except KeyError:
        raise InvalidInput(f"unknown bench size {name!r}: use one of {', '.join(SIZES)}") from None
