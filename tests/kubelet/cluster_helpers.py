"""An embedded cluster with real nodes (runtime daemon + kubelet) for the kubelet's end-to-end tests."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.kubelet import runtime_daemon
from kubelab.kubelet.kubelet import Kubelet
from kubelab.process import ManagedProcess

BACKOFF_SCALE = 0.05


class Node:
    """One node: its runtime daemon (a process) and its kubelet (in this process)."""

    def __init__(self, cluster: Cluster, name: str, index: int, **kubelet_options: Any) -> None:
        self.cluster = cluster
        self.name = name
        self.index = index
        self.runtime = ManagedProcess(f"container-runtime-{name}", runtime_daemon.argv(cluster.dir, name),
                                      cluster.dir.log(f"container-runtime-{name}"))
        self.runtime.start()
        options = {"backoff_scale": BACKOFF_SCALE, "relist_period": 0.2, "status_update_frequency": 1.0,
                   "lease_renew_interval": 1.0, **kubelet_options}
        self.options = options
        self.kubelet = Kubelet(name, cluster_dir=cluster.dir, node_index=index, **options)
        self.kubelet.start(cluster.api_client())

    def restart_kubelet(self) -> None:
        self.kubelet = Kubelet(self.name, cluster_dir=self.cluster.dir, node_index=self.index, **self.options)
        self.kubelet.start(self.cluster.api_client())

    def stop(self) -> None:
        self.kubelet.stop()
        self.runtime.stop()


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what or 'condition'} not met within {timeout} s (last: {last!r})")


def pod_manifest(name: str, containers: list[dict[str, Any]], node: str = "node-1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": containers, **spec}}


def container_status(client: Client, name: str, container: str | None = None) -> dict[str, Any]:
    pod = client.resource("v1", "pods").get(name, "default")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if container is None or status["name"] == container:
            return dict(status)
    return {}


def events(client: Client, name: str) -> list[dict[str, Any]]:
    found = client.resource("v1", "events").list(
        "default", field_selector=f"involvedObject.name={name}")["items"]
    return list(found)


def reasons(client: Client, name: str) -> list[str]:
    return [e["reason"] for e in events(client, name)]


def kubelet_get(node: Node, path: str) -> tuple[int, str]:
    """GET a path of a node's kubelet, as the API server does (its token, the cluster CA)."""
    kubelet = node.kubelet
    url = f"https://{kubelet.node_ip}:{kubelet.server.port}{path}"
    context = ssl.create_default_context(cafile=str(node.cluster.dir.ca_cert))
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {node.cluster.token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def pod_json(client: Client, name: str) -> str:
    return json.dumps(client.resource("v1", "pods").get(name, "default").get("status"), indent=1)
