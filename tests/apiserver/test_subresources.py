"""Resource-specific behaviour: pods (admission, status, binding, graceful deletion, eviction),
workloads (scale, generation), namespaces (termination), services (address allocation)."""

from __future__ import annotations

import ipaddress
import json

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException


def _pod(name: str, **spec: object) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def _deployment(name: str, replicas: int = 1) -> dict[str, object]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }


@pytest.fixture(scope="module")
def apps(api):
    return kubernetes.client.AppsV1Api(api)


def test_pod_admission_defaults(core, namespace):
    pod = core.create_namespaced_pod(namespace, _pod("adm"))
    assert pod.spec.service_account_name == "default"
    tolerations = {(t.key, t.effect, t.toleration_seconds) for t in pod.spec.tolerations}
    assert tolerations == {
        ("node.kubernetes.io/not-ready", "NoExecute", 300), ("node.kubernetes.io/unreachable", "NoExecute", 300),
    }
    assert pod.status.phase == "Pending"


def test_invalid_pod_is_422_with_field_causes(raw, namespace):
    body = {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}}
    reply = raw("POST", f"/api/v1/namespaces/{namespace}/pods", body)
    assert reply.status == 422
    status = reply.json()
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('Pod "Bad_Name" is invalid: [')
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"metadata.name", "spec.containers[0].image"} <= fields


def test_status_subresource_changes_only_status(raw, core, namespace):
    core.create_namespaced_pod(namespace, _pod("st"))
    current = raw("GET", f"/api/v1/namespaces/{namespace}/pods/st").json()
    current["status"]["phase"] = "Running"
    current["spec"]["containers"][0]["image"] = "changed"
    reply = raw("PUT", f"/api/v1/namespaces/{namespace}/pods/st/status", current)
    assert reply.status == 200
    stored = core.read_namespaced_pod("st", namespace)
    assert stored.status.phase == "Running"
    assert stored.spec.containers[0].image == "busybox"


def test_main_resource_update_does_not_change_status(raw, core, namespace):
    core.create_namespaced_pod(namespace, _pod("st2"))
    current = raw("GET", f"/api/v1/namespaces/{namespace}/pods/st2").json()
    current["status"]["phase"] = "Running"
    current["metadata"]["labels"] = {"x": "y"}
    raw("PUT", f"/api/v1/namespaces/{namespace}/pods/st2", current)
    stored = core.read_namespaced_pod("st2", namespace)
    assert stored.status.phase == "Pending" and stored.metadata.labels == {"x": "y"}


def test_binding_assigns_the_node_once(raw, core, namespace):
    core.create_namespaced_pod(namespace, _pod("bind"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bind"}, "target": {"kind": "Node", "name": "n1"}}
    reply = raw("POST", f"/api/v1/namespaces/{namespace}/pods/bind/binding", binding)
    assert reply.status == 201
    assert reply.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    pod = core.read_namespaced_pod("bind", namespace)
    assert pod.spec.node_name == "n1"
    assert [(c.type, c.status) for c in pod.status.conditions] == [("PodScheduled", "True")]
    again = raw("POST", f"/api/v1/namespaces/{namespace}/pods/bind/binding", binding)
    assert again.status == 409
    assert again.json()["message"] == (
        'Operation cannot be fulfilled on pods/binding "bind": pod bind is already assigned to node "n1"'
    )
    missing = raw("POST", f"/api/v1/namespaces/{namespace}/pods/ghost/binding", {**binding, "metadata": {"name": "ghost"}})
    assert missing.status == 404


def test_unbound_pod_is_deleted_at_once(core, namespace):
    core.create_namespaced_pod(namespace, _pod("quick"))
    deleted = core.delete_namespaced_pod("quick", namespace)
    assert deleted.metadata.name == "quick"
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("quick", namespace)
    assert info.value.status == 404


def test_pod_on_a_missing_node_is_deleted_at_once(core, namespace):
    core.create_namespaced_pod(namespace, _pod("orphaned", nodeName="no-such-node"))
    core.delete_namespaced_pod("orphaned", namespace)
    with pytest.raises(ApiException):
        core.read_namespaced_pod("orphaned", namespace)


def test_pod_on_a_node_is_deleted_gracefully_then_finished_at_grace_zero(core, namespace):
    node = f"node-{namespace}"
    core.create_node({"metadata": {"name": node}})
    created = core.create_namespaced_pod(namespace, _pod("slow", nodeName=node, terminationGracePeriodSeconds=45))
    deleting = core.delete_namespaced_pod("slow", namespace)
    assert deleting.metadata.deletion_grace_period_seconds == 45
    assert deleting.metadata.deletion_timestamp is not None
    still = core.read_namespaced_pod("slow", namespace)
    assert still.metadata.deletion_timestamp == deleting.metadata.deletion_timestamp
    # What the kubelet does once the containers have stopped:
    core.delete_namespaced_pod("slow", namespace, grace_period_seconds=0,
                               body=kubernetes.client.V1DeleteOptions(preconditions={"uid": created.metadata.uid}))
    with pytest.raises(ApiException):
        core.read_namespaced_pod("slow", namespace)


def test_eviction_deletes_the_pod(raw, core, namespace):
    core.create_namespaced_pod(namespace, _pod("evict"))
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evict", "namespace": namespace}}
    reply = raw("POST", f"/api/v1/namespaces/{namespace}/pods/evict/eviction", eviction)
    assert reply.status == 201
    assert raw("GET", f"/api/v1/namespaces/{namespace}/pods/evict").status == 404
    assert raw("POST", f"/api/v1/namespaces/{namespace}/pods/evict/eviction", eviction).status == 404


def test_scale_subresource(raw, apps, namespace):
    apps.create_namespaced_deployment(namespace, _deployment("web", 2))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 2)
    assert scale.status.selector == "app=web"
    reply = raw(
        "PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale", {"spec": {"replicas": 5}},
        content_type="application/merge-patch+json",
    )
    assert reply.status == 200 and reply.json()["spec"]["replicas"] == 5
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 5
    stale = scale.to_dict()
    stale_body = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                  "metadata": {"name": "web", "resourceVersion": stale["metadata"]["resource_version"]},
                  "spec": {"replicas": 1}}
    conflict = raw("PUT", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale", stale_body)
    assert conflict.status == 409
    negative = raw("PUT", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale",
                   {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": -1}})
    assert negative.status == 422
    assert negative.json()["details"]["causes"][0]["field"] == "spec.replicas"


def test_generation_counts_spec_changes_only(raw, apps, namespace):
    created = apps.create_namespaced_deployment(namespace, _deployment("gen"))
    assert created.metadata.generation == 1
    apps.patch_namespaced_deployment("gen", namespace, {"metadata": {"labels": {"a": "b"}}})
    assert apps.read_namespaced_deployment("gen", namespace).metadata.generation == 1
    apps.patch_namespaced_deployment("gen", namespace, {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("gen", namespace).metadata.generation == 2
    apps.patch_namespaced_deployment_status("gen", namespace, {"status": {"observedGeneration": 2, "replicas": 3}})
    current = apps.read_namespaced_deployment("gen", namespace)
    assert current.metadata.generation == 2 and current.status.observed_generation == 2


def test_namespace_deletion_terminates_and_blocks_new_content(raw, core):
    core.create_namespace({"metadata": {"name": "doomed"}})
    deleted = raw("DELETE", "/api/v1/namespaces/doomed")
    assert deleted.status == 200
    assert deleted.json()["status"]["phase"] == "Terminating"
    reply = raw("POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "late"}})
    assert reply.status == 403
    status = reply.json()
    assert status["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated'
    )
    assert status["details"]["causes"] == [{
        "reason": "NamespaceTerminating", "message": "namespace doomed is being terminated", "field": "metadata.namespace",
    }]
    again = raw("DELETE", "/api/v1/namespaces/doomed")
    assert again.status == 409
    ns = raw("GET", "/api/v1/namespaces/doomed").json()
    ns["spec"]["finalizers"] = []
    assert raw("PUT", "/api/v1/namespaces/doomed/finalize", ns).status == 200
    assert raw("DELETE", "/api/v1/namespaces/doomed").status == 200
    assert raw("GET", "/api/v1/namespaces/doomed").status == 404


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_cannot_be_deleted(raw, name):
    reply = raw("DELETE", f"/api/v1/namespaces/{name}")
    assert reply.status == 403
    assert reply.json()["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'


def test_namespace_names_are_dns_labels(raw):
    reply = raw("POST", "/api/v1/namespaces", {"metadata": {"name": "a.b"}})
    assert reply.status == 422


def test_services_get_cluster_ips_and_node_ports(core, namespace):
    spec = {"selector": {"app": "x"}, "ports": [{"port": 80}]}
    a = core.create_namespaced_service(namespace, {"metadata": {"name": "a"}, "spec": spec})
    b = core.create_namespaced_service(namespace, {"metadata": {"name": "b"}, "spec": {**spec, "type": "NodePort"}})
    network = ipaddress.ip_network("127.96.0.0/12")
    for svc in (a, b):
        assert ipaddress.ip_address(svc.spec.cluster_ip) in network
        assert svc.spec.cluster_ip != "127.96.0.1"
    assert a.spec.cluster_ip != b.spec.cluster_ip
    assert 30000 <= b.spec.ports[0].node_port <= 32767
    taken = {"metadata": {"name": "c"}, "spec": {**spec, "clusterIP": a.spec.cluster_ip}}
    with pytest.raises(ApiException) as info:
        core.create_namespaced_service(namespace, taken)
    assert info.value.status == 422
    assert json.loads(info.value.body)["details"]["causes"][0]["field"].startswith("spec.clusterIP")
    deleted = core.delete_namespaced_service("a", namespace)
    assert deleted.metadata.name == "a"
    reuse = core.create_namespaced_service(namespace, taken)
    assert reuse.spec.cluster_ip == a.spec.cluster_ip
