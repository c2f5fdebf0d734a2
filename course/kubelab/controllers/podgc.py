"""The pod garbage collector: force-delete pods that nothing else will ever finish deleting.

Mirrors ``pkg/controller/podgc/gc_controller.go``. Every ``gc_check_period`` seconds it looks
for, and deletes with a grace period of 0 (after marking them ``Failed``):

- pods bound to a node that no longer exists (checked again with the API server after a
  ``quarantine`` of 40 s, in case the node is only missing from the cache): no kubelet will
  ever stop them. They get the ``DisruptionTarget`` condition "PodGC: node no longer exists".
  This is what cleans up after ``kubectl delete node`` on a dead node;
- pods being deleted that were never scheduled;
- pods being deleted on a node that is not Ready and carries the
  ``node.kubernetes.io/out-of-service`` taint (an administrator declared it dead);
- the oldest finished (Succeeded / Failed) pods beyond ``terminated_pod_threshold``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.api.meta import parse_time
from kubelab.client import Resource
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.tainteviction import set_pod_condition
from kubelab.runtime import Clock, Informer, deep_copy, rfc3339

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

GC_CHECK_PERIOD = 20.0
QUARANTINE = 40.0
TERMINATED_POD_THRESHOLD = 12500
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


def is_terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Pending", "Running", "Unknown")


def is_node_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def eviction_then_age(pod: Obj) -> tuple[bool, float, str]:
    """Evicted pods first, then the oldest (``byEvictionAndCreationTimestamp``)."""
    status = pod.get("status") or {}
    evicted = status.get("phase") == "Failed" and status.get("reason") == "Evicted"
    created = pod["metadata"].get("creationTimestamp")
    return not evicted, parse_time(created) if created else 0.0, pod["metadata"]["name"]


class PodGCController:
    """Force-deletes orphaned, unscheduled-terminating and out-of-service pods, and surplus finished ones."""

    name = "podgc"
    component = "pod-garbage-collector"

    def __init__(self, *, gc_check_period: float = GC_CHECK_PERIOD, quarantine: float = QUARANTINE,
                 terminated_pod_threshold: int = TERMINATED_POD_THRESHOLD) -> None:
        self.gc_check_period = gc_check_period
        self.quarantine = quarantine
        self.terminated_pod_threshold = terminated_pod_threshold
        self.quarantined: dict[str, float] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, context: ControllerContext) -> None:
        """Watch pods and nodes; start the periodic pass."""
        self.clock: Clock = context.clock
        self.pods_api: Resource = context.client.resource("v1", "pods")
        self.nodes_api: Resource = context.client.resource("v1", "nodes")
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.nodes: Informer = context.informers.informer("v1", "nodes")
        self._thread = threading.Thread(target=self._run, name=self.component, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        for informer in (self.pods, self.nodes):
            while not informer.wait_for_sync(0.1):
                if self._stopping.is_set():
                    return
        condition = threading.Condition()
        while not self._stopping.is_set():
            try:
                self.gc()
            except Exception:
                log.exception("pod gc: a pass failed")
            deadline = self.clock.now() + self.gc_check_period
            with condition:
                while not self._stopping.is_set() and self.clock.now() < deadline:
                    self.clock.wait(condition, min(deadline - self.clock.now(), 0.1))

    def gc(self) -> None:
        """One pass over every pod."""
        pods = self.pods.cache.list()
        nodes = {n["metadata"]["name"]: n for n in self.nodes.cache.list()}
        if self.terminated_pod_threshold > 0:
            self.gc_terminated(pods)
        self.gc_terminating(pods, nodes)
        self.gc_orphaned(pods, nodes)
        self.gc_unscheduled_terminating(pods)

    def gc_terminated(self, pods: Sequence[Obj]) -> None:
        terminated = [p for p in pods if is_terminated(p)]
        surplus = len(terminated) - self.terminated_pod_threshold
        if surplus <= 0:
            return
        log.info("pod gc: deleting %d finished pods beyond the threshold of %d", surplus, self.terminated_pod_threshold)
        for pod in sorted(terminated, key=eviction_then_age)[:surplus]:
            self.mark_failed_and_delete(pod)

    def gc_terminating(self, pods: Sequence[Obj], nodes: Mapping[str, Obj]) -> None:
        for pod in pods:
            if not pod["metadata"].get("deletionTimestamp"):
                continue
            node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
            if node is None or is_node_ready(node):
                continue
            if any(t.get("key") == OUT_OF_SERVICE_TAINT for t in (node.get("spec") or {}).get("taints") or ()):
                self.mark_failed_and_delete(pod)

    def gc_orphaned(self, pods: Sequence[Obj], nodes: Mapping[str, Obj]) -> None:
        """Delete pods of nodes missing for a whole quarantine (and confirmed gone by the API server)."""
        now = self.clock.now()
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node and node not in nodes:
                self.quarantined.setdefault(node, now + self.quarantine)
        deleted = set()
        for node, ready_at in list(self.quarantined.items()):
            if ready_at > now:
                continue
            del self.quarantined[node]
            if node in nodes:
                continue
            try:
                self.nodes_api.get(node)
            except errors.NotFound:
                deleted.add(node)
            except errors.ClientError as e:
                log.warning("pod gc: could not check node %s, will look again: %s", node, e)
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in deleted:
                log.info("pod gc: pod %s/%s is on deleted node %s; deleting it",
                         pod["metadata"]["namespace"], pod["metadata"]["name"], pod["spec"]["nodeName"])
                self.mark_failed_and_delete(pod, {"type": "DisruptionTarget", "status": "True",
                                                  "reason": "DeletionByPodGC",
                                                  "message": "PodGC: node no longer exists"})

    def gc_unscheduled_terminating(self, pods: Sequence[Obj]) -> None:
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                self.mark_failed_and_delete(pod)

    def mark_failed_and_delete(self, pod: Obj, condition: dict[str, Any] | None = None) -> None:
        """Mark the pod Failed (no kubelet will), then delete it with a grace period of 0."""
        meta = pod["metadata"]
        try:
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                failed = deep_copy(pod)
                status = failed.setdefault("status", {})
                status["phase"] = "Failed"
                if condition is not None:
                    set_pod_condition(status, condition, rfc3339(self.clock.wall()))
                self.pods_api.update_status(failed)
            self.pods_api.delete(meta["name"], meta["namespace"], grace_period_seconds=0)
        except errors.NotFound:
            return
        except errors.ClientError as e:
            log.warning("pod gc: could not delete pod %s/%s: %s", meta["namespace"], meta["name"], e)
