"""The DaemonSet controller's decisions: which nodes run a daemon pod, its tolerations, old and new pods."""

from __future__ import annotations

import pytest

from kubelab.controllers.daemonset import (
    daemon_pod_tolerations,
    node_should_run_daemon_pod,
    pod_template,
    target_node_affinity,
    target_node_name,
    updated_pods_on_node,
)


def a_daemonset(**pod_spec):
    return {"metadata": {"name": "agent", "namespace": "ns"},
            "spec": {"template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "a", "image": "agent"}], **pod_spec}}}}


def a_node(name="n1", labels=None, taints=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


@pytest.mark.parametrize("node, pod_spec, expected", [
    (a_node(), {}, (True, True)),
    (a_node(labels={"disk": "ssd"}), {"nodeSelector": {"disk": "ssd"}}, (True, True)),
    (a_node(), {"nodeSelector": {"disk": "ssd"}}, (False, False)),
    (a_node("n2"), {"nodeName": "n1"}, (False, False)),
    (a_node(), {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]}}}}, (False, False)),
    # A NoSchedule taint keeps new pods away but lets a running one stay; NoExecute makes it go.
    (a_node(taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]), {}, (False, True)),
    (a_node(taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}]), {}, (False, False)),
    (a_node(taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}]),
     {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}, (True, True)),
    # Every daemon pod tolerates node trouble and cordons.
    (a_node(taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                    {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]), {}, (True, True)),
    (a_node(taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]), {}, (False, True)),
    (a_node(taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]),
     {"hostNetwork": True}, (True, True)),
])
def test_which_nodes_run_a_daemon_pod(node, pod_spec, expected):
    assert node_should_run_daemon_pod(node, a_daemonset(**pod_spec)) == expected


def test_daemon_pods_get_the_tolerations_every_daemon_has_and_keep_their_own():
    mine = {"key": "dedicated", "operator": "Exists"}
    tolerations = daemon_pod_tolerations({"tolerations": [mine, {"key": "node.kubernetes.io/not-ready",
                                                                  "operator": "Exists", "effect": "NoExecute",
                                                                  "tolerationSeconds": 5}]})
    assert tolerations[0] == mine
    assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"} in tolerations
    assert not any(t.get("tolerationSeconds") for t in tolerations), "daemon pods tolerate node trouble forever"
    assert {t["key"] for t in tolerations[1:]} == {
        "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure", "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable"}


def test_a_daemon_pod_is_pinned_to_its_node_by_affinity_for_the_scheduler():
    template = pod_template(a_daemonset(), "5d7b8")
    assert template["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "5d7b8"}
    affinity = target_node_affinity({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}},
        "podAffinity": {"x": 1}}, "n7")
    assert affinity == {"podAffinity": {"x": 1}, "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]}}}
    assert target_node_name({"spec": {"affinity": affinity}}) == "n7"
    assert target_node_name({"spec": {"nodeName": "n3", "affinity": affinity}}) == "n3"
    assert target_node_name({"spec": {}}) == ""


def test_old_and_new_pods_on_a_node():
    def pod(name, hash, deleting=False):
        meta = {"name": name, "labels": {"controller-revision-hash": hash}}
        if deleting:
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return {"metadata": meta}
    new, old = pod("a", "h2"), pod("b", "h1")
    assert updated_pods_on_node([new, old, pod("c", "h1", deleting=True)], "h2") == (new, old, True)
    assert updated_pods_on_node([new, pod("d", "h2")], "h2") == (None, None, False)
    assert updated_pods_on_node([], "h2") == (None, None, True)
