"""PrioritySort: the queue order of pending pods (``plugins/queuesort``)."""

from __future__ import annotations

from kubelab.scheduler.queue import QueuedPodInfo, default_less

__all__ = ["PrioritySort"]


class PrioritySort:
    """Higher ``spec.priority`` first; among equals, the pod that has waited longest."""

    name = "PrioritySort"

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        return default_less(a, b)
