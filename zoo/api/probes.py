"""Probes: load a probe network once per connection, name it, and pick the default one.

``Probes.choose`` is the one rule every part of the API uses when a caller
leaves the probe (or the method) out; see its docstring.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, NotFound, arg
from zoo.embedding import DEFAULT_METHOD

if TYPE_CHECKING:
    from registry.store import Store
    from zoo.embedding.probe import Probe


class ProbeName(str):
    """A probe's registry name (a ``str``); ``.info`` is its :class:`zoo.embedding.probe.ProbeInfo`."""

    info: Any


class Probes:
    """Probe resolution over one registry, with the loaded probes kept for the connection's life."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: (spec, arch, allow_random) -> loaded Probe: embedding many tasks loads the weights once
        self.loaded: dict[tuple[str, str | None, bool], Probe] = {}

    # ------------------------------------------------------------------ loading
    def load(self, spec: Any = "bundled", *, arch: str | None = None, allow_random: bool = False) -> Probe:
        """A loaded :class:`zoo.embedding.probe.Probe` for a spec, a registered probe name or a module."""
        from zoo.embedding.probe import Probe, resolve_probe
        from zoo.networks import parse_source

        if isinstance(spec, Probe) or not isinstance(spec, str):
            return resolve_probe(spec, allow_random=allow_random)
        key = (spec, arch, allow_random)
        if key in self.loaded:
            return self.loaded[key]
        try:
            parse_source(spec)
        except InvalidInput:
            probe = self._registered(spec, arch=arch, allow_random=allow_random)
        else:
            probe = resolve_probe(spec, arch=arch, allow_random=allow_random)
        self.loaded[key] = probe
        return probe

    def _registered(self, name: str, *, arch: str | None, allow_random: bool) -> Probe:
        """Load a probe given by its registry name: a timm name, or the bundled probe's name."""
        from zoo.embedding.probe import resolve_probe
        from zoo.networks import parse_source

        try:
            self.store.get_probe(name)
        except NotFound:
            try:
                parse_source(name)  # raises the one-line "unknown source" error
            except InvalidInput as err:
                raise InvalidInput(self._naming_registered(err.message), param=err.param) from None
            raise
        for candidate in ("bundled", f"timm:{name}"):
            try:
                probe = resolve_probe(candidate, arch=arch, allow_random=allow_random)
            except InvalidInput:
                continue
            if probe.info.name == name:
                return probe
        raise InvalidInput(
            f"probe {name!r} is registered but where its weights live is not: pass "
            f"{arg('probe', 'SPEC')} as bundled, timm:NAME or file:PATH (with {arg('arch', 'ARCH')})"
        )

    def _naming_registered(self, message: str) -> str:
        """``message`` (what to pass instead of an unknown probe) with the registered probes' names first."""
        names = sorted(p.name for p in self.store.list_probes())
        if not names:
            return message
        shown = ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")
        head, sep, rest = message.partition(": use ")
        if not sep:
            return f"{message}; registered probes: {shown}"
        return f"{head}: use a registered probe ({shown}), {rest}"

    def resolve(self, spec: Any = "bundled", *, arch: str | None = None, allow_random: bool = False) -> ProbeName:
        """The registry name of the probe ``spec`` names (a str; ``.info`` holds its ProbeInfo)."""
        probe = self.load(spec, arch=arch, allow_random=allow_random)
        name = ProbeName(probe.info.name)
        name.info = probe.info
        return name

    def name_of(self, probe: Any) -> str:
        """The registry name of ``probe``: a registered name as it is, else the name of the probe it specifies."""
        if isinstance(probe, str):
            try:
                return self.store.get_probe(probe).name
            except NotFound:
                pass
        return str(self.resolve(probe))

    # ------------------------------------------------------------------ the default probe
    def with_runs(self, method: str) -> list[str]:
        """Names of the probes that have a Model2Vec run for ``method``."""
        return [p.name for p in self.store.list_probes() if self._has_run(p.name, method)]

    def _has_run(self, probe: str, method: str) -> bool:
        try:
            self.store.latest_model2vec_run(probe, method)
        except NotFound:
            return False
        return True

    def choose(
        self, probe: Any = None, method: str | None = DEFAULT_METHOD, *, tasks: Iterable[str] | None = None
    ) -> tuple[str, str]:
        """The (probe, method) pair to use when the caller gives ``probe`` and/or ``method`` or leaves them out.

        The one rule: a given probe is used as it is (by its registry name);
        a given method likewise. Whatever is left out is taken from the task
        embeddings, counted over ``tasks`` (one task, a set of tasks, or all
        when None). Candidate pairs rank by

        1. having a Model2Vec run (the learned model embeddings live there),
        2. then the number of tasks embedded with them,
        3. then the default method (:data:`zoo.embedding.DEFAULT_METHOD`);

        the first wins, unless the second ranks equal on all three: then the
        choice is ambiguous and the error names the candidates. Scoped to one
        task, this is "the only probe the task is embedded with"; over the
        whole registry with a fixed method, it is "the probe of the only
        Model2Vec run, else the only probe with data"; with the method left
        out too, it is "the pair with the most tasks" (the figures' default).
        No candidates: NotFound saying what to embed.
        """
        given = self._name_without_arch(probe) if probe is not None else None
        if given is not None and method is not None:
            return given, method
        scope = None if tasks is None else set(tasks)
        counts = Counter(
            (e.probe, e.method)
            for e in self.store.list_task_embeddings(probe=given, method=method)
            if scope is None or e.task in scope
        )
        if not counts:
            raise _nothing_embedded(given, method, scope)
        runs = {pair: self._has_run(*pair) for pair in counts}

        def rank(pair: tuple[str, str]) -> tuple[bool, int, bool]:
            return runs[pair], counts[pair], pair[1] == DEFAULT_METHOD

        ranked = sorted(counts)  # by name, so equal ranks list in name order
        ranked.sort(key=rank, reverse=True)
        tied = [pair for pair in ranked if rank(pair) == rank(ranked[0])]
        if len(tied) > 1:
            names = ", ".join(p if method is not None else f"{p}/{m}" for p, m in tied)
            raise InvalidInput(
                f"several probes have data ({names}); pass {arg('probe', 'NAME')}"
                + ("" if method is not None else f" and {arg('method', 'M')}")
            )
        return ranked[0]

    def _name_without_arch(self, probe: Any) -> str:
        """:meth:`name_of` for a caller that has no architecture to give (recommend, train-model2vec, ...).

        Its ``arch`` would be something else there (recommend's is a filter on
        the candidates), so an error that asks for the probe's architecture asks
        for the sidecar file that names it instead.
        """
        try:
            return self.name_of(probe)
        except InvalidInput as err:
            if "{arg:arch" not in err.message:
                raise
            raise InvalidInput(_ARCH_REF.sub(_sidecar_advice, err.message), param="probe") from None

    def default(self, probe: Any = None, method: str = DEFAULT_METHOD, *, task: str | None = None) -> str:
        """The probe name :meth:`choose` picks for a fixed ``method`` (scoped to ``task`` when given)."""
        if task is not None and probe is None:
            self.store.get_task(task)  # NotFound for an unknown task
        return self.choose(probe, method, tasks=None if task is None else (task,))[0]


#: registered probe names an unknown-probe error lists at most
_LISTED = 5

_ARCH_REF = re.compile(r"\{arg:arch(?:=([^{}]*))?\}")


def _sidecar_advice(match: re.Match) -> str:
    """A reference to the probe's architecture, as the JSON file beside file:PATH's weights that names it."""
    return f'{{"arch": "{match.group(1) or "ARCH"}"}} in a sidecar PATH.json beside the weights'


def _nothing_embedded(probe: str | None, method: str | None, scope: set[str] | None) -> NotFound:
    if scope is not None and len(scope) == 1:
        task = next(iter(scope))
        kind = f"{method} embedding" if method else "embedding"
        return NotFound(f"task {task!r} has no {kind}; run `zoo embed-task {task}`")
    wanted = " and ".join(f"{k} {v!r}" for k, v in (("probe", probe), ("method", method)) if v)
    return NotFound(
        f"no task embeddings{' with ' + wanted if wanted else ''}; "
        "embed tasks first with `zoo embed-task NAME --data DIR`"
    )
