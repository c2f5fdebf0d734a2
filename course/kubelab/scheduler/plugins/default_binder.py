"""DefaultBinder: tell the API server which node a pod runs on (``plugins/defaultbinder``)."""

from __future__ import annotations

from kubelab.scheduler.cache import Snapshot
from kubelab.scheduler.framework import CycleState, Status
from kubelab.scheduler.handle import Handle
from kubelab.scheduler.nodeinfo import PodInfo

__all__ = ["DefaultBinder", "binding"]


def binding(pod: PodInfo, node_name: str) -> dict[str, object]:
    """The Binding object POSTed to ``pods/<name>/binding`` (its uid guards against a recreated pod)."""
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"kind": "Node", "name": node_name},
    }


class DefaultBinder:
    """Bind through the ``binding`` subresource: the API server sets ``spec.nodeName`` and PodScheduled=True."""

    name = "DefaultBinder"

    def __init__(self) -> None:
        self.handle = Handle(Snapshot())

    def setup(self, handle: Handle) -> None:
        self.handle = handle

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        client = self.handle.client
        if client is None:
            return Status.error("no API client to bind with: the scheduler is not connected to a cluster")
        client.resource("v1", "pods").create(binding(pod, node_name), subresource="binding")
        return None
