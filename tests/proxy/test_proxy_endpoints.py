"""Service ports and endpoints as kube-proxy sees them: which Services are proxied, which endpoints used."""

from __future__ import annotations

from typing import Any

import pytest

from kubelab.proxy.endpoints import Endpoint, categorize, endpoints_map
from kubelab.proxy.serviceport import DEFAULT_STICKY_SECONDS, ServicePort, ServicePortName, service_ports


def test_service_ports_take_policies_affinity_and_load_balancer_ips() -> None:
    ports = service_ports({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "clusterIP": "127.96.0.5", "externalTrafficPolicy": "Local",
                 "sessionAffinity": "ClientIP", "externalIPs": ["127.50.0.1"],
                 "ports": [{"name": "http", "port": 80, "nodePort": 30080},
                           {"name": "dns", "port": 53, "protocol": "UDP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.240.0.1"}, {"ip": "127.240.0.2", "ipMode": "Proxy"},
                                                {"hostname": "lb.example.com"}]}},
    })
    http, dns = ports
    assert str(http.name) == "shop/web:http" and http.protocol == "TCP" and dns.protocol == "UDP"
    assert http.node_port == 30080 and dns.node_port == 0
    assert http.load_balancer_ips == ("127.240.0.1",)
    assert http.external_ips == ("127.50.0.1",)
    assert http.sticky_seconds == DEFAULT_STICKY_SECONDS
    assert http.external_local and not http.internal_policy_local


@pytest.mark.parametrize("spec", [
    {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80}]},
    {"type": "ExternalName", "externalName": "example.com"},
    {"type": "ClusterIP", "ports": [{"port": 80}]},
])
def test_headless_external_name_and_unallocated_services_are_not_proxied(spec: dict[str, Any]) -> None:
    assert service_ports({"metadata": {"name": "x", "namespace": "default"}, "spec": spec}) == []


def test_unnamed_port_names_the_service_alone() -> None:
    assert str(ServicePortName("default", "db", "")) == "default/db"


def _slice(service: str, endpoints: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": f"{service}-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints, **extra}


def test_endpoints_map_reads_conditions_with_the_api_defaults() -> None:
    result = endpoints_map([_slice("web", [
        {"addresses": ["127.224.1.10"], "conditions": {}, "nodeName": "node-1", "zone": "a"},
        {"addresses": ["127.224.1.9"], "conditions": {"ready": False}},
        {"addresses": ["127.224.1.8"], "conditions": {"ready": False, "serving": True, "terminating": True}},
        {"addresses": []},
    ])])
    endpoints = result[ServicePortName("default", "web", "http", "TCP")]
    assert endpoints == [
        Endpoint("127.224.1.8", 8080, ready=False, serving=True, terminating=True),
        Endpoint("127.224.1.9", 8080, ready=False, serving=False),
        Endpoint("127.224.1.10", 8080, node_name="node-1", zone="a"),
    ]


def test_endpoints_map_ignores_unlabelled_and_fqdn_slices_and_merges_duplicates() -> None:
    unlabelled = _slice("web", [{"addresses": ["127.224.1.2"]}])
    unlabelled["metadata"]["labels"] = {}
    result = endpoints_map([
        unlabelled,
        _slice("web", [{"addresses": ["example.com"]}], addressType="FQDN"),
        _slice("api", [{"addresses": ["127.224.1.3"], "conditions": {"ready": False}}]),
        _slice("api", [{"addresses": ["127.224.1.3"], "conditions": {"ready": True}}]),
    ])
    assert list(result) == [ServicePortName("default", "api", "http", "TCP")]
    assert result[ServicePortName("default", "api", "http", "TCP")] == [Endpoint("127.224.1.3", 8080)]


PORT = ServicePort(ServicePortName("default", "web", "http"), "127.96.0.5", 80)
LOCAL_READY = Endpoint("127.224.1.2", 8080, node_name="node-1")
REMOTE_READY = Endpoint("127.224.2.2", 8080, node_name="node-2")
LOCAL_UNREADY = Endpoint("127.224.1.3", 8080, ready=False, serving=False, node_name="node-1")
LOCAL_TERMINATING = Endpoint("127.224.1.4", 8080, ready=False, serving=True, terminating=True, node_name="node-1")
REMOTE_TERMINATING = Endpoint("127.224.2.4", 8080, ready=False, serving=True, terminating=True, node_name="node-2")


@pytest.mark.parametrize(("port", "endpoints", "cluster", "local", "has_any"), [
    (PORT, [LOCAL_READY, REMOTE_READY, LOCAL_UNREADY], [LOCAL_READY, REMOTE_READY], [], True),
    (PORT, [LOCAL_UNREADY], [], [], False),
    (PORT, [LOCAL_TERMINATING, LOCAL_UNREADY], [LOCAL_TERMINATING], [], True),
    (PORT, [LOCAL_TERMINATING, REMOTE_READY], [REMOTE_READY], [], True),
    (PORT.__class__(PORT.name, PORT.cluster_ip, 80, internal_policy_local=True),
     [LOCAL_READY, REMOTE_READY], [], [LOCAL_READY], True),
    (PORT.__class__(PORT.name, PORT.cluster_ip, 80, internal_policy_local=True),
     [REMOTE_READY], [], [], True),
    (PORT.__class__(PORT.name, PORT.cluster_ip, 80, internal_policy_local=True),
     [LOCAL_TERMINATING, REMOTE_READY], [], [LOCAL_TERMINATING], True),
    (PORT.__class__(PORT.name, PORT.cluster_ip, 80, node_port=30080, external_policy_local=True),
     [LOCAL_READY, REMOTE_READY, REMOTE_TERMINATING], [LOCAL_READY, REMOTE_READY], [LOCAL_READY], True),
], ids=["cluster", "none-ready", "terminating-fallback", "ready-beats-terminating", "internal-local",
        "internal-local-none-here", "internal-local-terminating", "external-local"])
def test_categorize(port: ServicePort, endpoints: list[Endpoint], cluster: list[Endpoint], local: list[Endpoint],
                    has_any: bool) -> None:
    result = categorize(endpoints, port, "node-1")
    assert (result.cluster, result.local, result.has_any) == (cluster, local, has_any)
    assert set(result.reachable) == set(cluster) | set(local)


def test_external_policy_local_without_node_port_is_cluster_policy() -> None:
    port = ServicePort(PORT.name, PORT.cluster_ip, 80, external_policy_local=True)
    assert not port.external_local and port.uses_cluster_endpoints and not port.uses_local_endpoints
