"""The service account controller on a real cluster: every namespace gets a ``default`` ServiceAccount."""

from __future__ import annotations

from controller_helpers import running, wait_for

from kubelab import errors
from kubelab.controllers.serviceaccount import ServiceAccountsController


def has_default(client, namespace):
    def check():
        try:
            return client.resource("v1", "serviceaccounts").get("default", namespace)
        except errors.NotFound:
            return None
    return check


def test_every_namespace_gets_a_default_service_account_back_if_deleted(cluster, client, namespace):
    with running(cluster, serviceaccount=ServiceAccountsController()):
        first = wait_for(has_default(client, namespace), what="the default ServiceAccount")
        cluster.kubectl("create", "namespace", f"{namespace}-2")
        wait_for(has_default(client, f"{namespace}-2"), what="the default ServiceAccount of a new namespace")
        assert "default" in cluster.kubectl("get", "serviceaccounts", "-n", namespace, "-o", "name").stdout
        cluster.kubectl("delete", "serviceaccount", "default", "-n", namespace)
        again = wait_for(has_default(client, namespace), what="the default ServiceAccount to come back")
        assert again["metadata"]["uid"] != first["metadata"]["uid"]


def test_a_terminating_namespace_gets_none(cluster, client, namespace):
    client.resource("v1", "configmaps").create(
        {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}, namespace)
    client.resource("v1", "namespaces").delete(namespace)
    with running(cluster, serviceaccount=ServiceAccountsController()) as manager:
        manager.controllers["serviceaccount"].controller.queue.add(namespace)
        wait_for(lambda: len(manager.controllers["serviceaccount"].controller.queue) == 0)
        assert has_default(client, namespace)() is None
