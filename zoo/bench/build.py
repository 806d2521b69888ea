"""`zoo bench build`: render -> probe -> experts -> register + embed, and transfer.

Every stage is cached in the workdir and every unit of work is idempotent, so a
build killed at any point (SIGKILL included) continues where it stopped and
ends with the same registry:

- a task is complete when its ``task.json`` exists (written last, atomically);
- the trained probe and each expert are complete when their weights file exists
  (written to a temporary name, then renamed); an expert's file is reused only when
  its sidecar records the same training (:func:`zoo.bench.experts.trained_as`);
- a registry row is added only when the registry lacks it (task, model,
  embedding per (task, probe, method), transfer result per (model, task,
  protocol)), each in its own transaction.

The registry is reached only through the :class:`Registry` callbacks that
:mod:`zoo.api.bench` passes in, so this module does not import the store.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from zoo.bench.experts import ExpertJob, ExpertSpec, ensure_expert, plan_experts, union_records, write_union_task
from zoo.bench.sizes import BenchSize
from zoo.collections import catalogue, render_tasks
from zoo.collections.tasks import read_task, write_json_atomic


@dataclass
class Registry:
    """What the build needs from the registry, as callbacks (see zoo.api.bench)."""

    ensure_task: Callable[[Path], None]  # register a task folder if absent
    ensure_embedding: Callable[[str, Path, str, str], bool]  # (task, folder, probe, method) -> computed?
    ensure_model: Callable[[ExpertSpec, Path], None]  # register an expert if absent
    has_transfer: Callable[[str, str], bool]  # (model, task) -> measured?
    add_transfer: Callable[[str, str, dict], None]  # (model, task, result)
    #: train (unless done) and register one expert elsewhere, e.g. as a Ray unit (zoo.api.jobs_bench);
    #: None: the build trains it in this process (ensure_expert) and calls ensure_model
    ensure_expert: Callable[[ExpertSpec, ExpertJob], None] | None = None


def select_tasks(size: BenchSize, seed: int, *, train_probe: bool = False) -> dict[str, list]:
    """The task specs a size builds, by set (probe / expert / heldout).

    The probe pool is rendered for ``full`` (its tasks are embedded too) and
    whenever a probe is to be trained.
    """
    sets = catalogue(seed)

    def pick(specs: list, limits: dict) -> list:
        if size.smallest_first:
            specs = sorted(specs, key=lambda s: len(s.classes))
        if not limits:
            return specs
        out = []
        for collection in ("scripts", "emoji", "fashion"):
            mine = [s for s in specs if s.collection == collection]
            out += mine[: limits.get(collection, 0)]
        return out

    return {
        "probe": sets["probe"] if size.name == "full" or train_probe else [],
        "expert": pick(sets["expert"], size.expert_tasks),
        "heldout": pick(sets["heldout"], size.heldout_tasks),
    }


def build(
    size: BenchSize,
    workdir: Path,
    registry: Registry,
    *,
    seed: int = 0,
    train_probe: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    overlap: bool = True,
) -> dict:
    """Run (or resume) every stage of the bench in ``workdir``; returns a summary.

    Stages: render the tasks, the probe, the experts, then the task embeddings
    and the transfer results. ``overlap`` runs the transfer stage in a second
    thread while the tasks are embedded: the two stages share nothing but the
    registry (every unit of both is idempotent, and each writes its own rows),
    so on two cores they take about the time of the longer one. A kill stops
    both threads together; a restart resumes both.
    """
    workdir = Path(workdir)
    task_root = workdir / "tasks"
    timings: dict[str, float] = {}
    started = time.time()
    chosen = _render(size, workdir, task_root, seed=seed, train_probe=train_probe, progress=progress)
    timings["render"] = time.time() - started
    t0 = time.time()
    probe_source, probe_weights = _probe(
        size, workdir, task_root, chosen["probe"], seed=seed, train=train_probe, progress=progress, log=log
    )
    timings["probe"] = time.time() - t0
    t0 = time.time()
    plan = _experts(
        size,
        chosen,
        task_root,
        workdir / "experts",
        registry,
        probe_weights=probe_weights,
        seed=seed,
        progress=progress,
    )
    timings["experts"] = time.time() - t0
    stages = _embed_and_transfer(
        size, chosen, plan, task_root, workdir / "experts", registry, probe_source, progress=progress, overlap=overlap
    )
    timings.update(embed=stages["embed"], transfer=stages["transfer"], total=time.time() - started)
    summary = {
        "size": size.name,
        "workdir": str(workdir),
        "probe": probe_source,
        "tasks": {k: len(v) for k, v in chosen.items()},
        "unions": len(union_records(plan)),
        "experts": len(plan),
        "transfer_pairs": stages["pairs"],
        "overlap": overlap,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    _append_log(workdir, summary)
    return summary


def _render(
    size: BenchSize, workdir: Path, task_root: Path, *, seed: int, train_probe: bool, progress: bool
) -> dict[str, list]:
    """Stage 1: choose the task sets, render them under ``task_root`` and record them in sets.json."""
    chosen = select_tasks(size, seed, train_probe=train_probe)
    specs = chosen["probe"] + chosen["expert"] + chosen["heldout"]
    render_tasks(
        task_root,
        specs,
        train_per_class=size.train_per_class,
        test_per_class=size.test_per_class,
        seed=seed,
        progress=progress,
    )
    write_json_atomic(workdir / "sets.json", {k: [s.name for s in v] for k, v in chosen.items()})
    return chosen


def _experts(
    size: BenchSize,
    chosen: dict[str, list],
    task_root: Path,
    expert_dir: Path,
    registry: Registry,
    *,
    probe_weights: Path,
    seed: int,
    progress: bool,
) -> list:
    """Stage 3: plan the experts, write their union tasks, train and register each; returns the plan.

    Runs before embedding, so that the union tasks exist to embed. With
    ``registry.ensure_expert`` each expert is handed to it instead of trained here.
    """
    from tqdm import tqdm

    expert_records = [read_task(task_root / s.name) for s in chosen["expert"]]
    plan = plan_experts(expert_records, size)
    for union, members in union_records(plan).items():
        write_union_task(task_root, union, members)
    job = ExpertJob(task_root, expert_dir, probe_weights, size.batch_size, seed)
    for spec in tqdm(plan, desc="train experts", unit="expert", disable=not progress):
        if registry.ensure_expert is not None:
            registry.ensure_expert(spec, job)
            continue
        path, _ = ensure_expert(spec, job, progress=progress)
        registry.ensure_model(spec, path)
    return plan


def _embed_and_transfer(
    size: BenchSize,
    chosen: dict[str, list],
    plan: list,
    task_root: Path,
    expert_dir: Path,
    registry: Registry,
    probe_source: str,
    *,
    progress: bool,
    overlap: bool,
) -> dict:
    """Stages 4 and 5: register every task, embed them (measured tasks, unions, probe pool) and measure every
    expert on every expert and held-out task; with ``overlap`` the transfer stage runs in a thread beside the
    embedding (both need only the registered tasks and models). Returns {"embed": s, "transfer": s, "pairs": n}.
    """
    from tqdm import tqdm

    t0 = time.time()
    names = [s.name for s in chosen["probe"] + chosen["expert"] + chosen["heldout"]] + sorted(union_records(plan))
    for name in names:
        registry.ensure_task(task_root / name)
    pool = {s.name for s in chosen["probe"]}
    units = [
        (name, method) for name in names for method in (size.probe_pool_methods if name in pool else size.embed_methods)
    ]
    measured = [s.name for s in chosen["expert"] + chosen["heldout"]]
    pairs = [(spec, task) for spec in plan for task in measured]
    stop = threading.Event()

    def transfer_stage() -> float:
        start = time.time()
        _transfer(pairs, task_root, expert_dir, registry, progress=progress, position=1 if overlap else 0, stop=stop)
        return time.time() - start

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="transfer") as executor:
        transfer = executor.submit(transfer_stage) if overlap else None
        try:
            for name, method in tqdm(units, desc="embed tasks", unit="embedding", disable=not progress, position=0):
                if transfer is not None and transfer.done() and transfer.exception() is not None:
                    break  # the transfer thread failed: stop embedding, raise its error below
                registry.ensure_embedding(name, task_root / name, probe_source, method)
        except BaseException:
            stop.set()  # do not let the transfer thread run on for an hour after an error or Ctrl-C
            raise
        embed_seconds = time.time() - t0
        transfer_seconds = transfer.result() if transfer is not None else transfer_stage()
    return {"embed": embed_seconds, "transfer": transfer_seconds, "pairs": len(pairs)}


def _probe(
    size: BenchSize,
    workdir: Path,
    task_root: Path,
    probe_specs: list,
    *,
    seed: int,
    train: bool,
    progress: bool,
    log: Callable[[str], None],
) -> tuple[str, Path]:
    """(probe source for embed_task, probe weights path): the shipped one unless asked to train."""
    from zoo.bench.probe import BUNDLED_DIR, train_probe

    if not train:
        weights = BUNDLED_DIR / "probe.safetensors"
        if not weights.exists():
            from registry.errors import InvalidInput

            raise InvalidInput(
                "the shipped probe zoo/assets/probe/probe.safetensors is missing; "
                "run `zoo bench build --train-probe` to train one"
            )
        return "bundled", weights
    out = workdir / "probe"
    weights = out / "probe.safetensors"
    if not weights.exists() or not (out / "probe.json").exists():
        steps = size.train_probe_steps
        log(f"training the probe on {len(probe_specs)} probe-pool tasks ({steps} steps)")
        train_probe(
            [task_root / s.name for s in probe_specs],
            out,
            steps=steps,
            seed=seed,
            progress=progress,
            command=f"zoo bench build --size {size.name} --train-probe --workdir {workdir}",
            log=log,
        )
    return f"file:{weights}", weights


def _transfer(
    pairs: list[tuple[ExpertSpec, str]],
    task_root: Path,
    expert_dir: Path,
    registry: Registry,
    *,
    progress: bool,
    position: int = 0,
    stop: threading.Event | None = None,
) -> None:
    """Measure every (expert, task) pair the registry lacks, one expert loaded at a time."""
    from tqdm import tqdm

    from zoo.batches import data_config
    from zoo.bench.arrays import load_split
    from zoo.networks import load_network
    from zoo.transfer import evaluate_arrays

    todo = [(spec, task) for spec, task in pairs if not registry.has_transfer(spec.name, task)]
    loaded: tuple[str, object, dict] | None = None
    for spec, task in tqdm(todo, desc="measure transfer", unit="pair", disable=not progress, position=position):
        if stop is not None and stop.is_set():
            return
        if loaded is None or loaded[0] != spec.name:
            model = load_network(f"file:{expert_dir / (spec.name + '.safetensors')}")
            loaded = (spec.name, model, data_config(model))
        _, model, cfg = loaded
        folder = task_root / task
        result = evaluate_arrays(
            model,
            load_split(folder, "train"),
            load_split(folder, "test"),
            key=task,
            mean=cfg["mean"],
            std=cfg["std"],
            size=int(cfg["input_size"][-1]),
        )
        registry.add_transfer(spec.name, task, result)


def _append_log(workdir: Path, summary: dict) -> None:
    with open(Path(workdir) / "build-log.jsonl", "a") as handle:
        handle.write(json.dumps(summary) + "\n")
