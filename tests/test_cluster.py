"""The Cluster launcher with its control plane: processes, in-process replacements, faults."""

from __future__ import annotations

import json
import threading
import time

import pytest

from kubelab.client import Client
from kubelab.cluster import CONTROL_PLANE, Cluster
from kubelab.store.memory import MemoryKV
from kubelab.store.mvcc import MemoryMVCC
from waiting import eventually


def node(name: str) -> dict:
    capacity = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    return {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"capacity": capacity, "allocatable": capacity,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
    }



def pods(cluster: Cluster, selector: str) -> list[dict]:
    out = cluster.kubectl("get", "pods", "-l", selector, "-o", "json").stdout
    return json.loads(out)["items"]


@pytest.fixture(scope="module")
def cluster():
    with Cluster(components=CONTROL_PLANE) as c:
        Client(c.api_client()).resource("v1", "nodes").create(node("node-a"))
        yield c


def test_a_deployment_gets_its_pods_created_and_scheduled(cluster):
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
    bound = eventually(
        lambda: [p for p in pods(cluster, "app=web") if p["spec"].get("nodeName") == "node-a"] if len(
            pods(cluster, "app=web")) == 3 else None,
        what="3 pods bound to node-a",
    )
    assert len(bound) == 3


def test_a_killed_scheduler_leaves_new_pods_pending_until_it_is_back(cluster):
    cluster.kill_component("scheduler")
    cluster.kubectl("run", "waiting", "--image=nginx", "--labels=test=waiting")
    time.sleep(1.5)
    assert pods(cluster, "test=waiting")[0]["spec"].get("nodeName") is None
    cluster.restart_component("scheduler")
    eventually(lambda: pods(cluster, "test=waiting")[0]["spec"].get("nodeName"), what="the pod to be scheduled")


class BindEverythingTo:
    """A scheduler of our own: binds every pending pod to one node."""

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, client) -> None:
        pods = Client(client).resource("v1", "pods")

        def loop() -> None:
            while not self.stopping.wait(0.1):
                for pod in pods.list(field_selector="spec.nodeName=")["items"]:
                    meta = pod["metadata"]
                    pods.create({
                        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
                    }, meta["namespace"], subresource="binding")

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join()


def test_plugging_in_a_scheduler_replaces_the_built_in_one(cluster):
    Client(cluster.api_client()).resource("v1", "nodes").create(node("node-mine"))
    mine = BindEverythingTo("node-mine")
    cluster.plug("scheduler", mine)
    assert "scheduler" not in cluster.processes
    cluster.kubectl("run", "placed", "--image=nginx", "--labels=test=placed")
    eventually(lambda: pods(cluster, "test=placed")[0]["spec"].get("nodeName") == "node-mine", what="our binding")
    cluster.unplug("scheduler")
    assert cluster.processes["scheduler"].alive() and mine.stopping.is_set()


class DoNothing:
    """A ReplicaSet controller that never creates a pod."""

    started = False

    def start(self, context) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False


def test_plugging_in_a_controller_switches_the_built_in_one_off(cluster):
    idle = DoNothing()
    cluster.plug("replicaset", idle)
    assert idle.started
    cluster.kubectl("create", "deployment", "idle", "--image=nginx", "--replicas=2")
    eventually(lambda: cluster.kubectl("get", "rs", "-l", "app=idle", "-o", "name").stdout, what="the ReplicaSet")
    time.sleep(1.5)
    assert pods(cluster, "app=idle") == []
    cluster.unplug("replicaset")
    eventually(lambda: len(pods(cluster, "app=idle")) == 2, what="the built-in controller to create the pods")


def test_a_disabled_controller_does_not_run():
    with Cluster(components=["controller-manager"], disable=["deployment"]) as c:
        c.kubectl("create", "deployment", "off", "--image=nginx")
        time.sleep(1.5)
        assert c.kubectl("get", "rs", "-o", "name").stdout == ""


def test_a_disabled_component_is_not_started_and_its_work_waits():
    with Cluster(components=CONTROL_PLANE, disable=["scheduler"], nodes=1) as c:
        assert "scheduler" not in c.processes and "controller-manager" in c.processes
        c.kubectl("run", "unscheduled", "--image=nginx", "--labels=test=unscheduled")
        time.sleep(1.5)
        assert pods(c, "test=unscheduled")[0]["spec"].get("nodeName") is None  # node-1 is Ready, nobody binds
        assert "node-1" in c.kubectl("get", "nodes").stdout


@pytest.mark.parametrize("kwargs, message", [
    ({"components": ["etcd-operator"]}, "unknown components etcd-operator"),
    ({"disable": ["frobnicator"]}, "cannot disable frobnicator: known are the components scheduler, "),
    ({"store": "sqlite"}, "unknown store 'sqlite'"),
])
def test_bad_cluster_options_say_what_is_known(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Cluster(**kwargs)


class CountingMVCC(MemoryMVCC):
    """Our MVCC store, counting its writes: stands in for a learner's store in lab 01."""

    txns = 0

    def txn(self, *args, **kwargs):
        CountingMVCC.txns += 1
        return super().txn(*args, **kwargs)


def test_your_own_store_runs_under_the_api_server():
    with Cluster(kv=MemoryKV(CountingMVCC())) as c:
        assert c.apiserver is None and c.apiserver_in_process is not None
        before = CountingMVCC.txns
        c.kubectl("create", "configmap", "mine", "--from-literal=k=v")
        assert CountingMVCC.txns > before
        assert c.kubectl("get", "cm", "mine", "-o", "jsonpath={.data.k}").stdout == "v"


def test_killing_the_api_server_mid_write_loses_no_acknowledged_write():
    with Cluster(store="etcd") as c:
        configmaps = Client(c.api_client()).resource("v1", "configmaps")
        acknowledged: list[str] = []
        stop = threading.Event()

        def write(writer: int) -> None:
            i = 0
            while not stop.is_set():
                name = f"w{writer}-{i}"
                try:
                    configmaps.create({"metadata": {"name": name}, "data": {"n": str(i)}}, "default")
                except Exception:
                    return
                acknowledged.append(name)
                i += 1

        writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for t in writers:
            t.start()
        eventually(lambda: len(acknowledged) >= 40, what="some writes")
        c.kill_component("apiserver")
        stop.set()
        for t in writers:
            t.join(10)
        c.restart_component("apiserver")
        stored = {cm["metadata"]["name"] for cm in configmaps.list("default")["items"]}
        assert set(acknowledged) <= stored
        assert len(acknowledged) >= 40


def test_a_killed_etcd_comes_back_at_its_address_and_the_api_server_carries_on():
    with Cluster(store="etcd") as c:
        c.kubectl("create", "configmap", "before", "--from-literal=k=v")
        assert c.etcd is not None
        endpoint = c.etcd.endpoint
        c.kill_component("etcd")
        c.restart_component("etcd")
        assert c.etcd.endpoint == endpoint
        eventually(lambda: c.kubectl("create", "configmap", "after", check=False).returncode == 0,
                   what="the API server to write through the restarted etcd")
        names = c.kubectl("get", "cm", "-o", "name").stdout.split()
        assert {"configmap/before", "configmap/after"} <= set(names)
