"""With etcd, what was stored survives an API server restart: objects, CRDs and their custom resources."""

from __future__ import annotations

import kubernetes.client

from kubelab.kubeconfig import api_client

GROUP = "restart.example.com"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"things.{GROUP}"},
    "spec": {
        "group": GROUP, "scope": "Namespaced",
        "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        }}}],
    },
}


def test_objects_and_custom_resources_survive_a_restart(etcd, make_server, tmp_path):
    first = make_server(tmp_path / "cluster", store="etcd", etcd_servers=etcd.endpoint)
    client = api_client(first.config.cluster_dir.kubeconfig)
    try:
        core = kubernetes.client.CoreV1Api(client)
        core.create_namespace({"metadata": {"name": "keep-me"}})
        core.create_namespaced_config_map("keep-me", {"metadata": {"name": "cm"}, "data": {"a": "1"}})
        kubernetes.client.ApiextensionsV1Api(client).create_custom_resource_definition(CRD)
        kubernetes.client.CustomObjectsApi(client).create_namespaced_custom_object(
            GROUP, "v1", "keep-me", "things", {"apiVersion": f"{GROUP}/v1", "kind": "Thing", "metadata": {"name": "t"}, "x": 1}
        )
    finally:
        client.close()
        first.stop()
    second = make_server(tmp_path / "cluster", store="etcd", etcd_servers=etcd.endpoint)
    client = api_client(second.config.cluster_dir.kubeconfig)
    try:
        core = kubernetes.client.CoreV1Api(client)
        assert core.read_namespaced_config_map("cm", "keep-me").data == {"a": "1"}
        thing = kubernetes.client.CustomObjectsApi(client).get_namespaced_custom_object(GROUP, "v1", "keep-me", "things", "t")
        assert thing["x"] == 1
        endpoints = core.read_namespaced_endpoints("kubernetes", "default")
        assert endpoints.subsets[0].ports[0].port == second.port
        service = core.read_namespaced_service("kubernetes", "default")
        assert service.spec.ports[0].target_port == second.port
    finally:
        client.close()
        second.stop()
