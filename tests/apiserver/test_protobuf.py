"""kubectl 1.32+ sends protobuf for its typed commands; the objects must come out as JSON ones do."""

from __future__ import annotations

import json

import pytest

from kubelab.apiserver import protobuf
from kubelab.cluster import Cluster

COMMANDS = {
    "configmap": ["create", "configmap", "{name}", "--from-literal=a=1", "--from-literal=b=two"],
    "secret": ["create", "secret", "generic", "{name}", "--from-literal=password=hunter2"],
    "deployment": ["create", "deployment", "{name}", "--image=nginx:1.27", "--replicas=3", "--port=80"],
    "deployment-zero": ["create", "deployment", "{name}", "--image=nginx", "--replicas=0"],
    "service": ["create", "service", "nodeport", "{name}", "--tcp=80:8080"],
    "job": ["create", "job", "{name}", "--image=busybox", "--", "echo", "hi"],
    "ingress": ["create", "ingress", "{name}", "--rule=foo.com/bar*=svc1:8080,tls=my-cert"],
    "pod": ["run", "{name}", "--image=nginx", "--labels=tier=web", "--env=MODE=demo"],
}
RESOURCE = {"deployment-zero": "deployment", "pod": "pod"}


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as c:
        yield c


def _comparable(obj: dict) -> dict:
    """The object without what differs between any two creations (uid, times, versions, allocated addresses)."""
    obj = json.loads(json.dumps(obj).replace(obj["metadata"]["uid"], "UID"))
    for volatile in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
        obj["metadata"].pop(volatile, None)
    if obj["kind"] == "Service":
        for allocated in ("clusterIP", "clusterIPs"):
            obj["spec"].pop(allocated)
        for port in obj["spec"]["ports"]:
            port.pop("nodePort", None)
    return obj


@pytest.mark.parametrize("what", sorted(COMMANDS))
@pytest.mark.parametrize("version", ["1.32", "1.33"])
def test_protobuf_bodies_store_the_same_object_as_json_ones(cluster, what, version):
    objects = {}
    for v in ("1.31", version):  # 1.31 sends JSON, 1.32+ protobuf
        name = f"{what}-{v.replace('.', '')}"
        args = [a.format(name=name) for a in COMMANDS[what]]
        cluster.kubectl(*args, version=v)
        got = cluster.kubectl("get", RESOURCE.get(what, what.split("-")[0]), name, "-o", "json")
        objects[v] = json.loads(got.stdout.replace(name, "NAME"))
        cluster.kubectl("delete", RESOURCE.get(what, what.split("-")[0]), name, "--wait=false")
    assert _comparable(objects[version]) == _comparable(objects["1.31"])


def test_an_explicit_zero_in_a_pointer_field_survives(cluster):
    cluster.kubectl("create", "deployment", "none", "--image=nginx", "--replicas=0", version="1.33")
    assert cluster.kubectl("get", "deploy", "none", "-o", "jsonpath={.spec.replicas}").stdout == "0"


@pytest.mark.parametrize(
    "body, message",
    [
        (b"k8s\x00\x0a\x05\x0a\x02v1", "truncated"),
        (b"not protobuf", "magic number"),
        (b"k8s\x00\x0a\x0b\x0a\x02v1\x12\x05Nope!\x12\x00", "no protobuf schema for v1 Nope!"),
        (b"k8s\x00\x12\x00", "names no kind"),
    ],
)
def test_broken_protobuf_is_refused_with_a_reason(body, message):
    with pytest.raises(protobuf.ProtobufError, match=message):
        protobuf.decode(body)


def test_the_schema_read_from_kubectl_is_cached_and_a_broken_cache_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBELAB_HOME", str(tmp_path))
    binary = protobuf.kubectl_binaries()[0]
    first = protobuf._schema_of(binary)
    cache = protobuf._cache_file(binary)
    assert cache.is_file() and first
    assert protobuf._schema_of(binary) == first
    cache.write_text('{"half a file')
    assert protobuf._schema_of(binary) == first
    assert protobuf._load(cache.read_text()) == first
