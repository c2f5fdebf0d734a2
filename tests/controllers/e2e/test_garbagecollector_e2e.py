"""The garbage collector on a real cluster: kubectl's three cascades."""

from __future__ import annotations

import json

from controller_helpers import create_widget_crd, kubectl_apply, running, wait_for
from kubelet_double import KubeletDouble

from kubelab import errors
from kubelab.controllers.deployment import DeploymentController
from kubelab.controllers.garbagecollector import GarbageCollector
from kubelab.controllers.replicaset import ReplicaSetController


def configmap(client, namespace, name, owners=(), finalizers=()):
    body = {"metadata": {"name": name, "ownerReferences": list(owners)}}
    if finalizers:
        body["metadata"]["finalizers"] = list(finalizers)
    return client.resource("v1", "configmaps").create(body, namespace)


def owned_by(owner, *, block=True):
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}


def gone(client, namespace, name):
    def check():
        try:
            client.resource("v1", "configmaps").get(name, namespace)
        except errors.NotFound:
            return True
        return False
    return check


def test_background_cascade_deletes_dependents_after_the_owner(cluster, client, namespace):
    with running(cluster, garbagecollector=GarbageCollector()):
        parent = configmap(client, namespace, "parent")
        child = configmap(client, namespace, "child", [owned_by(parent)])
        configmap(client, namespace, "grandchild", [owned_by(child)])
        cluster.kubectl("delete", "configmap", "parent", "-n", namespace)
        wait_for(gone(client, namespace, "grandchild"), what="the grandchild to be collected")
        wait_for(gone(client, namespace, "child"), what="the child to be collected")


def test_foreground_cascade_waits_for_blocking_dependents(cluster, client, namespace):
    configmaps = client.resource("v1", "configmaps")
    with running(cluster, garbagecollector=GarbageCollector()):
        parent = configmap(client, namespace, "parent")
        child = configmap(client, namespace, "child", [owned_by(parent)])
        configmap(client, namespace, "grandchild", [owned_by(child)], finalizers=["example.com/hold"])
        cluster.kubectl("delete", "configmap", "parent", "-n", namespace, "--cascade=foreground", "--wait=false")

        def held():
            grandchild = configmaps.get("grandchild", namespace)
            return grandchild["metadata"].get("deletionTimestamp")
        wait_for(held, what="the grandchild to be deleted first")
        # The owners wait, each marked as deleting its dependents.
        for name in ("parent", "child"):
            waiting = configmaps.get(name, namespace)
            assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
            assert waiting["metadata"].get("deletionTimestamp")
        configmaps.patch("grandchild", {"metadata": {"finalizers": None}}, namespace)
        wait_for(gone(client, namespace, "parent"), what="the foreground deletion to finish")
        assert gone(client, namespace, "child")()


def test_orphan_cascade_keeps_dependents_and_strips_the_owner(cluster, client, namespace):
    configmaps = client.resource("v1", "configmaps")
    with running(cluster, garbagecollector=GarbageCollector()):
        parent = configmap(client, namespace, "parent")
        other = configmap(client, namespace, "other")
        configmap(client, namespace, "child", [owned_by(parent), owned_by(other)])
        cluster.kubectl("delete", "configmap", "parent", "-n", namespace, "--cascade=orphan")
        assert gone(client, namespace, "parent")()
        child = configmaps.get("child", namespace)
        assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["other"]


def test_a_dependent_of_an_owner_that_never_existed_is_collected(cluster, client, namespace):
    with running(cluster, garbagecollector=GarbageCollector()):
        real = configmap(client, namespace, "real")
        ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000001"}
        configmap(client, namespace, "haunted", [ghost])
        configmap(client, namespace, "half", [ghost, owned_by(real)])
        wait_for(gone(client, namespace, "haunted"), what="the dependent of a missing owner to be collected")

        def ghost_dropped():
            refs = client.resource("v1", "configmaps").get("half", namespace)["metadata"].get("ownerReferences")
            return [r["name"] for r in refs or ()] == ["real"]
        wait_for(ghost_dropped, what="the missing owner to be dropped from a dependent that has another")


def test_cluster_scoped_owner_of_namespaced_dependents(cluster, client, namespace):
    with running(cluster, garbagecollector=GarbageCollector()):
        owner = client.resource("v1", "persistentvolumes").create({
            "metadata": {"name": f"pv-{namespace}"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/x"}},
        })
        ref = {"apiVersion": "v1", "kind": "PersistentVolume", "name": owner["metadata"]["name"],
               "uid": owner["metadata"]["uid"]}
        configmap(client, namespace, "owned-by-pv", [ref])
        cluster.kubectl("delete", "pv", owner["metadata"]["name"])
        wait_for(gone(client, namespace, "owned-by-pv"), what="the dependent of a deleted PV to be collected")


def test_custom_resources_are_owners_and_dependents_too(cluster, client, namespace):
    api_version = create_widget_crd(cluster, f"{namespace}.example.com")
    configmaps = client.resource("v1", "configmaps")
    # A short discovery period: the collector finds the new kind without waiting 30 s.
    with running(cluster, garbagecollector=GarbageCollector(discovery_period=0.5)):
        kubectl_apply(cluster, namespace, f"apiVersion: {api_version}\nkind: Widget\nmetadata: {{name: w1}}\n")
        widget = client.resource(api_version, "widgets").get("w1", namespace)
        owner = {"apiVersion": api_version, "kind": "Widget", "name": "w1", "uid": widget["metadata"]["uid"]}
        configmap(client, namespace, "of-widget", [owner])
        parent = configmap(client, namespace, "parent")
        kubectl_apply(cluster, namespace, json.dumps({
            "apiVersion": api_version, "kind": "Widget",
            "metadata": {"name": "w2", "ownerReferences": [owned_by(parent)]}}))
        cluster.kubectl("delete", "widget", "w1", "-n", namespace)
        wait_for(gone(client, namespace, "of-widget"), what="the ConfigMap of a deleted Widget to be collected")
        cluster.kubectl("delete", "configmap", "parent", "-n", namespace)

        def widget_gone():
            return cluster.kubectl("get", "widget", "w2", "-n", namespace, "--ignore-not-found", "-o", "name").stdout == ""
        wait_for(widget_gone, what="the Widget of a deleted ConfigMap to be collected")
    assert configmaps.list(namespace)["items"] == []


def test_kubectl_delete_deployment_in_the_foreground(cluster, client, namespace, scheduler):
    kubelet = KubeletDouble(client, [f"n-{namespace}"]).start()
    try:
        controllers = {"garbagecollector": GarbageCollector(), "deployment": DeploymentController(),
                       "replicaset": ReplicaSetController()}
        with running(cluster, **controllers):
            cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", namespace)
            cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s", timeout=70)
            # kubectl returns once the Deployment itself is gone: in the foreground, that is last.
            cluster.kubectl("delete", "deployment", "web", "--cascade=foreground", "-n", namespace, timeout=60)
            assert client.resource("apps/v1", "replicasets").list(namespace)["items"] == []
            assert client.resource("v1", "pods").list(namespace)["items"] == []
    finally:
        kubelet.stop()
