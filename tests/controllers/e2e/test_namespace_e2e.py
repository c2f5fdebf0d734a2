"""The namespace controller on a real cluster: ``kubectl delete namespace``."""

from __future__ import annotations

import pytest
from controller_helpers import create_widget_crd, kubectl_apply, running, wait_for
from kubelet_double import KubeletDouble

from kubelab import errors
from kubelab.controllers.garbagecollector import GarbageCollector
from kubelab.controllers.namespace import NamespaceController


@pytest.fixture
def kubelet(client, namespace):
    double = KubeletDouble(client, [f"node-{namespace}"]).start()
    yield double
    double.stop()


def test_kubectl_delete_namespace_empties_it_then_removes_it(cluster, client, namespace, kubelet):
    configmaps = client.resource("v1", "configmaps")
    configmaps.create({"metadata": {"name": "plain"}}, namespace)
    configmaps.create({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}, namespace)
    client.resource("v1", "pods").create({
        "metadata": {"name": "web"},
        "spec": {"nodeName": kubelet.nodes[0], "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "web", "image": "nginx"}]},
    }, namespace)
    wait_for(lambda: client.resource("v1", "pods").get("web", namespace)["status"].get("phase") == "Running")
    controllers = {"namespace": NamespaceController(finalizer_estimate=1), "garbagecollector": GarbageCollector()}
    with running(cluster, **controllers):
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")

        def held_back():
            ns = client.resource("v1", "namespaces").get(namespace)
            conditions = {c["type"]: c for c in ns["status"].get("conditions") or ()}
            finalizers = conditions.get("NamespaceFinalizersRemaining", {})
            return ns["status"]["phase"] == "Terminating" and finalizers.get("status") == "True" and finalizers
        condition = wait_for(held_back, what="the namespace to report the finalizer holding it")
        assert condition["message"] == \
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        assert [c["metadata"]["name"] for c in configmaps.list(namespace)["items"]] == ["held"]
        assert client.resource("v1", "pods").list(namespace)["items"] == []
        assert client.resource("v1", "namespaces").get(namespace)["spec"]["finalizers"] == ["kubernetes"]

        configmaps.patch("held", {"metadata": {"finalizers": None}}, namespace)
        cluster.kubectl("wait", "--for=delete", f"namespace/{namespace}", "--timeout=30s", timeout=40)
        with pytest.raises(errors.NotFound):
            client.resource("v1", "namespaces").get(namespace)


def test_nothing_can_be_created_in_a_terminating_namespace(cluster, client, namespace):
    client.resource("v1", "configmaps").create(
        {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}, namespace)
    with running(cluster, namespace=NamespaceController(finalizer_estimate=1)):
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
        result = cluster.kubectl("create", "configmap", "late", "-n", namespace, check=False)
        assert result.returncode == 1
        assert "because it is being terminated" in result.stderr
        client.resource("v1", "configmaps").patch("held", {"metadata": {"finalizers": None}}, namespace)
        cluster.kubectl("wait", "--for=delete", f"namespace/{namespace}", "--timeout=30s", timeout=40)


def test_custom_resources_in_a_namespace_are_deleted_with_it(cluster, client, namespace):
    api_version = create_widget_crd(cluster, f"{namespace}.example.com")
    kubectl_apply(cluster, namespace, f"apiVersion: {api_version}\nkind: Widget\nmetadata: {{name: w1}}\n")
    with running(cluster, namespace=NamespaceController()):
        cluster.kubectl("delete", "namespace", namespace, "--timeout=30s", timeout=40)
    with pytest.raises(errors.NotFound):
        client.resource("v1", "namespaces").get(namespace)
