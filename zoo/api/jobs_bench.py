"""``zoo bench build`` on Ray: its experts, embeddings and transfer stages as units of :mod:`zoo.api.jobs`.

The build renders the tasks and registers them here, then leaves three lists
(:class:`zoo.api.bench_build.Deferred`) that run one Ray task per unit, stage
after stage:

- experts: one :class:`TrainExpertUnit` per expert; it trains the expert into
  the bench workdir (unless a file recording the same training is there) and
  registers it in its own transaction;
- embeddings: one :class:`zoo.api.jobs_units.EmbedUnit` per (task, probe, method);
- transfer: one :class:`zoo.api.jobs_units.EvaluateUnit` per (expert, task) pair.

The units carry paths, not data: the workdir must be readable and writable at
the same absolute path on every node (a shared filesystem). A node that does
not see it fails its unit with one line saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput
from zoo.api.jobs_units import DONE, FAILED, SKIPPED, EmbedUnit, EvaluateUnit, Outcome

if TYPE_CHECKING:
    from registry.store import Store
    from zoo.api import Zoo
    from zoo.api.bench_build import Deferred
    from zoo.api.probes import Probes
    from zoo.bench.experts import ExpertJob, ExpertSpec
    from zoo.bench.sizes import BenchSize

#: the stages run on Ray, in order
STAGES = ("experts", "embed", "transfer")


@dataclass(frozen=True)
class TrainExpertUnit:
    """Train ``expert`` into ``expert_dir`` (from the tasks under ``task_root``) and register it.

    Paths are absolute and must be the same on every node. ``threads``: torch's CPU
    threads while training (weights are bit-identical for the same count);
    ``bench_root``: the bench data root its source is recorded against.
    """

    expert: ExpertSpec
    task_root: str
    expert_dir: str
    probe_weights: str
    batch_size: int
    seed: int = 0
    threads: int = 1
    bench_root: str = ""

    kind = "train-expert"

    def __post_init__(self) -> None:
        for name in ("task_root", "expert_dir", "probe_weights"):
            if not Path(getattr(self, name)).is_absolute():
                raise InvalidInput(
                    f"{name} {getattr(self, name)!r} is relative; a unit needs the absolute path every node reads"
                )

    @property
    def key(self) -> tuple[str]:
        """The expert's name (its weights file and its registry row)."""
        return (self.expert.name,)

    def label(self) -> str:
        return f"train {self.expert.name}"

    def job(self) -> ExpertJob:
        """The training settings as :class:`zoo.bench.experts.ExpertJob`."""
        from zoo.bench.experts import ExpertJob

        return ExpertJob(
            Path(self.task_root), Path(self.expert_dir), Path(self.probe_weights), self.batch_size, self.seed
        )

    def run(self, zoo: Zoo) -> Outcome:
        """Train (unless its file matches) and register (unless registered); skipped when neither was needed."""
        from zoo.api.bench_build import register_once
        from zoo.bench.experts import ensure_expert

        job = self.job()
        unseen = _unseen(self.expert, job)
        if unseen is not None:
            import socket

            return (
                FAILED,
                f"{unseen} is not there on node {socket.gethostname()}: the bench workdir must be on a "
                "filesystem every Ray node mounts at the same path",
                None,
            )
        with _torch_threads(self.threads):
            path, trained = ensure_expert(self.expert, job, progress=False)
        registered = register_once(zoo.store, self.expert, path, self.bench_root or None)
        return (DONE if trained or registered else SKIPPED), "", None


def _unseen(expert: ExpertSpec, job: ExpertJob) -> Path | None:
    """The first input of ``expert`` this node cannot read (a task's ``task.json``, the probe's weights), else None."""
    needed = [Path(job.task_root) / task / "task.json" for task in expert.tasks]
    if expert.init == "probe":
        needed.append(Path(job.probe_weights))
    return next((path for path in needed if not path.is_file()), None)


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch on ``threads`` CPU threads inside the block, as it was after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def expert_units(deferred: Deferred, *, threads: int, bench_root: str | Path) -> list[TrainExpertUnit]:
    """One :class:`TrainExpertUnit` per deferred expert, paths made absolute."""
    return [
        TrainExpertUnit(
            expert,
            str(Path(job.task_root).resolve()),
            str(Path(job.expert_dir).resolve()),
            str(Path(job.probe_weights).resolve()),
            job.batch_size,
            job.seed,
            threads,
            str(Path(bench_root).resolve()),
        )
        for expert, job in deferred.experts
    ]


def embed_units(probes: Probes, deferred: Deferred, spec: BenchSize) -> list[EmbedUnit]:
    """One :class:`EmbedUnit` per deferred (task, probe source, method), as the local build embeds it."""
    names: dict[str, str] = {}
    units = []
    for task, source, method in deferred.embeddings:
        if source not in names:
            names[source] = probes.name_of(source)
        units.append(EmbedUnit(task, names[source], method, source, "auto", spec.embed_max_samples, 0))
    return units


def transfer_units(store: Store, deferred: Deferred) -> list[EvaluateUnit]:
    """One :class:`EvaluateUnit` per deferred (model, task) pair, weights from each model's registered source."""
    from zoo.transfer import PROTOCOL

    sources: dict[str, str] = {}
    for model, _ in deferred.pairs:
        if model not in sources:
            sources[model] = store.get_model(model).source
    return [EvaluateUnit(model, task, PROTOCOL, sources[model]) for model, task in deferred.pairs]


def run_deferred(
    store: Store,
    probes: Probes,
    deferred: Deferred,
    spec: BenchSize,
    ray_address: str,
    *,
    gpus_per_task: float = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the deferred stages on Ray against the registry of ``store`` (``probes`` over it); a summary.

    Experts first (the transfer units load their weights), then the embeddings,
    then the transfer pairs. A stage with a failed unit raises one line after it
    (the experts stage at once; embeddings and transfer both run first); a rerun
    retries only what is missing. Returns the totals of :func:`zoo.api.jobs.run_units`
    (``runner``, ``units``, ``done``, ``skipped``, ``failed``, ``seconds``, ``errors``)
    and ``stages``: each stage's own summary. ``gpus_per_task`` is asked for by the
    embedding and transfer units; expert training runs on the CPU and asks for none.
    """
    import torch

    from registry.locations import bench_root

    stages: dict[str, dict] = {}
    experts = expert_units(deferred, threads=torch.get_num_threads(), bench_root=bench_root())
    stages["experts"] = _stage("experts", experts, store.url, ray_address, 0, progress, log)  # trains on the CPU
    _raise_failed("experts", stages["experts"])
    embeds = embed_units(probes, deferred, spec)
    stages["embed"] = _stage("embed", embeds, store.url, ray_address, gpus_per_task, progress, log)
    pairs = transfer_units(store, deferred)
    stages["transfer"] = _stage("transfer", pairs, store.url, ray_address, gpus_per_task, progress, log)
    for stage in ("embed", "transfer"):
        _raise_failed(stage, stages[stage])
    totals: dict[str, Any] = {"runner": "ray"}
    for key in ("units", DONE, SKIPPED, FAILED, "seconds"):
        totals[key] = sum(s[key] for s in stages.values())
    totals["seconds"] = round(totals["seconds"], 3)
    totals["errors"] = [e for s in stages.values() for e in s["errors"]]
    return {**totals, "stages": stages}


def _stage(
    name: str,
    units: list,
    url: str,
    ray_address: str,
    gpus_per_task: float,
    progress: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """One stage's units on Ray (none: nothing is started); its :func:`zoo.api.jobs.run_units` summary."""
    from zoo.api.jobs import run_units

    if not units:
        return {"units": 0, DONE: 0, SKIPPED: 0, FAILED: 0, "seconds": 0.0, "runner": "ray", "errors": []}
    log(f"{name}: {len(units)} units on Ray ({ray_address})")
    return run_units(units, url, ray_address=ray_address, gpus_per_task=gpus_per_task, progress=progress)


def _raise_failed(stage: str, summary: dict[str, Any]) -> None:
    """One line naming the first failed unit of ``stage`` and the remedy, when any failed."""
    if not summary[FAILED]:
        return
    first = summary["errors"][0]
    unit = first["unit"]
    what = {
        "train-expert": lambda: unit["expert"]["name"],
        "embed": lambda: f"{unit['task']} ({unit['method']})",
        "evaluate": lambda: f"{unit['model']} on {unit['task']}",
    }.get(unit["kind"], lambda: unit["kind"])()
    raise InvalidInput(
        f"{summary[FAILED]} of {summary['units']} {stage} units failed on Ray (first: {what}: {first['error']}); "
        "run the same command again to retry them"
    )
