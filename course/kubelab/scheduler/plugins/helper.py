"""Small helpers plugins share: score normalization and taint toleration (``plugins/helper``, ``v1helper``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from kubelab.scheduler.framework import MAX_NODE_SCORE

__all__ = [
    "default_normalize_score",
    "find_matching_untolerated_taint",
    "tolerates_taint",
    "tolerations_tolerate_taint",
]

DO_NOT_SCHEDULE_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def default_normalize_score(scores: dict[str, int], reverse: bool = False, max_priority: int = MAX_NODE_SCORE) -> None:
    """Scale scores so the highest becomes ``max_priority``; ``reverse`` makes the lowest best.

    All zeros stay zero (or all become ``max_priority`` when reversed) (``DefaultNormalizeScore``).
    """
    highest = max(scores.values(), default=0)
    if highest == 0:
        if reverse:
            for name in scores:
                scores[name] = max_priority
        return
    for name, score in scores.items():
        scaled = max_priority * score // highest
        scores[name] = max_priority - scaled if reverse else scaled


def tolerates_taint(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Whether one toleration tolerates one taint (``Toleration.ToleratesTaint``).

    An empty effect or key in the toleration matches any; ``Exists`` ignores the value,
    ``Equal`` (the default) compares it.
    """
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerations_tolerate_taint(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(tolerates_taint(t, taint) for t in tolerations)


def find_matching_untolerated_taint(
    taints: Iterable[Mapping[str, Any]],
    tolerations: Collection[Mapping[str, Any]],
    effects: Collection[str] = DO_NOT_SCHEDULE_EFFECTS,
) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` that no toleration tolerates, or None."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None
