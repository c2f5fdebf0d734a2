import json

import pytest

from kubelab.api.resources import ResourceRegistry
from kubelab.apiserver.openapi import OpenAPIDocuments, decode_error, unknown_fields
from kubelab.apiserver.openapi_v2_proto import encode_document
from kubelab.apiserver.resources.customresourcedefinitions import (
    CustomResourceDefinitionStrategy,
    resource_infos,
)


@pytest.fixture(scope="module")
def docs():
    return OpenAPIDocuments(ResourceRegistry())


def _query_params(op):
    return {p["name"] for p in op["parameters"] if p["in"] == "query"}


def test_v2_patch_operations_carry_gvk_and_field_validation(docs):
    v2 = docs.v2()
    assert v2["swagger"] == "2.0"
    patch = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= _query_params(patch)
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    kinds = {(op["x-kubernetes-group-version-kind"]["group"], op["x-kubernetes-group-version-kind"]["kind"])
             for item in v2["paths"].values() for verb, op in item.items() if verb == "patch"}
    for info in ResourceRegistry():
        assert (info.group, info.kind) in kinds
    scale = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_v2_definitions_describe_fields_and_merge_keys(docs):
    defs = docs.v2()["definitions"]
    pod = defs["io.k8s.api.core.v1.Pod"]
    assert pod["description"].startswith("Pod is a collection of containers")
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    assert containers["x-kubernetes-patch-merge-key"] == "name" and containers["x-kubernetes-patch-strategy"] == "merge"
    assert defs["io.k8s.api.core.v1.Container"]["required"] == ["name"]
    assert defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]["x-kubernetes-patch-merge-key"] == "port"
    assert defs["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]["$ref"].endswith("intstr.IntOrString")
    assert defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"] == {
        "$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec",
    }
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in defs
    assert defs["io.k8s.api.events.v1.Event"]["x-kubernetes-group-version-kind"][0]["group"] == "events.k8s.io"
    for name, definition in defs.items():
        for prop in definition.get("properties", {}).values():
            ref = prop.get("$ref") or prop.get("items", {}).get("$ref") or (prop.get("additionalProperties") or {}).get("$ref")
            assert ref is None or ref.removeprefix("#/definitions/") in defs, (name, ref)


def _decode(data: bytes) -> dict[int, list]:
    """A generic protobuf wire-format reader: field number → raw values (bytes for length-delimited)."""
    fields: dict[int, list] = {}
    pos = 0

    def varint():
        nonlocal pos
        shift = value = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
        elif wire == 2:
            length = varint()
            value = data[pos:pos + length]
            pos += length
        elif wire == 1:
            value = data[pos:pos + 8]
            pos += 8
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def test_v2_protobuf_is_a_gnostic_document(docs):
    doc = _decode(docs.v2_protobuf())
    assert doc[1] == [b"2.0"]
    paths = {}
    for named in _decode(doc[8][0])[2]:
        entry = _decode(named)
        paths[entry[1][0].decode()] = _decode(entry[2][0])
    item = paths["/api/v1/namespaces/{namespace}/configmaps/{name}"]
    patch = _decode(item[8][0])
    assert patch[5] == [b"patchCoreV1NamespacedConfigMap"]
    names = []
    for param in patch[8]:
        parameter = _decode(_decode(param)[1][0])
        if 2 in parameter:
            query = _decode(_decode(parameter[2][0])[3][0])
            names.append(query[4][0].decode())
    assert "fieldValidation" in names
    extensions = {(_decode(e)[1][0].decode()): _decode(_decode(e)[2][0])[2][0].decode() for e in patch[13]}
    assert extensions["x-kubernetes-group-version-kind"] == "group: ''\nversion: v1\nkind: ConfigMap"
    definitions = {_decode(d)[1][0].decode() for d in _decode(doc[9][0])[1]}
    assert "io.k8s.api.core.v1.ConfigMap" in definitions


def test_protobuf_encodes_scalars_like_proto3():
    doc = {"swagger": "2.0", "info": {"title": "t", "version": "v"}, "paths": {}, "definitions": {
        "x": {"type": "object", "properties": {"n": {"type": "integer", "minimum": -1, "maxLength": 300}},
              "additionalProperties": False}}}
    definition = _decode(_decode(_decode(_decode(encode_document(doc))[9][0])[1][0])[2][0])
    prop = _decode(_decode(_decode(definition[25][0])[1][0])[2][0])
    assert _decode(prop[22][0])[1] == [b"integer"]
    assert prop[11] == [300]
    import struct
    assert struct.unpack("<d", prop[9][0]) == (-1.0,)
    assert _decode(definition[21][0]) == {2: [0]}


def test_v3_index_and_group_version_documents(docs):
    index = docs.v3_index()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/events.k8s.io/v1"} <= set(index)
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=") and len(url.split("=")[1]) == 128
    doc = docs.v3("apis/apps/v1")
    assert doc["openapi"] == "3.0.0"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation").items()
    schemas = doc["components"]["schemas"]
    assert "io.k8s.api.apps.v1.Deployment" in schemas and "io.k8s.api.core.v1.PodSpec" in schemas
    assert "io.k8s.api.core.v1.Pod" not in schemas
    strategy = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}]
    assert docs.v3("apis/nope/v1") is None
    assert json.dumps(doc)


def test_unknown_fields_of_builtin_kinds():
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"any": "x"}},
        "spec": {"replicass": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx", "imagee": "x", "resources": {"limits": {"cpu": 1}}}]}}},
    }
    assert unknown_fields(deployment, "apps", "v1", "Deployment") == [
        "spec.replicass", "spec.template.spec.containers[0].imagee",
    ]
    assert unknown_fields({"metadata": {"nmae": "x"}, "data": {"k": "v"}}, "", "v1", "ConfigMap") == ["metadata.nmae"]
    assert unknown_fields({"note": "n", "regarding": {"kind": "Pod", "nme": "x"}}, "events.k8s.io", "v1", "Event") == ["regarding.nme"]


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com", "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "description": "The schedule.",
                "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}},
            "subresources": {"status": {}},
        }],
    },
}


def test_custom_resources_in_the_documents():
    registry = ResourceRegistry()
    strategy = CustomResourceDefinitionStrategy(registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions"))
    crd = dict(CRD)
    strategy.default(crd)
    for info in resource_infos(crd):
        registry.add(info)
    docs = OpenAPIDocuments(registry)
    docs.set_custom_resource_definitions([crd])
    doc = docs.v3("apis/stable.example.com/v1")
    schema = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-group-version-kind"] == [{"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    assert schema["properties"]["spec"]["description"] == "The schedule."
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in doc["components"]["schemas"]
    patch = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "CronTab"
    assert "apis/stable.example.com/v1" in docs.v3_index()["paths"]
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"},
           "spec": {"cronSpec": "* * * * */5", "image": "my-cron"}}
    assert docs.unknown_fields(obj, "stable.example.com", "v1", "CronTab") == ["spec.image"]


def test_decode_errors_name_the_go_field_and_type():
    deployment = {"spec": {"replicas": "3", "selector": {"matchLabels": {"app": "web"}}}}
    assert decode_error(deployment, "apps", "v1", "Deployment") == (
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
    pod = {"spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": "80"}]}]}}
    assert decode_error(pod, "", "v1", "Pod") == (
        "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32")
    assert decode_error({"spec": {"containers": {"name": "web"}}}, "", "v1", "Pod") == (
        "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container")
    assert decode_error({"spec": {"terminationGracePeriodSeconds": 1.5}}, "", "v1", "Pod") == (
        "json: cannot unmarshal number 1.5 into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64")
    assert decode_error({"metadata": {"labels": {"tier": 1}}}, "", "v1", "ConfigMap") == (
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string")
    fine = {"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"containers": [
        {"name": "web", "image": "nginx", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}},
         "ports": [{"containerPort": 80}], "readinessProbe": {"httpGet": {"port": "http"}}}]}}
    assert decode_error(fine, "", "v1", "Pod") is None
    assert decode_error({"spec": {"x": 1}}, "example.com", "v1", "Widget") is None
