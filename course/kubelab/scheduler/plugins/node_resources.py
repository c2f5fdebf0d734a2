"""NodeResourcesFit and NodeResourcesBalancedAllocation (``plugins/noderesources``).

Fit filters out nodes without room for the pod's requests (CPU, memory, pod count,
extended resources) and, as a score, prefers the least allocated nodes.
BalancedAllocation prefers nodes whose CPU and memory would be used in equal shares.
Both compare *requests*, never actual usage: the scheduler books capacity, it does not
measure it.
"""

from __future__ import annotations

import math

from kubelab.scheduler.framework import MAX_NODE_SCORE, SKIP, ClusterEvent, CycleState, Status
from kubelab.scheduler.nodeinfo import NON_ZERO_DEFAULTS, NodeInfo, PodInfo, Resource, pod_requests

__all__ = ["BalancedAllocation", "Fit", "least_requested_score"]

PRE_SCORE_FIT = "PreScoreNodeResourcesFit"
PRE_SCORE_BALANCED = "PreScoreNodeResourcesBalancedAllocation"


def insufficient_resources(request: Resource, node: NodeInfo) -> list[str]:
    """The reasons the node cannot take a pod asking for ``request`` (``fitsRequest``)."""
    reasons = []
    allocatable, requested = node.allocatable, node.requested
    if len(node.pods) + 1 > allocatable.allowed_pod_number:
        reasons.append("Too many pods")
    if not (request.milli_cpu or request.memory or request.ephemeral_storage or request.scalar):
        return reasons
    # Only what the pod asks for: a node already overcommitted on memory still takes a CPU-only pod.
    if request.milli_cpu > 0 and allocatable.milli_cpu < request.milli_cpu + requested.milli_cpu:
        reasons.append("Insufficient cpu")
    if request.memory > 0 and allocatable.memory < request.memory + requested.memory:
        reasons.append("Insufficient memory")
    if request.ephemeral_storage > 0 and (
        allocatable.ephemeral_storage < request.ephemeral_storage + requested.ephemeral_storage
    ):
        reasons.append("Insufficient ephemeral-storage")
    for name, amount in request.scalar.items():
        if amount > 0 and allocatable.scalar.get(name, 0) < amount + requested.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def least_requested_score(requested: int, capacity: int) -> int:
    """100 for an empty node, 0 for a full one: the share left free, out of 100."""
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


class Fit:
    """Filter: the node's allocatable minus what its pods request must cover this pod's requests.

    Score (``LeastAllocated``): the average, over CPU and memory, of the share of the node
    still free once the pod is placed. Containers without requests count as 100m CPU and
    200Mi memory here, so best-effort pods do not all pile onto one node.
    """

    name = "NodeResourcesFit"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        reasons = insufficient_resources(pod.requests, node)
        return Status.unschedulable(*reasons) if reasons else None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        requests = pod_requests(pod.pod, NON_ZERO_DEFAULTS)
        state.write(PRE_SCORE_FIT, (requests.get("cpu", 0), requests.get("memory", 0)))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        cpu, memory = state.read(PRE_SCORE_FIT)
        allocatable, requested = node.allocatable, node.non_zero_requested
        total = weights = 0
        if allocatable.milli_cpu:
            total += least_requested_score(requested.milli_cpu + cpu, allocatable.milli_cpu)
            weights += 1
        if allocatable.memory:
            total += least_requested_score(requested.memory + memory, allocatable.memory)
            weights += 1
        return total // weights if weights else 0

    def events_to_register(self) -> list[ClusterEvent]:
        return [
            ClusterEvent("Pod", "Delete"),
            ClusterEvent("Node", "Add"),
            ClusterEvent("Node", "UpdateNodeAllocatable"),
        ]


class BalancedAllocation:
    """Score: nodes where CPU and memory would be used in equal shares score highest.

    With ``f`` the share of each resource requested once the pod is placed, the score is
    ``(1 - |f_cpu - f_memory| / 2) * 100``. Pods that request nothing are not scored.
    """

    name = "NodeResourcesBalancedAllocation"

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        cpu, memory = pod.requests.milli_cpu, pod.requests.memory
        if cpu == 0 and memory == 0:
            return SKIP
        state.write(PRE_SCORE_BALANCED, (cpu, memory))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        cpu, memory = state.read(PRE_SCORE_BALANCED)
        allocatable, requested = node.allocatable, node.requested
        if not (allocatable.milli_cpu and allocatable.memory):
            return MAX_NODE_SCORE  # one resource alone is always balanced
        cpu_share = min(1.0, (requested.milli_cpu + cpu) / allocatable.milli_cpu)
        memory_share = min(1.0, (requested.memory + memory) / allocatable.memory)
        # The standard deviation of two shares is half their difference.
        return math.trunc((1 - abs(cpu_share - memory_share) / 2) * MAX_NODE_SCORE)
