"""CustomResourceDefinitions: once created, their custom resources are served, validated and printed."""

from __future__ import annotations

import json

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException

GROUP = "lab.example.com"


def _crd(plural: str = "widgets", kind: str = "Widget") -> dict[str, object]:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "colour": {"type": "string", "default": "blue"},
                    "replicas": {"type": "integer"},
                },
                "required": ["size"],
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}, "replicas": {"type": "integer"}}},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "shortNames": [plural[:2]]},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
            }],
        },
    }


@pytest.fixture(scope="module")
def crd(api):
    ext = kubernetes.client.ApiextensionsV1Api(api)
    created = ext.create_custom_resource_definition(_crd())
    return created


@pytest.fixture(scope="module")
def custom(api):
    return kubernetes.client.CustomObjectsApi(api)


def _widget(name: str, **spec: object) -> dict[str, object]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def test_a_new_crd_is_established_and_discoverable(crd, raw):
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    resources = {r["name"] for r in raw("GET", f"/apis/{GROUP}/v1").json()["resources"]}
    assert resources == {"widgets", "widgets/status", "widgets/scale"}
    assert GROUP in {g["name"] for g in raw("GET", "/apis").json()["groups"]}


def test_custom_resources_are_created_defaulted_and_validated(crd, custom, namespace):
    created = custom.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", _widget("w1", size=3))
    assert created["spec"] == {"size": 3, "colour": "blue"}
    assert created["metadata"]["generation"] == 1
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", _widget("w2", size="big"))
    assert info.value.status == 422
    body = json.loads(info.value.body)
    assert body["details"]["causes"][0]["field"] == "spec.size"
    listed = custom.list_namespaced_custom_object(GROUP, "v1", namespace, "widgets")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]


def test_custom_resource_status_and_scale(crd, custom, raw, namespace):
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", _widget("s1", size=1, replicas=2))
    custom.patch_namespaced_custom_object_status(GROUP, "v1", namespace, "widgets", "s1", {"status": {"ready": True, "replicas": 2}})
    stored = custom.get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "s1")
    assert stored["status"] == {"ready": True, "replicas": 2}
    assert stored["metadata"]["generation"] == 1
    scale = raw("GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/widgets/s1/scale").json()
    assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (2, 2)
    reply = raw("PATCH", f"/apis/{GROUP}/v1/namespaces/{namespace}/widgets/s1/scale", {"spec": {"replicas": 4}},
                content_type="application/merge-patch+json")
    assert reply.status == 200
    assert custom.get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "s1")["spec"]["replicas"] == 4


def test_strategic_merge_patch_is_refused_for_custom_resources(crd, custom, raw, namespace):
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", _widget("p1", size=1))
    reply = raw("PATCH", f"/apis/{GROUP}/v1/namespaces/{namespace}/widgets/p1", {"spec": {"size": 2}},
                content_type="application/strategic-merge-patch+json")
    assert reply.status == 415


def test_kubectl_prints_custom_columns(crd, custom, kubectl, namespace):
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", _widget("k1", size=7))
    rows = [line.split() for line in kubectl("-n", namespace, "get", "wi").stdout.strip().splitlines()]
    assert rows[0] == ["NAME", "SIZE"]  # with printer columns, Age only when listed
    assert rows[1][:2] == ["k1", "7"]
    applied = kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(_widget("k2", size=2)))
    assert applied.stdout.strip() == f"widget.{GROUP}/k2 created"
    assert "widgets" in kubectl("api-resources", "--api-group", GROUP).stdout


def test_deleting_the_crd_deletes_its_resources(api, raw, namespace):
    ext = kubernetes.client.ApiextensionsV1Api(api)
    custom = kubernetes.client.CustomObjectsApi(api)
    ext.create_custom_resource_definition(_crd("gadgets", "Gadget"))
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, "gadgets",
                                           {**_widget("g1", size=1), "kind": "Gadget"})
    ext.delete_custom_resource_definition(f"gadgets.{GROUP}")
    assert raw("GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/gadgets").status == 404
    ext.create_custom_resource_definition(_crd("gadgets", "Gadget"))
    assert custom.list_namespaced_custom_object(GROUP, "v1", namespace, "gadgets")["items"] == []
