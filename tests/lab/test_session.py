"""A lab's cluster: embedded (throw-away) or remote (a fresh namespace on the cluster in KUBECONFIG)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kubelab import lab
from kubelab.cluster import Cluster
from kubelab.lab import session
from kubelab.process import pid_alive


class Quiet:
    """A component that only records that it ran."""

    def __init__(self) -> None:
        self.client = None
        self.stopped = False

    def start(self, client) -> None:
        self.client = client

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def remote(monkeypatch):
    """An embedded cluster in its own processes, playing a real cluster the lab reaches through KUBECONFIG."""
    with Cluster() as real:
        monkeypatch.setenv("KUBELAB_BACKEND", "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(real.kubeconfig))
        yield real


def test_an_embedded_lab_cluster_is_fresh_and_gone_when_closed():
    cluster = lab.start("99-sample", components=(), nodes=0, backend_name="embedded")
    try:
        assert cluster.embedded and cluster.namespace == "default"
        cluster.kubectl("create configmap mine --from-literal=k=v")
        assert cluster.kubectl("get", "cm", "mine", "-o", "jsonpath={.data.k}") == "v"
        assert cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}})["metadata"]["namespace"] == "default"
        again = lab.start("99-sample", components=(), nodes=0, backend_name="embedded")
        assert cluster.closed and not again.closed
        assert "mine" not in again.kubectl("get cm -o name")
    finally:
        lab.close_all()
    assert again.closed
    assert not again.cluster.dir.root.exists()


def test_a_failing_kubectl_says_why():
    with lab.start("99-sample", components=(), nodes=0, backend_name="embedded") as cluster:
        with pytest.raises(lab.LabError, match='kubectl get pod nope failed: Error from server \\(NotFound\\): pods "nope" not found'):
            cluster.kubectl("get pod nope")
        assert "NotFound" in cluster.kubectl("get pod nope", check=False)


def test_a_remote_lab_gets_its_own_namespace_and_leaves_nothing_behind(remote):
    first = lab.start("99-sample")
    assert not first.embedded and first.backend == "kubeconfig"
    assert first.namespace.startswith("lab-99-sample-")
    first.kubectl("create configmap mine --from-literal=k=v")
    assert remote.kubectl("get", "cm", "mine", "-n", first.namespace, "-o", "name").stdout == "configmap/mine\n"
    # A kernel that died left its namespace behind: the lab's next start deletes it.
    session._OPEN.clear()
    second = lab.start("99-sample")
    assert not first.closed and second.namespace != first.namespace
    phase = remote.kubectl("get", "ns", first.namespace, "-o", "jsonpath={.status.phase}", check=False).stdout
    assert phase in ("Terminating", "")
    second.close()
    phases = remote.kubectl("get", "ns", "-l", "kubelab.io/lab=99-sample",
                            "-o", "jsonpath={.items[*].status.phase}").stdout.split()
    assert set(phases) <= {"Terminating"}


def test_on_a_remote_cluster_components_run_beside_not_instead(remote):
    with lab.start("99-sample") as cluster:
        with pytest.raises(lab.LabError, match="cannot be replaced from a notebook; run yours beside it"):
            cluster.plug("scheduler", Quiet())
        mine = cluster.run(Quiet())
        assert mine.client is cluster.api_client()
    assert mine.stopped


def test_a_bad_backend_is_named(monkeypatch):
    monkeypatch.setenv("KUBELAB_BACKEND", "minikube")
    with pytest.raises(lab.LabError, match="KUBELAB_BACKEND is 'minikube'; use one of embedded, kind, kubeconfig"):
        lab.start("99-sample")


def test_a_missing_kubeconfig_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBELAB_BACKEND", "kind")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(lab.LabError, match="no kubeconfig at .*nope: set KUBECONFIG"):
        lab.start("99-sample")


KERNEL = textwrap.dedent("""
    import json, sys, time
    from kubelab import lab
    cluster = lab.start("99-sample", components=("scheduler",), nodes=1, backend_name="embedded")
    pids = {name: p.pid for name, p in cluster.cluster.processes.items()}
    pids["apiserver"] = cluster.cluster.apiserver.pid
    print(json.dumps(pids), flush=True)
    time.sleep(600)
""")


def test_a_dead_kernel_takes_its_cluster_with_it():
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ))
    try:
        started = json.loads(kernel.stdout.readline())
        # Whatever else a node runs, the asked-for scheduler and the node's kubelet are among them.
        assert {"apiserver", "scheduler", "kubelet-node-1"} <= started.keys()
        pids = list(started.values())
        assert all(pid_alive(p) for p in pids)
    finally:
        kernel.send_signal(signal.SIGKILL)
        kernel.wait()
    deadline = time.monotonic() + 20
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in pids)
