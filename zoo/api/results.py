"""Reading recorded transfer results: the prevailing metric/protocol, measured errors, JSON-safe figures."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.store import Store


def most_common(values: Iterable[str]) -> str | None:
    """The value seen most often (the first seen on a tie); None when there are none."""
    ranked = Counter(values).most_common(1)
    return ranked[0][0] if ranked else None


def json_safe(value: Any) -> Any:
    """Floats, lists and dicts only (NaN -> None, numpy scalars -> Python) so figures store as JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def measured_errors(store: Store, task: str, *, protocol: str | None = None, metric: str = "error") -> dict[str, float]:
    """{model: measured transfer error} on a registered ``task`` under one protocol.

    ``protocol`` None: the protocol with the most results on the task (a
    registry may also hold superseded protocols; they are never mixed).
    """
    results = [r for r in store.list_transfer_results(task=task) if r.metric == metric]
    if protocol is None:
        protocol = most_common(r.protocol for r in results)
    return {r.model: r.value for r in results if r.protocol == protocol}
