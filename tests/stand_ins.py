"""Stand-ins for the node side in controller tests: a binder and a kubelet that run nothing.

:class:`TinyBinder` binds each pending pod to the next node in turn, through
``pods/binding`` as the scheduler does. :class:`MinimalKubelet` registers the nodes and
runs no containers. Each pod bound to one of its nodes becomes Running and Ready (at
once, or after ``ready_after`` seconds, or the seconds its annotation ``READY_AFTER`` says); a pod whose image is in ``never_ready`` stays
Running but not Ready, as a crashing app would. A pod being deleted is removed for good
(``gracePeriodSeconds=0``), as a kubelet does once its containers have stopped. Built on
:mod:`kubelab.runtime`, like every component.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any

from kubelab import errors
from kubelab.client import Client
from kubelab.runtime import Controller, Informer, Result, deep_copy, rfc3339, split_meta_namespace_key
from kubelab.runtime.clock import REAL_CLOCK

READY_AFTER = "test.kubelab.dev/ready-after"


def node(name: str) -> dict[str, Any]:
    resources = {"cpu": "16", "memory": "64Gi", "pods": "250"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}],
        },
    }


class TinyBinder:
    """Binds every pod without a node to ``nodes`` in turn."""

    def __init__(self, client: Client, nodes: tuple[str, ...] = ("node-1", "node-2", "node-3")) -> None:
        self.pods_api = client.resource("v1", "pods")
        self.nodes = itertools.cycle(nodes)
        self.pods = Informer(self.pods_api, name="binder pods")
        self.controller = Controller("binder", self.reconcile, workers=4)
        self.controller.watches(self.pods)
        self._lock = threading.Lock()

    def start(self) -> None:
        self.pods.start()
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.pods.stop()

    def reconcile(self, key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        pod = self.pods.cache.get(name, namespace)
        if pod is None or pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return
        with self._lock:
            target = next(self.nodes)
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": target}}
        # NotFound: deleted meanwhile; Conflict: already bound.
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            self.pods_api.create(binding, namespace, subresource="binding")


class MinimalKubelet:
    """Plays the kubelet of ``nodes`` for every pod bound to them."""

    def __init__(self, client: Client, nodes: tuple[str, ...] = ("node-1", "node-2", "node-3"),
                 ready_after: float = 0.0, never_ready: frozenset[str] = frozenset()) -> None:
        self.client = client
        self.nodes = nodes
        self.ready_after = ready_after
        self.never_ready = never_ready
        self.pods_api = client.resource("v1", "pods")
        self.pods = Informer(self.pods_api, name="kubelet pods")
        self.controller = Controller("kubelet", self.reconcile, workers=4)
        self.controller.watches(self.pods)
        self._lock = threading.Lock()
        self._running_since: dict[str, float] = {}

    def start(self) -> None:
        nodes_api = self.client.resource("v1", "nodes")
        for name in self.nodes:
            try:
                created = nodes_api.create(node(name))
            except errors.AlreadyExists:
                continue
            created["status"] = node(name)["status"]
            nodes_api.update_status(created)
        self.pods.start()
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.pods.stop()

    def reconcile(self, key: str) -> Result | None:
        namespace, name = split_meta_namespace_key(key)
        pod = self.pods.cache.get(name, namespace)
        if pod is None or pod["spec"].get("nodeName") not in self.nodes:
            return None
        if pod["metadata"].get("deletionTimestamp"):
            with contextlib.suppress(errors.NotFound):
                self.pods_api.delete(name, namespace, grace_period_seconds=0)
            return None
        now = REAL_CLOCK.now()
        with self._lock:
            since = self._running_since.setdefault(key, now)
        image = pod["spec"]["containers"][0].get("image")
        ready_after = float((pod["metadata"].get("annotations") or {}).get(READY_AFTER, self.ready_after))
        ready = image not in self.never_ready and now - since >= ready_after
        status = pod.get("status") or {}
        is_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        if status.get("phase") == "Running" and is_ready == ready:
            return None
        self.pods_api.update_status(self._running(deep_copy(pod), ready))
        if not ready and image not in self.never_ready:
            return Result(requeue_after=ready_after - (now - since))
        return None

    def _running(self, pod: dict[str, Any], ready: bool) -> dict[str, Any]:
        stamp = rfc3339(REAL_CLOCK.wall())
        flag = "True" if ready else "False"
        conditions = [{"type": t, "status": s, "lastProbeTime": None, "lastTransitionTime": stamp}
                      for t, s in (("Initialized", "True"), ("Ready", flag), ("ContainersReady", flag),
                                   ("PodScheduled", "True"))]
        pod["status"] = {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": stamp,
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image"), "imageID": "", "ready": ready, "restartCount": 0,
                 "started": True, "state": {"running": {"startedAt": stamp}}}
                for c in pod["spec"]["containers"]
            ],
        }
        return pod
