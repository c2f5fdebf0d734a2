"""NodeName: a pod that names its node runs only there (``plugins/nodename``)."""

from __future__ import annotations

from kubelab.scheduler.framework import ClusterEvent, CycleState, Status
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["ERR_REASON", "NodeName"]

ERR_REASON = "node(s) didn't match the requested node name"


class NodeName:
    """Reject every node but the one in ``spec.nodeName``, when the pod sets it."""

    name = "NodeName"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        wanted = pod.node_name
        if wanted and wanted != node.name:
            return Status.unresolvable(ERR_REASON)
        return None

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add")]
