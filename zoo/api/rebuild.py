"""Rebuild the bench's experts on this machine and point the registry at them.

The shipped zoo holds its experts' checksums but not their weights. The bench
is deterministic given its seed, so :func:`rebuild_experts` renders the tasks
the experts train on, trains the experts of the bench size with the bench's
seeds (:mod:`zoo.bench`: the render and experts stages only, no embedding and
no transfer), compares each file with the checksum the registry holds, and
points each registered expert at its file.

An expert whose file differs (floating-point results of another CPU or library
version) is reported with how far it is from the stored one: its transfer error
on one task it was measured on, next to the stored error. The registry is
pointed at a differing file only when asked (``accept_different``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from registry.errors import InvalidInput, NotFound, arg

if TYPE_CHECKING:
    from registry.store import Store


@dataclass
class RebuiltExpert:
    """One expert after a rebuild: where its file is and how it compares with the registry."""

    name: str
    path: str
    checksum: str
    stored_checksum: str | None
    status: str  # identical / different / unregistered
    source: str | None = None  # the source the registry now holds, when it was pointed at the file
    check: dict | None = None  # for a differing expert: {task, stored_error, rebuilt_error}


def rebuild_experts(
    store: Store,
    *,
    size: str = "full",
    workdir: str | Path | None = None,
    seed: int = 0,
    accept_different: bool = False,
    compare_tasks: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Render, train and verify the experts of bench ``size`` in ``workdir``; point the registry at them.

    ``workdir`` defaults to the bench data root for ``full`` (so the shipped
    ``bench:experts/...`` sources resolve without a change) and to the bench's
    default workdir otherwise. ``compare_tasks`` differing experts get their
    transfer error measured on one task, next to the stored one. Returns
    {"workdir", "experts": [RebuiltExpert as dict], "identical", "different", "pointed", "seconds"}.
    """
    import time

    started = time.time()
    folder = _workdir(size, workdir)
    plan, task_root = _train(size, folder, seed=seed, progress=progress, log=log)
    rows = [
        _verify(
            store, spec.name, folder / "experts" / f"{spec.name}.safetensors", folder, accept_different=accept_different
        )
        for spec in plan
    ]
    for row in [r for r in rows if r.status == "different"][:compare_tasks]:
        row.check = _compare_transfer(store, row, task_root)
    counts = {s: sum(r.status == s for r in rows) for s in ("identical", "different", "unregistered")}
    log(
        f"rebuilt {len(rows)} experts in {folder}: {counts['identical']} identical to the registry's checksum, "
        f"{counts['different']} different, {counts['unregistered']} not registered"
    )
    return {
        "workdir": str(folder),
        "experts": [asdict(r) for r in rows],
        **counts,
        "pointed": sum(r.source is not None for r in rows),
        "seconds": round(time.time() - started, 1),
    }


def _workdir(size: str, workdir: str | Path | None) -> Path:
    from zoo.api.bench import default_workdir

    folder = Path(workdir) if workdir is not None else default_workdir(size)  # full: the bench data root
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidInput(
            f"cannot create {folder} ({err.strerror}); pass {arg('workdir', 'DIR')} somewhere writable"
        ) from err
    return folder


def _train(size: str, folder: Path, *, seed: int, progress: bool, log: Callable[[str], None]) -> tuple[list, Path]:
    """Render the expert tasks and train the plan's experts (skipping finished files); (plan, task root)."""
    from zoo.bench.build import select_tasks
    from zoo.bench.experts import plan_experts, train_expert, union_records, write_union_task
    from zoo.bench.probe import BUNDLED_DIR
    from zoo.bench.sizes import get_size
    from zoo.collections import render_tasks
    from zoo.collections.tasks import read_task

    spec = get_size(size)
    task_root = folder / "tasks"
    chosen = select_tasks(spec, seed)["expert"]
    log(f"rendering the {len(chosen)} tasks the {size} experts train on into {task_root}")
    render_tasks(
        task_root,
        chosen,
        train_per_class=spec.train_per_class,
        test_per_class=spec.test_per_class,
        seed=seed,
        progress=progress,
    )
    plan = plan_experts([read_task(task_root / s.name) for s in chosen], spec)
    for union, members in union_records(plan).items():
        write_union_task(task_root, union, members)
    log(f"training {len(plan)} experts into {folder / 'experts'}")
    from tqdm.auto import tqdm

    # one bar over the experts (count, ETA; a finished file is skipped fast), each expert's steps below it
    for expert in tqdm(plan, desc="experts", unit="expert", disable=not progress):
        train_expert(
            expert,
            task_root,
            folder / "experts",
            probe_weights=BUNDLED_DIR / "probe.safetensors",
            batch_size=spec.batch_size,
            seed=seed,
            progress=progress,
        )
    return plan, task_root


def _verify(store: Store, name: str, path: Path, folder: Path, *, accept_different: bool) -> RebuiltExpert:
    """Compare ``path`` with the registry's checksum for ``name``; point the registry at it when it may."""
    from registry.locations import bench_root, bench_uri
    from zoo.networks import weights_checksum

    checksum = weights_checksum(path)
    try:
        stored = store.get_model(name).checksum
    except NotFound:
        return RebuiltExpert(name, str(path), checksum, None, "unregistered")
    status = "identical" if stored == checksum else "different"
    row = RebuiltExpert(name, str(path), checksum, stored, status)
    if status == "identical" or accept_different:
        uri = bench_uri(path, bench_root()) or f"file:{path.resolve()}"
        store.set_model_source(name, uri, check=status == "identical")
        row.source = uri
    return row


def _compare_transfer(store: Store, row: RebuiltExpert, task_root: Path) -> dict | None:
    """The rebuilt expert's transfer error on one task it was measured on, next to the stored error."""
    from zoo.bench.arrays import load_split
    from zoo.networks import data_config, load_network
    from zoo.transfer import PROTOCOL, ProtocolParams, evaluate_arrays

    params = ProtocolParams().as_dict()
    stored = [
        r
        for r in store.list_transfer_results(model=row.name, protocol=PROTOCOL)
        if r.metric == "error" and r.protocol_params == params and (task_root / r.task / "test").is_dir()
    ]
    if not stored:
        return None
    result = stored[0]
    network = load_network(f"file:{row.path}")
    cfg = data_config(network)
    folder = task_root / result.task
    measured = evaluate_arrays(
        network,
        load_split(folder, "train"),
        load_split(folder, "test"),
        key=result.task,
        mean=cfg["mean"],
        std=cfg["std"],
        size=int(cfg["input_size"][-1]),
    )
    return {"task": result.task, "stored_error": float(result.value), "rebuilt_error": float(measured["error"])}
