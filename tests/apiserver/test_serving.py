"""The server itself: TLS and token, health, version, discovery, the bootstrap objects."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBECTL_DISCOVERY_ACCEPT = f"{AGGREGATED_V2},{AGGREGATED_V2BETA1},application/json"


def test_listens_on_loopback_with_the_cluster_certificate(server):
    assert server.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(server.config.cluster_dir.ca_cert))
    with urllib.request.urlopen(server.url + "/healthz", context=context, timeout=10) as r:
        assert r.read() == b"ok"
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(server.url + "/healthz", context=ssl.create_default_context(), timeout=10)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_requests_without_the_token_are_unauthorized(raw, token):
    reply = raw("GET", "/api/v1/namespaces", token=token)
    assert reply.status == 401
    assert reply.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
    }


def test_a_wrong_token_is_refused_even_for_health(raw):
    assert raw("GET", "/healthz", token="wrong").status == 401


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_endpoints_answer_without_a_token(raw, path):
    reply = raw("GET", path, token=None)
    assert (reply.status, reply.body) == (200, b"ok")
    verbose = raw("GET", path + "?verbose", token=None)
    assert b"[+]ping ok" in verbose.body
    assert verbose.body.endswith(f"{path[1:]} check passed\n".encode())


def test_readyz_lists_the_store_and_bootstrap_checks(raw):
    body = raw("GET", "/readyz?verbose").body.decode()
    assert "[+]etcd ok" in body
    assert "[+]poststarthook/bootstrap-controller ok" in body
    assert raw("GET", "/readyz/etcd").body == b"ok"
    assert raw("GET", "/readyz/nope").status == 404


def test_version(raw):
    info = raw("GET", "/version", token=None).json()
    assert info["major"] == "1" and info["gitVersion"].startswith("v1.")
    assert {"minor", "platform", "goVersion", "buildDate"} <= info.keys()


def test_unknown_paths_are_404(raw):
    reply = raw("GET", "/nothing-here")
    assert reply.status == 404
    assert reply.body == b"404 page not found\n"


def test_legacy_discovery(raw):
    assert raw("GET", "/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in raw("GET", "/apis").json()["groups"]}
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert "apiextensions.k8s.io" in groups
    assert raw("GET", "/apis/apps").json()["kind"] == "APIGroup"
    core = raw("GET", "/api/v1").json()
    resources = {r["name"]: r for r in core["resources"]}
    assert resources["pods"]["kind"] == "Pod" and resources["pods"]["namespaced"] is True
    assert resources["pods"]["shortNames"] == ["po"]
    assert resources["pods/binding"]["kind"] == "Binding"
    assert resources["pods/eviction"] == {
        "name": "pods/eviction", "singularName": "", "namespaced": True,
        "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"],
    }
    assert resources["nodes"]["namespaced"] is False
    apps = {r["name"] for r in raw("GET", "/apis/apps/v1").json()["resources"]}
    assert {"deployments", "deployments/scale", "deployments/status", "replicasets"} <= apps


@pytest.mark.parametrize(
    ("accept", "version"),
    [(KUBECTL_DISCOVERY_ACCEPT, "v2"), (f"{AGGREGATED_V2BETA1},application/json", "v2beta1")],
)
def test_aggregated_discovery_is_negotiated_by_accept(raw, accept, version):
    reply = raw("GET", "/apis", headers={"Accept": accept})
    assert reply.headers["Content-Type"] == f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
    doc = reply.json()
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    apps = next(g for g in doc["items"] if g["metadata"]["name"] == "apps")
    deployments = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced"
    assert deployments["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"]["kind"] == "Scale"
    core = raw("GET", "/api", headers={"Accept": accept}).json()
    assert [g["metadata"]["name"] for g in core["items"]] == [""]


def test_discovery_of_unknown_groups_and_versions_is_404(raw):
    for path in ("/apis/nope.example.com", "/apis/apps/v9", "/api/v2"):
        reply = raw("GET", path)
        assert reply.status == 404, path
        assert reply.json()["message"] == "the server could not find the requested resource"


def test_unknown_resource_is_404_status(raw):
    reply = raw("GET", "/api/v1/namespaces/default/widgets")
    assert reply.status == 404
    assert reply.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource", "reason": "NotFound",
        "details": {}, "code": 404,
    }


def test_protobuf_only_is_not_acceptable(raw):
    reply = raw("GET", "/api/v1/namespaces", headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert reply.status == 406
    assert reply.json()["reason"] == "NotAcceptable"


def test_bootstrap_namespaces_and_kubernetes_service(core, server):
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "127.96.0.1"
    assert [(p.name, p.port, p.target_port) for p in svc.spec.ports] == [("https", 443, server.port)]
    ep = core.read_namespaced_endpoints("kubernetes", "default")
    assert [a.ip for a in ep.subsets[0].addresses] == ["127.0.0.1"]
    assert ep.subsets[0].ports[0].port == server.port


def test_bootstrap_endpointslice(api, server):
    import kubernetes.client

    slices = kubernetes.client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=kubernetes"
    ).items
    assert len(slices) == 1
    assert slices[0].endpoints[0].addresses == ["127.0.0.1"]
    assert slices[0].ports[0].port == server.port


def test_kubectl_get_namespaces(kubectl):
    out = kubectl("get", "ns").stdout
    assert out.splitlines()[0].split()[0] == "NAME"
    assert {line.split()[0] for line in out.splitlines()[1:]} >= {"default", "kube-system", "kube-public"}


def test_kubectl_api_resources(kubectl):
    out = kubectl("api-resources").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"][1:] == ["ns", "v1", "false", "Namespace"]
