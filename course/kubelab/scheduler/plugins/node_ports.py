"""NodePorts: two pods cannot listen on the same host port of a node (``plugins/nodeports``)."""

from __future__ import annotations

from kubelab.scheduler.framework import SKIP, ClusterEvent, CycleState, Status
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["ERR_REASON", "NodePorts"]

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
BIND_ALL = "0.0.0.0"


def port_conflicts(used: set[tuple[str, str, int]], wanted: tuple[str, str, int]) -> bool:
    """Whether ``(hostIP, protocol, hostPort)`` clashes with a used one (``HostPortInfo.CheckConflict``).

    ``0.0.0.0`` means every address: it clashes with the same port on any IP, and any IP
    clashes with it.
    """
    ip, protocol, port = wanted
    if ip == BIND_ALL:
        return any(p == port and proto == protocol for _, proto, p in used)
    return (BIND_ALL, protocol, port) in used or wanted in used


class NodePorts:
    """Reject nodes where another pod already holds one of this pod's ``hostPort``s."""

    name = "NodePorts"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        return None if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.used_ports and any(port_conflicts(node.used_ports, p) for p in pod.host_ports):
            return Status.unschedulable(ERR_REASON)
        return None

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Pod", "Delete"), ClusterEvent("Node", "Add")]
