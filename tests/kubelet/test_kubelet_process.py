"""The kubelet as its own process (as under ``kubelab up``): the faults the node-lifecycle lab injects."""

from __future__ import annotations

import signal
import sys
import time

from cluster_helpers import container_status, pod_manifest, wait_for
from kubelet_helpers import pid_alive

from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.kubelet import runtime_daemon
from kubelab.kubelet.cri_socket import RemoteRuntime, socket_path
from kubelab.process import ManagedProcess


def _kubelet(cluster: Cluster, index: int) -> ManagedProcess:
    return ManagedProcess(
        "kubelet",
        [sys.executable, "-m", "kubelab", "kubelet", "--kubeconfig", str(cluster.kubeconfig), "--cluster-dir",
         str(cluster.dir.root), "--node", "node-1", "--node-index", str(index), "--lease-renew-interval", "0.5"],
        cluster.dir.log("kubelet-node-1"),
    )


def test_a_kubelet_process_paused_then_killed_then_restarted(tmp_path):
    index = 0
    with Cluster() as cluster:
        runtime = ManagedProcess("container-runtime", runtime_daemon.argv(cluster.dir, "node-1"),
                                 cluster.dir.log("container-runtime-node-1"))
        runtime.start()
        kubelet = _kubelet(cluster, index)
        kubelet.start()
        try:
            client = Client(cluster.api_client())
            leases = client.resource("coordination.k8s.io/v1", "leases")
            client.resource("v1", "pods").create(pod_manifest(
                "steady", [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]))
            wait_for(lambda: container_status(client, "steady").get("ready"))
            container_id = container_status(client, "steady")["containerID"].removeprefix("kubelab://")
            pid = RemoteRuntime(socket_path(cluster.dir.node("node-1"))).container_status(container_id).pid

            kubelet.signal(signal.SIGUSR1)  # pause the heartbeats
            time.sleep(1)
            paused = leases.get("node-1", "kube-node-lease")["spec"]["renewTime"]
            time.sleep(1.5)
            assert leases.get("node-1", "kube-node-lease")["spec"]["renewTime"] == paused
            kubelet.signal(signal.SIGUSR2)  # resume them
            wait_for(lambda: leases.get("node-1", "kube-node-lease")["spec"]["renewTime"] != paused)

            kubelet.kill()
            time.sleep(1)
            assert pid_alive(pid), "killing the kubelet must leave its containers running"
            kubelet = _kubelet(cluster, index)
            kubelet.start()
            time.sleep(1)
            status = container_status(client, "steady")
            assert status["containerID"] == f"kubelab://{container_id}" and status["restartCount"] == 0
            assert pid_alive(pid)
        finally:
            kubelet.stop()
            runtime.stop()
        assert not pid_alive(pid), "stopping the node's runtime must stop its containers"
