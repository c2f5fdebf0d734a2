"""The ReplicaSet controller on a real embedded cluster."""

from __future__ import annotations

import pytest

from kubelab.controllers.ref_manager import controller_of
from waiting import eventually

pytestmark = pytest.mark.usefixtures("manager")


def replicaset(name, replicas, labels=None, **spec):
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
            **spec,
        },
    }


def pods_of(client, namespace, uid):
    pods = client.resource("v1", "pods").list(namespace)["items"]
    return [p for p in pods if (controller_of(p) or {}).get("uid") == uid and not p["metadata"].get("deletionTimestamp")]


def events(client, namespace, name):
    items = client.resource("v1", "events").list(namespace)["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"].get("name") == name]


def status_is(client, namespace, name, **expected):
    def check():
        status = client.resource("apps/v1", "replicasets").get(name, namespace).get("status") or {}
        return all(status.get(k, 0) == v for k, v in expected.items()) and status
    return check


def test_creates_the_pods_and_reports_them_ready(client, namespace):
    rs = client.resource("apps/v1", "replicasets").create(replicaset("web", 3), namespace)
    uid = rs["metadata"]["uid"]
    status = eventually(status_is(client, namespace, "web", replicas=3, fullyLabeledReplicas=3, readyReplicas=3,
                                  availableReplicas=3, observedGeneration=1))
    assert status["observedGeneration"] == 1
    pods = pods_of(client, namespace, uid)
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["name"].startswith("web-") and len(pod["metadata"]["name"]) == len("web-") + 5
        assert pod["metadata"]["labels"] == {"app": "web"}
        ref = controller_of(pod)
        assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid,
                       "controller": True, "blockOwnerDeletion": True}
    created = eventually(lambda: [m for r, m in events(client, namespace, "web") if r == "SuccessfulCreate"]
                         if len(events(client, namespace, "web")) >= 3 else None)
    assert sorted(created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)


def test_replaces_a_deleted_pod(client, namespace):
    rs = client.resource("apps/v1", "replicasets").create(replicaset("web", 2), namespace)
    eventually(status_is(client, namespace, "web", readyReplicas=2))
    victim = pods_of(client, namespace, rs["metadata"]["uid"])[0]["metadata"]["name"]
    client.resource("v1", "pods").delete(victim, namespace)
    names = eventually(lambda: (n := {p["metadata"]["name"] for p in pods_of(client, namespace, rs["metadata"]["uid"])})
                       and len(n) == 2 and victim not in n and n)
    assert len(names) == 2


def test_scales_down_and_records_the_deletions(client, namespace):
    api = client.resource("apps/v1", "replicasets")
    rs = api.create(replicaset("web", 4), namespace)
    eventually(status_is(client, namespace, "web", readyReplicas=4))
    api.patch("web", {"spec": {"replicas": 1}}, namespace, subresource="scale")
    eventually(status_is(client, namespace, "web", replicas=1, readyReplicas=1, observedGeneration=2))
    assert len(pods_of(client, namespace, rs["metadata"]["uid"])) == 1
    deleted = eventually(lambda: [m for r, m in events(client, namespace, "web") if r == "SuccessfulDelete"]
                         if len([r for r, _ in events(client, namespace, "web") if r == "SuccessfulDelete"]) == 3
                         else None)
    assert all(m.startswith("Deleted pod: web-") for m in deleted)


def test_adopts_matching_orphans_and_releases_pods_that_stop_matching(client, namespace):
    pods = client.resource("v1", "pods")
    orphan = pods.create({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": "orphan", "labels": {"app": "web"},
                                       "annotations": {"controller.kubernetes.io/pod-deletion-cost": "1000"}},
                          "spec": {"containers": [{"name": "app", "image": "nginx"}]}}, namespace)
    # Should the controller create one pod too many before it sees the orphan, the orphan's
    # deletion cost makes it the last pod it would delete.
    eventually(lambda: pods.get("orphan", namespace).get("status", {}).get("phase") == "Running")
    rs = client.resource("apps/v1", "replicasets").create(replicaset("web", 2), namespace)
    uid = rs["metadata"]["uid"]
    eventually(status_is(client, namespace, "web", replicas=2, readyReplicas=2))
    assert (controller_of(pods.get("orphan", namespace)) or {}).get("uid") == uid
    assert orphan["metadata"]["uid"] in {p["metadata"]["uid"] for p in pods_of(client, namespace, uid)}

    pods.patch("orphan", {"metadata": {"labels": {"app": "moved"}}}, namespace)
    eventually(lambda: controller_of(pods.get("orphan", namespace)) is None, what="the pod is released")
    eventually(lambda: len(pods_of(client, namespace, uid)) == 2, what="a replacement is created")
    assert pods.get("orphan", namespace)["metadata"].get("ownerReferences") in (None, [])


def test_min_ready_seconds_delays_availability(client, namespace):
    client.resource("apps/v1", "replicasets").create(replicaset("slow", 1, minReadySeconds=2), namespace)
    status = eventually(status_is(client, namespace, "slow", readyReplicas=1))
    assert status.get("availableReplicas", 0) == 0
    eventually(status_is(client, namespace, "slow", availableReplicas=1), timeout=10)
