"""Node failure and self-healing on a real cluster: a kubelet goes silent."""

from __future__ import annotations

import pytest
from controller_helpers import running, wait_for
from kubelet_double import KubeletDouble

from kubelab.controllers.nodelifecycle import STATE_FULL_DISRUPTION, NodeLifecycleController
from kubelab.controllers.podgc import PodGCController
from kubelab.controllers.replicaset import ReplicaSetController
from kubelab.controllers.tainteviction import TaintEvictionController


@pytest.fixture
def kubelet(client, namespace):
    double = KubeletDouble(client, [f"a-{namespace}", f"b-{namespace}"], lease_period=0.2).start()
    yield double
    double.stop()


def node(client, name):
    return client.resource("v1", "nodes").get(name)


def condition(obj, type):
    return next((c for c in obj["status"].get("conditions") or () if c["type"] == type), None)


def test_a_silent_node_goes_unknown_gets_tainted_and_its_pods_move(cluster, client, namespace, kubelet,
                                                                   scheduler):
    a, b = kubelet.nodes
    toleration = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": 2}
    client.resource("apps/v1", "replicasets").create({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"tolerations": [toleration], "nodeSelector": {"kubernetes.io/hostname": a},
                                       "containers": [{"name": "web", "image": "nginx"}]}}},
    }, namespace)
    lifecycle = NodeLifecycleController(node_monitor_period=0.2, node_monitor_grace_period=1.5, eviction_qps=10)
    with running(cluster, replicaset=ReplicaSetController(), nodelifecycle=lifecycle,
                 **{"taint-eviction-controller": TaintEvictionController()}):
        pods = client.resource("v1", "pods")

        def running_on_a():
            items = pods.list(namespace)["items"]
            return len(items) == 2 and all(p["status"].get("phase") == "Running" for p in items) and items
        first = wait_for(running_on_a, what="two pods running on node a")
        # Let them run anywhere from now on: their replacements must land on b.
        client.resource("apps/v1", "replicasets").patch(
            "web", {"spec": {"template": {"spec": {"nodeSelector": None}}}}, namespace)

        kubelet.hang(a)

        def unknown():
            ready_condition = condition(node(client, a), "Ready")
            return ready_condition["status"] == "Unknown" and ready_condition
        ready_condition = wait_for(unknown, what="node a to go Unknown")
        assert ready_condition["reason"] == "NodeStatusUnknown"
        assert ready_condition["message"] == "Kubelet stopped posting node status."
        assert condition(node(client, b), "Ready")["status"] == "True"
        table = cluster.kubectl("get", "node", a).stdout
        assert "NotReady" in table

        def tainted():
            return {(t["key"], t["effect"]) for t in node(client, a)["spec"].get("taints") or ()} == {
                ("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/unreachable", "NoSchedule")}
        wait_for(tainted, what="node a to be tainted unreachable")
        for pod in first:
            wait_for(lambda p=pod: condition(pods.get(p["metadata"]["name"], namespace), "Ready")["status"]
                     == "False", what="the pods on node a to be marked not ready")

        def evicted_and_replaced():
            items = pods.list(namespace)["items"]
            old = [p for p in items if p["metadata"]["uid"] in {f["metadata"]["uid"] for f in first}]
            new = [p for p in items if p not in old]
            return (all(p["metadata"].get("deletionTimestamp") for p in old)
                    and len(new) == 2 and all(p["spec"].get("nodeName") == b for p in new)
                    and all(p["status"].get("phase") == "Running" for p in new) and old)
        old = wait_for(evicted_and_replaced, timeout=30, what="the pods to be evicted and replaced on b")
        disruption = condition(old[0], "DisruptionTarget")
        assert disruption["reason"] == "DeletionByTaintManager"
        events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector",
                                 f"involvedObject.name={old[0]['metadata']['name']}").stdout
        assert "TaintManagerEviction" in events
        assert "NodeNotReady" in events
        node_events = cluster.kubectl("get", "events", "-n", "default", "--field-selector",
                                      f"involvedObject.name={a}").stdout
        assert f"Node {a} status is now: NodeNotReady" in node_events

        kubelet.recover(a)

        def untainted():
            n = node(client, a)
            return condition(n, "Ready")["status"] == "True" and not n["spec"].get("taints")
        wait_for(untainted, what="node a to be Ready and untainted again")


def test_pods_that_tolerate_forever_stay_and_a_cordon_taints(cluster, client, namespace, kubelet):
    a, _ = kubelet.nodes
    forever = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}
    pods = client.resource("v1", "pods")
    pods.create({"metadata": {"name": "stays"},
                 "spec": {"nodeName": a, "tolerations": [forever], "containers": [{"name": "c", "image": "nginx"}]}},
                namespace)
    lifecycle = NodeLifecycleController(node_monitor_period=0.2, node_monitor_grace_period=1.0, eviction_qps=10)
    with running(cluster, nodelifecycle=lifecycle, **{"taint-eviction-controller": TaintEvictionController()}):
        cluster.kubectl("cordon", a)
        wait_for(lambda: any(t["key"] == "node.kubernetes.io/unschedulable"
                             for t in node(client, a)["spec"].get("taints") or ()), what="the cordon taint")
        cluster.kubectl("uncordon", a)
        wait_for(lambda: not node(client, a)["spec"].get("taints"), what="the cordon taint to go")
        kubelet.hang(a)
        wait_for(lambda: any(t["effect"] == "NoExecute" for t in node(client, a)["spec"].get("taints") or ()),
                 what="node a to be tainted NoExecute")
        pod = pods.get("stays", namespace)
        assert not pod["metadata"].get("deletionTimestamp")
        assert condition(pod, "Ready")["status"] == "False"
        kubelet.recover(a)


def test_when_every_node_is_down_nothing_is_evicted(cluster, client, namespace, kubelet):
    pods = client.resource("v1", "pods")
    for n, name in enumerate(kubelet.nodes):
        pods.create({"metadata": {"name": f"p{n}"}, "spec": {"nodeName": name, "containers": [
            {"name": "c", "image": "nginx"}]}}, namespace)
    lifecycle = NodeLifecycleController(node_monitor_period=0.2, node_monitor_grace_period=1.0, eviction_qps=10)
    with running(cluster, nodelifecycle=lifecycle, **{"taint-eviction-controller": TaintEvictionController()}):
        wait_for(lambda: all(condition(node(client, n), "Ready")["status"] == "True" for n in kubelet.nodes))
        for name in kubelet.nodes:
            kubelet.hang(name)
        wait_for(lambda: all(condition(node(client, n), "Ready")["status"] == "Unknown" for n in kubelet.nodes),
                 what="both nodes to go Unknown")
        wait_for(lambda: lifecycle.zone_states.get("") == STATE_FULL_DISRUPTION, what="full disruption")
        for name in kubelet.nodes:
            assert not any(t["effect"] == "NoExecute" for t in node(client, name)["spec"].get("taints") or ())
        assert not any(p["metadata"].get("deletionTimestamp") for p in pods.list(namespace)["items"])


def test_deleting_a_dead_node_force_deletes_its_pods(cluster, client, namespace, kubelet):
    a, _ = kubelet.nodes
    pods = client.resource("v1", "pods")
    pods.create({"metadata": {"name": "stranded"},
                 "spec": {"nodeName": a, "containers": [{"name": "c", "image": "nginx"}]}}, namespace)
    wait_for(lambda: pods.get("stranded", namespace)["status"].get("phase") == "Running", what="the pod to run")
    kubelet.hang(a)
    with running(cluster, podgc=PodGCController(gc_check_period=0.2, quarantine=0.5)):
        cluster.kubectl("delete", "node", a)
        wait_for(lambda: pods.list(namespace)["items"] == [], what="the pod of the deleted node to be removed")
