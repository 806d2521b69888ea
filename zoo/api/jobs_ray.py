"""The Ray runner of :mod:`zoo.api.jobs`: one Ray task per unit, gathered with ``ray.wait``.

A unit travels as its names (see :mod:`zoo.api.jobs_units`); the worker opens
the registry by URL and loads weights from the model's recorded source, which
must therefore be readable on every node (a shared filesystem, or a URI such
as ``timm:NAME`` / ``hf-hub:REPO`` every node can fetch). Nothing heavy goes
through the object store. A task whose worker or node dies is retried by Ray
(``max_retries``); the units' idempotent writes make a retry harmless.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from registry.errors import InvalidInput, arg
from zoo.api.jobs_units import FAILED, Outcome, Unit, run_unit


def import_ray() -> Any:
    """The ``ray`` module, or :class:`InvalidInput` saying how to install the extra."""
    try:
        import ray
    except ImportError:
        raise InvalidInput(
            "Ray is not installed: pip install -e '.[ray]' in zoo's checkout, "
            f"or run without {arg('ray_address', 'ADDRESS')}"
        ) from None
    return ray


def _connect(ray: Any, address: str) -> bool:
    """Connect this process to the cluster at ``address``; True when this call started the connection."""
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(include_dashboard=False, logging_level="warning", log_to_driver=False)
        else:
            ray.init(address=address, logging_level="warning", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        lines = str(err).strip().splitlines()
        raise InvalidInput(
            f"cannot reach the Ray cluster at {address!r} ({lines[0] if lines else err}); "
            "start one with `ray start --head`, or pass ray_address='local'"
        ) from None
    return True


def node_ips(ray: Any) -> set[str]:
    """The IP addresses of the cluster's live nodes."""
    return {node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive")}


def this_host_ips(ray: Any) -> set[str]:
    """The addresses by which this machine may appear among the nodes."""
    ips = {"127.0.0.1", "localhost", ray.util.get_node_ip_address()}
    try:
        ips.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    return ips


def _check_cluster(ray: Any, url: str, address: str, gpus_per_task: float) -> None:
    """Refuse a SQLite registry on a cluster that reaches beyond this machine, and GPUs it lacks."""
    from registry.engine import is_sqlite, parse_url

    if is_sqlite(parse_url(url)):
        remote = sorted(node_ips(ray) - this_host_ips(ray))
        if remote:
            raise InvalidInput(
                f"a SQLite registry lives on this machine, but the Ray cluster at {address!r} has "
                f"nodes on {', '.join(remote)}; use a PostgreSQL registry "
                "(postgresql+psycopg://USER@HOST/DB), or pass ray_address='local'"
            )
    gpus = ray.cluster_resources().get("GPU", 0)
    if gpus_per_task > gpus:
        raise InvalidInput(
            f"gpus_per_task={gpus_per_task:g} but the Ray cluster has {gpus:g} GPUs; "
            f"pass {arg('gpus_per_task', '0')} or add GPU nodes"
        )


def _ray_unit(unit: Unit, url: str) -> Outcome:
    """The body of one Ray task: run ``unit`` in the worker (its registry connection kept for the next)."""
    return run_unit(unit, url)


def run_on_ray(
    units: Sequence[Unit],
    url: str,
    address: str,
    *,
    gpus_per_task: float = 0,
    max_retries: int = 3,
    on_result: Callable[[str], None] = lambda status: None,
) -> list[Outcome]:
    """(status, message, value) of each unit, in order, each run as one Ray task on the cluster at ``address``.

    ``on_result(status)`` is called as each unit finishes (it drives the progress bar).
    """
    ray = import_ray()
    started = _connect(ray, address)
    try:
        _check_cluster(ray, url, address, gpus_per_task)
        task = ray.remote(_ray_unit).options(
            num_cpus=1, num_gpus=gpus_per_task, max_retries=max_retries, retry_exceptions=False
        )
        index = {task.remote(unit, url): i for i, unit in enumerate(units)}
        outcomes: list[Outcome] = [(FAILED, "not run", None)] * len(units)
        pending = list(index)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                outcomes[index[ref]] = _outcome(ray, ref)
                on_result(outcomes[index[ref]][0])
        return outcomes
    finally:
        if started:
            ray.shutdown()


def _outcome(ray: Any, ref: Any) -> Outcome:
    """The unit's (status, message, value); a task Ray gave up on (retries spent) is a failure with Ray's reason."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as err:
        lines = str(err).strip().splitlines()
        return FAILED, f"{type(err).__name__}: {lines[0] if lines else ''}"[:500], None
