"""A stand-in for the kubelets of a few nodes, for controller tests that need nodes and running pods.

It does what controllers watch a kubelet do, through the API server like the real one:
registers each Node (Ready), renews its Lease in ``kube-node-lease``, marks pods bound to
its nodes Running and Ready with a pod IP, finishes their graceful deletion, and ends pods
whose only container runs ``sh -c "exit N"`` (Succeeded for 0, Failed otherwise). A node can
be made to *hang* (no more Lease renewals or status, pods left as they are) and to recover.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from kubelab import errors
from kubelab.client import Client
from kubelab.runtime import Informer, deep_copy

Obj = Mapping[str, Any]


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exit_code(pod: Obj) -> int | None:
    """The exit code a pod's single ``sh -c "exit N"`` container ends with, or None if it runs on."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if len(containers) != 1:
        return None
    command = [*(containers[0].get("command") or ()), *(containers[0].get("args") or ())]
    if len(command) == 3 and command[:2] == ["sh", "-c"] and command[2].startswith("exit "):
        return int(command[2].split()[1])
    return None


class KubeletDouble:
    """Plays the kubelet of ``nodes``; ``lease_period`` is how often Leases are renewed (seconds)."""

    def __init__(self, client: Client, nodes: Iterable[str], *, lease_period: float = 0.2,
                 labels: Mapping[str, Mapping[str, str]] | None = None,
                 taints: Mapping[str, list[dict[str, Any]]] | None = None) -> None:
        self.client = client
        self.nodes = list(nodes)
        self.lease_period = lease_period
        self.labels = dict(labels or {})
        self.taints = dict(taints or {})
        self.hung: set[str] = set()
        self.pods_api = client.resource("v1", "pods")
        self.nodes_api = client.resource("v1", "nodes")
        self.leases_api = client.resource("coordination.k8s.io/v1", "leases")
        self.pods = Informer(self.pods_api, name="kubelet-double pods")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._next_ip: dict[str, int] = {}
        self._threads: list[threading.Thread] = []

    def node_ip(self, node: str) -> str:
        return f"127.80.{self.nodes.index(node) + 1}.1"

    def start(self) -> KubeletDouble:
        for node in self.nodes:
            self.register(node)
        self.pods.add_event_handler(self._sync_pod, lambda old, new: self._sync_pod(new))
        self.pods.start()
        self.pods.wait_for_sync(10)
        thread = threading.Thread(target=self._heartbeat, name="kubelet-double heartbeat", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def stop(self, *, remove_nodes: bool = True) -> None:
        """Stop playing the kubelets; their Nodes are deleted too unless ``remove_nodes`` is False."""
        self._stopping.set()
        self.pods.stop()
        for thread in self._threads:
            thread.join(5)
        if remove_nodes:
            for node in self.nodes:
                with contextlib.suppress(errors.NotFound):
                    self.nodes_api.delete(node)

    # -- nodes --------------------------------------------------------------------------------

    def ready_condition(self) -> dict[str, Any]:
        return {"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status", "lastHeartbeatTime": now(),
                "lastTransitionTime": now()}

    def register(self, node: str) -> None:
        labels = {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", **self.labels.get(node, {})}
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": labels},
            "spec": {"taints": self.taints[node]} if self.taints.get(node) else {},
        }
        created = self.nodes_api.create(body)
        created["status"] = {
            "conditions": [self.ready_condition()],
            "addresses": [{"type": "InternalIP", "address": self.node_ip(node)},
                          {"type": "Hostname", "address": node}],
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        }
        self.nodes_api.update_status(created)
        self.renew_lease(node)

    def renew_lease(self, node: str) -> None:
        try:
            lease = self.leases_api.get(node, "kube-node-lease")
        except errors.NotFound:
            self.leases_api.create({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now_micro()},
            })
            return
        lease["spec"]["renewTime"] = now_micro()
        self.leases_api.update(lease)

    def hang(self, node: str) -> None:
        """Stop renewing ``node``'s Lease and status, as a kubelet that died would; its pods stay as they are."""
        with self._lock:
            self.hung.add(node)

    def recover(self, node: str) -> None:
        """Start renewing again, and report the node Ready once more."""
        with self._lock:
            self.hung.discard(node)
        self._report_ready(node)
        for pod in self.pods.cache.list():
            self._sync_pod(pod)

    def _report_ready(self, node: str) -> None:
        current = self.nodes_api.get(node)
        conditions = [c for c in (current.get("status") or {}).get("conditions") or () if c.get("type") != "Ready"]
        current.setdefault("status", {})["conditions"] = [*conditions, self.ready_condition()]
        with contextlib.suppress(errors.Conflict):
            self.nodes_api.update_status(current)

    def _heartbeat(self) -> None:
        while not self._stopping.wait(self.lease_period):
            for node in self.nodes:
                with self._lock:
                    if node in self.hung:
                        continue
                try:
                    self.renew_lease(node)
                    ready = next((c for c in (self.nodes_api.get(node).get("status") or {}).get("conditions") or ()
                                  if c.get("type") == "Ready"), None)
                    if ready is None or ready.get("status") != "True":
                        self._report_ready(node)
                except errors.ClientError:
                    continue

    # -- pods ---------------------------------------------------------------------------------

    def _pod_ip(self, node: str) -> str:
        with self._lock:
            n = self._next_ip[node] = self._next_ip.get(node, 1) + 1
        return f"127.80.{self.nodes.index(node) + 1}.{n}"

    def _sync_pod(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in self.nodes or self._stopping.is_set():
            return
        with self._lock:
            if node in self.hung:
                return
        meta = pod["metadata"]
        try:
            if meta.get("deletionTimestamp"):
                self.pods_api.delete(meta["name"], meta["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": meta["uid"]})
                return
            status = pod.get("status") or {}
            if status.get("phase") in ("Succeeded", "Failed"):
                return
            if status.get("phase") == "Running":
                code = exit_code(pod)
                if code is not None:
                    self._finish(pod, code)
                return
            self._run(pod, node)
        except (errors.Conflict, errors.NotFound):
            return

    def _run(self, pod: Obj, node: str) -> None:
        updated = deep_copy(pod)
        ip = self._pod_ip(node)
        started = now()
        updated["status"] = {
            "phase": "Running",
            "hostIP": self.node_ip(node), "hostIPs": [{"ip": self.node_ip(node)}],
            "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": started,
            "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort"),
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": started}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "started": True,
                 "restartCount": 0, "containerID": f"double://{pod['metadata']['uid']}/{c['name']}",
                 "state": {"running": {"startedAt": started}}}
                for c in pod["spec"].get("containers") or ()
            ],
        }
        self.pods_api.update_status(updated)

    def _finish(self, pod: Obj, code: int) -> None:
        updated = deep_copy(pod)
        finished = now()
        status = updated["status"]
        status["phase"] = "Succeeded" if code == 0 else "Failed"
        reason = "PodCompleted" if code == 0 else "PodFailed"
        status["conditions"] = [
            {**c, "status": "False", "reason": reason, "lastTransitionTime": finished}
            if c["type"] in ("Ready", "ContainersReady") else c
            for c in status.get("conditions") or ()
        ]
        status["containerStatuses"] = [
            {**s, "ready": False, "started": False,
             "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                      "startedAt": s["state"]["running"]["startedAt"], "finishedAt": finished}}}
            for s in status.get("containerStatuses") or ()
        ]
        self.pods_api.update_status(updated)
