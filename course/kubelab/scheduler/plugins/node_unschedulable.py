"""NodeUnschedulable: cordoned nodes take no new pods (``plugins/nodeunschedulable``)."""

from __future__ import annotations

from kubelab.scheduler.framework import ClusterEvent, CycleState, Status
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo
from kubelab.scheduler.plugins.helper import tolerations_tolerate_taint

__all__ = ["ERR_REASON_UNSCHEDULABLE", "NodeUnschedulable"]

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
TAINT_NODE_UNSCHEDULABLE = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    """Reject nodes with ``spec.unschedulable`` (``kubectl cordon``), unless the pod tolerates that."""

    name = "NodeUnschedulable"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable:
            return None
        # A pod that tolerates the unschedulable taint (DaemonSet pods do) also tolerates the flag.
        if tolerations_tolerate_taint(pod.spec.get("tolerations") or (), TAINT_NODE_UNSCHEDULABLE):
            return None
        return Status.unresolvable(ERR_REASON_UNSCHEDULABLE)

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeTaint")]
