"""Facts about pods that controllers decide by: ready, available, active, and which to delete first.

Mirrors ``pkg/api/v1/pod/util.go`` (``IsPodReady``, ``IsPodAvailable``) and the pod
helpers of ``pkg/controller/controller_utils.go`` (``IsPodActive``, ``ActivePodsWithRanks``).
Every function only reads the pod, so read-only views from an informer cache are fine.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from kubelab.api.meta import parse_time

Pod = Mapping[str, Any]

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def ready_condition(pod: Pod) -> Mapping[str, Any] | None:
    """The pod's ``Ready`` condition, if it has one."""
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition  # type: ignore[no-any-return]
    return None


def is_pod_ready(pod: Pod) -> bool:
    """Whether the pod's ``Ready`` condition is ``True`` (``podutil.IsPodReady``)."""
    condition = ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def is_pod_available(pod: Pod, min_ready_seconds: int, now: float) -> bool:
    """Whether the pod has been ready for at least ``min_ready_seconds`` at ``now`` (epoch seconds)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    since = (ready_condition(pod) or {}).get("lastTransitionTime")
    return since is not None and parse_time(since) + min_ready_seconds < now


def is_pod_active(pod: Pod) -> bool:
    """Whether the pod still counts: not Succeeded or Failed, and not being deleted (``IsPodActive``)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def filter_active_pods(pods: Sequence[Pod]) -> list[Pod]:
    return [p for p in pods if is_pod_active(p)]


def deletion_cost(pod: Pod) -> int:
    """The pod's ``controller.kubernetes.io/pod-deletion-cost`` (0 if missing or not an int32)."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        cost = int(str(value))
    except ValueError:
        return 0
    return cost if -(2**31) <= cost < 2**31 else 0


def _ready_time(pod: Pod) -> float | None:
    if is_pod_ready(pod):
        since = (ready_condition(pod) or {}).get("lastTransitionTime")
        if since:
            return parse_time(since)
    return None


def _created(pod: Pod) -> float | None:
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    return parse_time(created) if created else None


def _max_restarts(pod: Pod) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def _log_rank(t: float, now: float) -> int:
    elapsed_ns = (now - t) * 1e9
    return int(math.log2(elapsed_ns)) if elapsed_ns > 0 else -1


def _newer_first(t1: float | None, t2: float | None, now: float | None, uid1: str, uid2: str) -> bool | None:
    """Whether pod 1 goes first because its time is later (a missing time goes first); None if a tie."""
    if t1 == t2:
        return None
    if now is None or t1 is None or t2 is None:
        if t1 is None or t2 is None:
            return t1 is None
        return t1 > t2
    # Times compared on a log scale (LogarithmicScaleDown): pods of about the same age are
    # ordered by uid, a pseudo-random but stable choice.
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    return uid1 < uid2 if diff == 0 else diff < 0


def delete_first(pod1: Pod, rank1: int, pod2: Pod, rank2: int, now: float | None) -> bool:
    """Whether ``pod1`` should be deleted before ``pod2`` when scaling down (``ActivePodsWithRanks.Less``).

    ``rank`` is how many related active pods share the pod's node. In order:
    unassigned before assigned; Pending before Unknown before Running; not ready before
    ready; lower ``pod-deletion-cost`` first; more pods on the same node first; ready for
    less time first; more container restarts first; newer before older.
    """
    node1 = (pod1.get("spec") or {}).get("nodeName") or ""
    node2 = (pod2.get("spec") or {}).get("nodeName") or ""
    if node1 != node2 and (not node1 or not node2):
        return not node1
    phase1 = _PHASE_ORDER.get((pod1.get("status") or {}).get("phase") or "", 0)
    phase2 = _PHASE_ORDER.get((pod2.get("status") or {}).get("phase") or "", 0)
    if phase1 != phase2:
        return phase1 < phase2
    ready1, ready2 = is_pod_ready(pod1), is_pod_ready(pod2)
    if ready1 != ready2:
        return not ready1
    cost1, cost2 = deletion_cost(pod1), deletion_cost(pod2)
    if cost1 != cost2:
        return cost1 < cost2
    if rank1 != rank2:
        return rank1 > rank2
    uid1 = (pod1.get("metadata") or {}).get("uid") or ""
    uid2 = (pod2.get("metadata") or {}).get("uid") or ""
    if ready1 and ready2:
        verdict = _newer_first(_ready_time(pod1), _ready_time(pod2), now, uid1, uid2)
        if verdict is not None:
            return verdict
    restarts1, restarts2 = _max_restarts(pod1), _max_restarts(pod2)
    if restarts1 != restarts2:
        return restarts1 > restarts2
    verdict = _newer_first(_created(pod1), _created(pod2), now, uid1, uid2)
    return bool(verdict)


def rank_for_deletion(pods: Sequence[Pod], related: Sequence[Pod], now: float | None) -> list[Pod]:
    """``pods`` sorted so the ones to delete first come first.

    Each pod's rank is the number of active pods in ``related`` on its node
    (``getPodsRankedByRelatedPodsOnSameNode``), so a node crowded with this workload's pods
    is relieved first.
    """
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(pod, on_node.get((pod.get("spec") or {}).get("nodeName") or "", 0)) for pod in pods]

    def compare(a: tuple[Pod, int], b: tuple[Pod, int]) -> int:
        if delete_first(a[0], a[1], b[0], b[1], now):
            return -1
        if delete_first(b[0], b[1], a[0], a[1], now):
            return 1
        return 0

    return [pod for pod, _ in sorted(ranked, key=functools.cmp_to_key(compare))]
