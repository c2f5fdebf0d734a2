"""TaintToleration: tainted nodes repel pods that do not tolerate the taint (``plugins/tainttoleration``)."""

from __future__ import annotations

from kubelab.scheduler.framework import ClusterEvent, CycleState, Status
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo
from kubelab.scheduler.plugins.helper import (
    default_normalize_score,
    find_matching_untolerated_taint,
    tolerations_tolerate_taint,
)

__all__ = ["TaintToleration"]

PRE_SCORE_KEY = "PreScoreTaintToleration"


class TaintToleration:
    """Filter: reject a node with a ``NoSchedule`` or ``NoExecute`` taint the pod does not tolerate.

    Score: fewer untolerated ``PreferNoSchedule`` taints is better.
    """

    name = "TaintToleration"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        taint = find_matching_untolerated_taint(node.taints, pod.spec.get("tolerations") or ())
        if taint is None:
            return None
        return Status.unresolvable(
            f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"
        )

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        tolerations = [
            t for t in pod.spec.get("tolerations") or () if t.get("effect") in (None, "", "PreferNoSchedule")
        ]
        state.write(PRE_SCORE_KEY, tolerations)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tolerations = state.read(PRE_SCORE_KEY)
        return sum(
            1 for taint in node.taints
            if taint.get("effect") == "PreferNoSchedule" and not tolerations_tolerate_taint(tolerations, taint)
        )

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize_score(scores, reverse=True)

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeTaint")]
