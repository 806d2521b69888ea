"""The registry side of ``zoo bench build``: the callbacks :func:`zoo.bench.build.build` calls.

:class:`BenchRegistry` adds what the build produces (task folders, their embeddings,
experts, transfer results) to one store, each only when it is missing, so a rerun
or a resumed build leaves the registry as it was. Given a :class:`Deferred`, it
registers the tasks but only collects the experts to train, the embeddings to
compute and the pairs to measure, which :mod:`zoo.api.jobs_bench` then runs on Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import AlreadyExists, NotFound

if TYPE_CHECKING:
    from registry.store import Store
    from zoo.api.embedding import Embeddings
    from zoo.bench.build import Registry
    from zoo.bench.experts import ExpertJob, ExpertSpec
    from zoo.bench.sizes import BenchSize


@dataclass
class Deferred:
    """What a build leaves to units elsewhere (Ray), in the order the build met them."""

    experts: list[tuple[ExpertSpec, ExpertJob]] = field(default_factory=list)  # to train and register
    embeddings: list[tuple[str, str, str]] = field(default_factory=list)  # (task, probe source, method)
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (model, task) to measure


class BenchRegistry:
    """The operations of :class:`zoo.bench.build.Registry` over ``store``, for a bench of size ``spec``.

    With ``deferred`` the experts, embeddings and transfer pairs the build asks for are
    collected there instead of computed (see :meth:`registry`).
    """

    def __init__(
        self, store: Store, embeddings: Embeddings, spec: BenchSize, *, deferred: Deferred | None = None
    ) -> None:
        from zoo.transfer import ProtocolParams

        self.store = store
        self.embeddings = embeddings
        self.spec = spec
        self.params = ProtocolParams().as_dict()
        self.deferred = deferred

    def registry(self) -> Registry:
        """These operations as the build's :class:`zoo.bench.build.Registry`.

        Deferring, the build trains, embeds and measures nothing itself: every
        expert goes to ``deferred.experts``, every missing embedding to
        ``deferred.embeddings`` and every unmeasured pair to ``deferred.pairs``.
        """
        from zoo.bench.build import Registry

        deferring = self.deferred is not None
        return Registry(
            ensure_task=self.ensure_task,
            ensure_embedding=self._defer_embedding if deferring else self.ensure_embedding,
            ensure_model=self.ensure_model,
            has_transfer=self._defer_transfer if deferring else self.has_transfer,
            add_transfer=self.add_transfer,
            ensure_expert=(lambda expert, job: self.deferred.experts.append((expert, job))) if deferring else None,
        )

    def _embedded(self, task: str, probe: str, method: str) -> bool:
        """Whether ``task`` has its ``method`` embedding by the probe the source ``probe`` names (another
        probe's, e.g. before ``--train-probe``, does not count)."""
        return bool(
            self.store.list_task_embeddings(task=task, probe=self.embeddings.probes.name_of(probe), method=method)
        )

    def _defer_embedding(self, task: str, folder: Path, probe: str, method: str) -> bool:
        """Collect the ``method`` embedding of ``task`` unless it has one; False (nothing computed here)."""
        if not self._embedded(task, probe, method):
            self.deferred.embeddings.append((task, probe, method))
        return False

    def _defer_transfer(self, model: str, task: str) -> bool:
        """Collect the pair unless measured (a model not registered yet has no results); True: not measured here."""
        try:
            measured = self.has_transfer(model, task)
        except NotFound:
            measured = False
        if not measured:
            self.deferred.pairs.append((model, task))
        return True

    def ensure_task(self, folder: Path) -> None:
        """Register the task rendered in ``folder`` (its ``task.json``) unless its name is registered."""
        from registry.locations import bench_root, bench_uri
        from zoo.collections.tasks import read_task
        from zoo.data import fingerprint, load_labelled

        record = read_task(folder)
        try:
            self.store.get_task(record["name"])
            return
        except NotFound:
            pass
        self.store.add_task(
            record["name"],
            data_uri=bench_uri(folder, bench_root()) or str(Path(folder).resolve()),
            num_classes=len(record["classes"]),
            num_samples=int(record["counts"]["train"]),
            fingerprint=fingerprint(load_labelled(folder)),
            taxonomy=f"{record['collection']}/{record['taxonomy']}",
        )

    def ensure_embedding(self, task: str, folder: Path, probe: str, method: str) -> bool:
        """Embed ``task`` from ``folder`` unless it has a ``method`` embedding by ``probe``; True when one was
        computed."""
        if self._embedded(task, probe, method):
            return False
        self.embeddings.embed_task(
            str(folder),
            name=task,
            probe=probe,
            method=method,
            max_samples=self.spec.embed_max_samples,
            seed=0,
            progress=False,
        )
        return True

    def ensure_model(self, expert: Any, path: Path) -> None:
        """Register ``expert`` (a :mod:`zoo.bench.experts` plan entry) from ``path`` unless it is registered."""
        register_once(self.store, expert, path)

    def has_transfer(self, model: str, task: str) -> bool:
        """Whether the error of ``model`` on ``task`` is recorded under the current protocol and its parameters."""
        from zoo.transfer import PROTOCOL

        return any(
            r.protocol_params == self.params and r.metric == "error"
            for r in self.store.list_transfer_results(model=model, task=task, protocol=PROTOCOL)
        )

    def add_transfer(self, model: str, task: str, result: dict) -> None:
        """Record ``result`` (``error``, ``train_size``, ``test_size``) of ``model`` on ``task``."""
        from zoo.transfer import PROTOCOL

        self.store.add_transfer_result(
            model,
            task,
            metric="error",
            value=result["error"],
            protocol=PROTOCOL,
            protocol_params=self.params,
            train_size=result["train_size"],
            test_size=result["test_size"],
        )


def register_once(store: Store, expert: Any, path: Path, root: str | Path | None = None) -> bool:
    """Register ``expert`` from ``path`` unless its name is registered (one transaction); True when it was added.

    A concurrent registration of the same name (a retried unit) counts as already there.
    """
    try:
        store.get_model(expert.name)
        return False
    except NotFound:
        pass
    try:
        register_expert(store, expert, path, root)
    except AlreadyExists:
        return False
    return True


def register_expert(store: Store, expert: Any, path: Path, root: str | Path | None = None) -> None:
    """Register a bench expert (a :class:`zoo.bench.experts` plan entry) from its weights file and sidecar.

    ``root``: the bench data root its source is recorded against (``bench:REL`` inside it,
    else ``file:`` the absolute path); default :func:`registry.locations.bench_root`.
    """
    import json

    from registry.locations import bench_root, bench_uri
    from zoo.networks import weights_checksum

    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    origin = "fine-tuned from the probe" if expert.init == "probe" else "from scratch"
    root = bench_root() if root is None else root
    source = bench_uri(path, root) or f"file:{Path(path).resolve()}"  # bench: inside the bench data root
    store.add_model(
        expert.name,
        source,
        arch=expert.arch,
        num_params=sidecar.get("num_params"),
        checksum=weights_checksum(path),
        trained_on=expert.trained_on,
        description=f"bench expert ({expert.tags.get('kind')}): {expert.arch} {origin}"
        f" on {len(expert.tasks)} task(s), {expert.steps} steps",
        tags={
            **{k: str(v) for k, v in expert.tags.items()},
            "arch": expert.arch,
            "classes": str(sidecar["num_classes"]),
        },
    )
