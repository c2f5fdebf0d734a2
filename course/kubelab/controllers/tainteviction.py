"""The taint eviction controller: delete pods from nodes whose NoExecute taints they do not tolerate.

Mirrors ``pkg/controller/tainteviction/taint_eviction.go``. When a node gets a ``NoExecute``
taint (the node lifecycle controller adds ``node.kubernetes.io/unreachable`` to a node that
stopped reporting), each pod on it is looked at:

- a taint the pod does not tolerate: the pod is deleted now;
- all tolerated, some with ``tolerationSeconds``: the pod is deleted when the shortest of
  them runs out, counted from when the taint was seen (every pod tolerates ``unreachable``
  and ``not-ready`` for 300 s unless it says otherwise: the API server adds that);
- tolerated forever: nothing happens.

A deletion is announced with a ``TaintManagerEviction`` event ("Marking for deletion Pod
ns/name"); if the taint goes first (the node came back), the deletion is cancelled with
another ("Cancelling deletion of Pod ns/name"). The pod gets a ``DisruptionTarget``
condition, then is deleted gracefully: on a dead node it stays ``Terminating``, but its
controller replaces it at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubelab import errors
from kubelab.client import Resource
from kubelab.controllers import taints as taintutil
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.nodelifecycle import NODE_INDEX, node_index
from kubelab.runtime import Clock, Controller, EventRecorder, Informer, ReadOnlyDict, Result, rfc3339

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

DELETE_RETRIES = 5


def min_toleration_time(tolerations: Sequence[Obj]) -> float:
    """Seconds until the first used toleration runs out; -1 when all tolerate forever (``getMinTolerationTime``)."""
    if not tolerations:
        return 0.0
    seconds = [t["tolerationSeconds"] for t in tolerations if t.get("tolerationSeconds") is not None]
    if not seconds:
        return -1.0
    return float(max(0, min(seconds)))


def set_pod_condition(status: dict[str, Any], condition: dict[str, Any], now: str) -> bool:
    """Add or update a pod condition, keeping its transition time if its status did not change; True if changed."""
    conditions = status.setdefault("conditions", [])
    for current in conditions:
        if current.get("type") == condition["type"]:
            if all(current.get(k) == v for k, v in condition.items()):
                return False
            if current.get("status") != condition["status"]:
                current["lastTransitionTime"] = now
            current.update(condition)
            return True
    conditions.append({**condition, "lastTransitionTime": now})
    return True


@dataclass
class ScheduledEviction:
    created: float
    fire_at: float


class TaintEvictionController:
    """Evicts pods from nodes with NoExecute taints they do not tolerate (or no longer tolerate)."""

    name = "taint-eviction-controller"
    component = "taint-eviction-controller"

    def __init__(self, *, workers: int = 4) -> None:
        self.workers = workers
        self.tainted_nodes: dict[str, list[Obj]] = {}
        self.scheduled: dict[str, ScheduledEviction] = {}
        self._lock = threading.Lock()

    def start(self, context: ControllerContext) -> None:
        """Watch nodes and pods; start the update workers and the eviction workers."""
        self.clock: Clock = context.clock
        self.recorder: EventRecorder = context.recorder(self.component)
        self.pods_api: Resource = context.client.resource("v1", "pods")
        self.nodes: Informer = context.informers.informer("v1", "nodes")
        self.pods: Informer = context.informers.informer("v1", "pods", indexers={NODE_INDEX: node_index})
        self.updates = Controller(self.name, self.handle_update, workers=1, clock=context.clock)
        self.evictions = Controller(f"{self.name}-evictions", self.evict, workers=self.workers, clock=context.clock)
        for controller in (self.updates, self.evictions):
            controller.waits_for(self.nodes)
            controller.waits_for(self.pods)
        self.nodes.add_event_handler(self._node_added, self._node_updated, self._node_added)
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_added)
        self.updates.start()
        self.evictions.start()

    def stop(self) -> None:
        self.updates.stop()
        self.evictions.stop()

    # -- handlers: nodes whose NoExecute taints changed, pods whose node or tolerations changed -------------

    def _node_added(self, node: ReadOnlyDict) -> None:
        self.updates.queue.add(("node", node["metadata"]["name"]))

    def _node_updated(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if taintutil.no_execute_taints(old) != taintutil.no_execute_taints(new):
            self._node_added(new)

    def _pod_added(self, pod: ReadOnlyDict) -> None:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        self.updates.queue.add(("pod", f"{pod['metadata']['namespace']}/{pod['metadata']['name']}", node))

    def _pod_updated(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if (old.get("spec") or {}).get("tolerations") == (new.get("spec") or {}).get("tolerations") \
                and (old.get("spec") or {}).get("nodeName") == (new.get("spec") or {}).get("nodeName"):
            return
        self._pod_added(new)

    def handle_update(self, item: tuple[str, ...]) -> Result | None:
        if item[0] == "node":
            self.handle_node_update(item[1])
        else:
            self.handle_pod_update(item[1], item[2])
        return None

    def handle_node_update(self, name: str) -> None:
        """Remember the node's NoExecute taints and (re)consider every pod on it."""
        node = self.nodes.cache.get(name)
        if node is None:
            with self._lock:
                self.tainted_nodes.pop(name, None)
            return
        taints = taintutil.no_execute_taints(node)
        with self._lock:
            if taints:
                self.tainted_nodes[name] = taints
            else:
                self.tainted_nodes.pop(name, None)
        pods = self.pods.cache.by_index(NODE_INDEX, name)
        now = self.clock.now()
        for pod in pods:
            key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            if not taints:
                self.cancel(key)
            else:
                self.process_pod_on_node(key, (pod.get("spec") or {}).get("tolerations") or [], taints, now)

    def handle_pod_update(self, key: str, node_name: str) -> None:
        namespace, _, name = key.partition("/")
        pod = self.pods.cache.get(name, namespace)
        if pod is None:
            self.cancel(key)
            return
        if (pod.get("spec") or {}).get("nodeName") != node_name or not node_name:
            return
        with self._lock:
            taints = self.tainted_nodes.get(node_name)
        if taints is None:
            return
        self.process_pod_on_node(key, (pod.get("spec") or {}).get("tolerations") or [], taints, self.clock.now())

    # -- deciding (processPodOnNode) -----------------------------------------------------------------------

    def process_pod_on_node(self, key: str, tolerations: Sequence[Obj], taints: Sequence[Obj], now: float) -> None:
        """Schedule, keep or cancel the eviction of one pod given its node's NoExecute taints."""
        if not taints:
            self.cancel(key)
            return
        tolerated, used = taintutil.matching_tolerations(taints, tolerations)
        if not tolerated:
            self.cancel(key)
            self.schedule(key, now, now)
            return
        seconds = min_toleration_time(used)
        if seconds < 0:
            self.cancel(key)
            return
        with self._lock:
            if key in self.scheduled:
                # Counted from when the taint was first seen, not from this update.
                return
        self.schedule(key, now, now + seconds)

    def schedule(self, key: str, created: float, fire_at: float) -> None:
        with self._lock:
            self.scheduled[key] = ScheduledEviction(created, fire_at)
        self.evictions.queue.add_after(key, fire_at - self.clock.now())

    def cancel(self, key: str) -> None:
        with self._lock:
            cancelled = self.scheduled.pop(key, None)
        if cancelled is not None:
            namespace, _, name = key.partition("/")
            self.recorder.event(_pod_ref(namespace, name), "Normal", "TaintManagerEviction",
                                f"Cancelling deletion of Pod {key}")

    # -- evicting (deletePodHandler) ------------------------------------------------------------------------

    def evict(self, key: str) -> Result | None:
        """Delete a pod whose eviction is due (if it is still scheduled)."""
        with self._lock:
            scheduled = self.scheduled.get(key)
            if scheduled is None:
                return None
            wait = scheduled.fire_at - self.clock.now()
            if wait > 0:
                return Result(requeue_after=wait)
            del self.scheduled[key]
        namespace, _, name = key.partition("/")
        log.info("taint eviction: deleting pod %s", key)
        self.recorder.event(_pod_ref(namespace, name), "Normal", "TaintManagerEviction",
                            f"Marking for deletion Pod {key}")
        for attempt in range(DELETE_RETRIES):
            try:
                self.add_condition_and_delete(namespace, name)
                return None
            except errors.NotFound:
                return None
            except errors.ClientError:
                if attempt == DELETE_RETRIES - 1:
                    raise
        return None

    def add_condition_and_delete(self, namespace: str, name: str) -> None:
        pod = self.pods_api.get(name, namespace)
        status = pod.setdefault("status", {})
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                     "message": "Taint manager: deleting due to NoExecute taint"}
        if set_pod_condition(status, condition, rfc3339(self.clock.wall())):
            self.pods_api.update_status(pod)
        self.pods_api.delete(name, namespace)


def _pod_ref(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace, "name": name}}
