"""The kubelet's Node: registering it, reporting its status, and its heartbeat Lease.

Mirrors ``pkg/kubelet/kubelet_node_status.go`` and ``nodestatus/setters.go``: the node is
registered with its labels, pod CIDR, addresses, capacity and allocatable; its conditions
(MemoryPressure, DiskPressure, PIDPressure, Ready) are recomputed every
``status_update_frequency`` seconds and written when they change (or every 5 minutes).
The heartbeat is the Lease ``kube-node-lease/<node>``, renewed every ``lease_renew_interval``
(``pkg/kubelet/nodelease`` / ``component-helpers/apimachinery/lease``): the node lifecycle
controller marks the node NotReady when it goes stale.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelab import errors
from kubelab.client import Client
from kubelab.kubelet.runtime import RuntimeService, RuntimeServiceError

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.33.0"
MAX_PODS = 110
LEASE_DURATION = 40
EVICTION_MEMORY = 100 * 1024 * 1024
EVICTION_DISK_FRACTION = 0.10
EVICTION_PID_FRACTION = 0.05
REPORT_FREQUENCY = 300.0
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}

CONDITION_TEXT = {
    ("MemoryPressure", False): ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("MemoryPressure", True): ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
    ("DiskPressure", False): ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("DiskPressure", True): ("KubeletHasDiskPressure", "kubelet has disk pressure"),
    ("PIDPressure", False): ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("PIDPressure", True): ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
}


def now_time() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _meminfo() -> dict[str, int]:
    values = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            values[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return values


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _pid_usage() -> tuple[int, int]:
    try:
        maximum = int(Path("/proc/sys/kernel/pid_max").read_text())
        used = sum(1 for e in os.listdir("/proc") if e.isdigit())
        return used, maximum
    except (OSError, ValueError):
        return 0, 1


class NodeStatus:
    """Registers one node and keeps its status and Lease fresh."""

    def __init__(
        self, client: Client, runtime: RuntimeService, *, node_name: str, node_ip: str, pod_cidr: str,
        disk_path: Path, port: int, status_update_frequency: float = 10.0, lease_renew_interval: float = 10.0,
        images: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.node_ip = node_ip
        self.pod_cidr = pod_cidr
        self.disk_path = disk_path
        self.port = port
        self.status_update_frequency = status_update_frequency
        self.lease_renew_interval = lease_renew_interval
        self.images = images
        self.nodes = client.resource("v1", "nodes")
        self.leases = client.resource("coordination.k8s.io/v1", "leases")
        self.uid = ""
        self.heartbeats = threading.Event()
        self.heartbeats.set()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_report = 0.0
        self._last_conditions: dict[str, str] = {}
        self._boot_id = str(uuid.uuid4())
        self._machine_id = uuid.uuid5(uuid.NAMESPACE_DNS, node_name).hex

    # -- what the node reports ------------------------------------------------------------------

    def capacity(self) -> dict[str, str]:
        memory = _meminfo().get("MemTotal", 0)
        disk = shutil.disk_usage(self.disk_path).total
        return {
            "cpu": str(os.cpu_count() or 1),
            "ephemeral-storage": f"{disk // 1024}Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": f"{memory // 1024}Ki",
            "pods": str(MAX_PODS),
        }

    def allocatable(self) -> dict[str, str]:
        memory = _meminfo().get("MemTotal", 0)
        disk = shutil.disk_usage(self.disk_path).total
        return {
            **self.capacity(),
            "ephemeral-storage": str(int(disk * (1 - EVICTION_DISK_FRACTION))),
            "memory": f"{max(0, memory - EVICTION_MEMORY) // 1024}Ki",
        }

    def conditions(self, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The node's conditions now, keeping each one's lastTransitionTime while its status holds."""
        now = now_time()
        memory = _meminfo()
        disk = shutil.disk_usage(self.disk_path)
        used_pids, max_pids = _pid_usage()
        pressure = {
            "MemoryPressure": memory.get("MemAvailable", EVICTION_MEMORY + 1) < EVICTION_MEMORY,
            "DiskPressure": disk.free < disk.total * EVICTION_DISK_FRACTION,
            "PIDPressure": max_pids - used_pids < max_pids * EVICTION_PID_FRACTION,
        }
        old = {str(c.get("type")): c for c in previous}
        out = []
        for type, on in pressure.items():
            reason, message = CONDITION_TEXT[(type, on)]
            out.append(self._condition(type, "True" if on else "False", reason, message, now, old))
        ready, message = self._ready()
        out.append(self._condition("Ready", "True" if ready else "False",
                                   "KubeletReady" if ready else "KubeletNotReady", message, now, old))
        return out

    def _ready(self) -> tuple[bool, str]:
        try:
            status = self.runtime.status()
        except RuntimeServiceError as e:
            return False, f"container runtime is down: {e}"
        runtime_ready = status.condition("RuntimeReady")
        if runtime_ready is None or not runtime_ready.status:
            return False, "container runtime status check may not have completed yet"
        network = status.condition("NetworkReady")
        if network is not None and not network.status:
            return False, (f"container runtime network not ready: NetworkReady=false reason:{network.reason} "
                           f"message:{network.message}")
        return True, "kubelet is posting ready status"

    @staticmethod
    def _condition(type: str, status: str, reason: str, message: str, now: str,
                   old: dict[str, dict[str, Any]]) -> dict[str, Any]:
        previous = old.get(type)
        transition = previous.get("lastTransitionTime") if previous and previous.get("status") == status else now
        return {"type": type, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": transition,
                "reason": reason, "message": message}

    def node_object(self) -> dict[str, Any]:
        arch = ARCHITECTURES.get(platform.machine(), platform.machine())
        system = platform.system().lower()
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "beta.kubernetes.io/arch": arch,
                    "beta.kubernetes.io/os": system,
                    "kubernetes.io/arch": arch,
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": system,
                },
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]},
            "status": self.status([]),
        }

    def status(self, previous_conditions: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            version = self.runtime.version()
            runtime_version = f"{version.runtime_name}://{version.runtime_version}"
        except RuntimeServiceError:
            runtime_version = "kubelab://unknown"
        return {
            "capacity": self.capacity(),
            "allocatable": self.allocatable(),
            "conditions": self.conditions(previous_conditions),
            "addresses": [{"type": "InternalIP", "address": self.node_ip}, {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": self._machine_id,
                "systemUUID": str(uuid.UUID(self._machine_id)),
                "bootID": self._boot_id,
                "kernelVersion": platform.release(),
                "osImage": _os_image(),
                "containerRuntimeVersion": runtime_version,
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": platform.system().lower(),
                "architecture": ARCHITECTURES.get(platform.machine(), platform.machine()),
            },
            "images": self.images(),
        }

    # -- registering and updating ----------------------------------------------------------------------

    def register(self) -> dict[str, Any]:
        """Create the Node, or take over an existing one of this name (as a restarted kubelet does)."""
        try:
            node = self.nodes.create(self.node_object())
        except errors.AlreadyExists:
            node = self.nodes.get(self.node_name)
            wanted = self.node_object()
            node["metadata"].setdefault("labels", {}).update(wanted["metadata"]["labels"])
            node["metadata"].setdefault("annotations", {}).update(wanted["metadata"]["annotations"])
            node["spec"]["podCIDR"], node["spec"]["podCIDRs"] = self.pod_cidr, [self.pod_cidr]
            node = self.nodes.update(node)
        self.uid = node["metadata"]["uid"]
        self.update_status(force=True)
        self.renew_lease()
        return node

    def update_status(self, force: bool = False) -> None:
        """Write the node's status if its conditions changed, or if it was last written long ago."""
        node = self.nodes.get(self.node_name)
        status = self.status(list((node.get("status") or {}).get("conditions") or []))
        conditions = {c["type"]: c["status"] + c["message"] for c in status["conditions"]}
        now = time.monotonic()
        if not force and conditions == self._last_conditions and now - self._last_report < REPORT_FREQUENCY:
            return
        node["status"] = status
        self.nodes.update_status(node)
        self._last_conditions = conditions
        self._last_report = now

    def renew_lease(self) -> None:
        """Create or renew ``kube-node-lease/<node>``: the heartbeat."""
        lease: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.node_name,
                "namespace": "kube-node-lease",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": self.uid}],
            },
            "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_DURATION,
                     "renewTime": now_micro()},
        }
        try:
            current = self.leases.get(self.node_name, "kube-node-lease")
        except errors.NotFound:
            self.leases.create(lease)
            return
        current["spec"].update(lease["spec"])
        if self.uid:
            current["metadata"]["ownerReferences"] = lease["metadata"]["ownerReferences"]
        self.leases.update(current)

    # -- loops -------------------------------------------------------------------------------------------

    def start(self) -> None:
        for target, name in ((self._lease_loop, "lease"), (self._status_loop, "node-status")):
            thread = threading.Thread(target=target, name=f"kubelet {self.node_name} {name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(10)

    def _lease_loop(self) -> None:
        while not self._stopping.wait(self.lease_renew_interval):
            if self.heartbeats.is_set():
                try:
                    self.renew_lease()
                except errors.ClientError as e:
                    log.warning("%s: renewing the node lease failed: %s", self.node_name, e)

    def _status_loop(self) -> None:
        while not self._stopping.wait(self.status_update_frequency):
            if self.heartbeats.is_set():
                try:
                    self.update_status()
                except errors.ClientError as e:
                    log.warning("%s: updating the node status failed: %s", self.node_name, e)

