"""kube-proxy on a real embedded cluster: Services, EndpointSlices and Nodes in, reachable addresses out."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kubelab import network
from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.process import ManagedProcess
from kubelab.proxy import KubeProxy
from network_helpers import Backend, curl, endpoint_slice, get, pod_ip, refused
from waiting import eventually

NODE_NAME = "node-1"


@pytest.fixture(scope="module")
def node_ip(cluster: Cluster) -> str:
    return cluster.addresses.node_ip(0)


@pytest.fixture(scope="module")
def proxy(cluster: Cluster, node_ip: str) -> Iterator[KubeProxy]:
    p = KubeProxy(NODE_NAME, addresses=cluster.addresses, node_ip=node_ip)
    p.start(cluster.api_client())
    yield p
    p.stop()


@pytest.fixture(scope="module")
def backends(cluster: Cluster) -> Iterator[list[Backend]]:
    started = [Backend(pod_ip(cluster.addresses, 0, host), 8080, f"web-{host}") for host in (2, 3, 4)]
    yield started
    for backend in started:
        backend.stop()


def create_service(client: Client, name: str, **spec: Any) -> dict[str, Any]:
    body = {"metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}
    return client.resource("v1", "services").create(body)


def create_slice(client: Client, service: str, backends: list[Backend], ready: list[bool] | None = None) -> None:
    ready = ready or [True] * len(backends)
    client.resource("discovery.k8s.io/v1", "endpointslices").create(
        endpoint_slice(service, zip([b.ip for b in backends], ready, strict=True), node=NODE_NAME))


def cluster_url(service: dict[str, Any]) -> str:
    return f"http://{service['spec']['clusterIP']}:{network.host_port(80)}/"


def test_cluster_ip_node_port_and_load_balancer_ip_reach_the_backends(
    client: Client, cluster: Cluster, proxy: KubeProxy, backends: list[Backend], node_ip: str,
) -> None:
    service = create_service(client, "web", type="LoadBalancer")
    create_slice(client, "web", backends)
    lb_ip = str(cluster.addresses.load_balancer_network.network_address + 1)
    service["status"] = {"loadBalancer": {"ingress": [{"ip": lb_ip}]}}
    client.resource("v1", "services").update_status(service)
    node_port = service["spec"]["ports"][0]["nodePort"]
    names = {b.name for b in backends}
    assert json.loads(eventually(lambda: curl(cluster_url(service))))["name"] in names
    assert get(f"http://{node_ip}:{node_port}/")["name"] in names
    assert eventually(lambda: get(f"http://{lb_ip}:{network.host_port(80)}/"))["name"] in names
    # From outside the pod network, traffic is masqueraded: the backend sees the node's address.
    assert get(cluster_url(service), source="127.0.0.9")["client"] == node_ip


def test_round_robin_spreads_over_ready_endpoints_and_never_an_unready_one(
    client: Client, proxy: KubeProxy, backends: list[Backend],
) -> None:
    service = create_service(client, "spread")
    create_slice(client, "spread", backends, ready=[True, True, False])
    url = cluster_url(service)
    eventually(lambda: get(url))
    counts = Counter(get(url)["name"] for _ in range(30))
    assert counts == Counter({"web-2": 15, "web-3": 15})

    slices = client.resource("discovery.k8s.io/v1", "endpointslices")
    flipped = slices.get("spread-test", "default")
    for endpoint in flipped["endpoints"]:
        endpoint["conditions"]["ready"] = endpoint["addresses"][0] == backends[2].ip
    slices.update(flipped)
    eventually(lambda: all(get(url)["name"] == "web-4" for _ in range(6)))
    assert {get(url)["name"] for _ in range(20)} == {"web-4"}


def test_a_service_without_endpoints_refuses_connections(client: Client, proxy: KubeProxy) -> None:
    service = create_service(client, "lonely")
    client.resource("discovery.k8s.io/v1", "endpointslices").create(endpoint_slice("lonely", []))
    eventually(lambda: '"default/lonely:http has no endpoints"' in proxy.iptables_save())
    proxy.wait_for_sync()
    assert refused(service["spec"]["clusterIP"], network.host_port(80))


def test_deleting_a_service_stops_serving_it(client: Client, proxy: KubeProxy, backends: list[Backend]) -> None:
    service = create_service(client, "doomed")
    create_slice(client, "doomed", backends[:1])
    eventually(lambda: get(cluster_url(service)))
    client.resource("v1", "services").delete("doomed", "default")
    eventually(lambda: refused(service["spec"]["clusterIP"], network.host_port(80)))


def test_session_affinity_pins_a_client(client: Client, proxy: KubeProxy, backends: list[Backend]) -> None:
    service = create_service(client, "sticky", sessionAffinity="ClientIP")
    create_slice(client, "sticky", backends)
    url = cluster_url(service)
    eventually(lambda: get(url))
    pinned = {client_ip: {get(url, source=client_ip)["name"] for _ in range(6)}
              for client_ip in ("127.0.0.21", "127.0.0.22", "127.0.0.23")}
    assert all(len(names) == 1 for names in pinned.values())
    assert len(set.union(*pinned.values())) > 1


def test_iptables_save_shows_the_services_and_is_served_on_the_status_page(
    client: Client, proxy: KubeProxy, backends: list[Backend], node_ip: str,
) -> None:
    create_service(client, "shown", type="NodePort")
    create_slice(client, "shown", backends[:2])
    rules = eventually(lambda: (text := proxy.iptables_save()) and "default/shown:http cluster IP" in text and text)
    assert '-A KUBE-SERVICES -d ' in rules and '--comment "default/shown:http cluster IP"' in rules
    assert f"--to-destination {backends[0].ip}:8080" in rules
    assert f"-A KUBE-SERVICES -d {node_ip}/32" in rules
    with urllib.request.urlopen(f"http://{node_ip}:10249/iptables-save", timeout=5) as r:
        assert '--comment "default/shown:http cluster IP"' in r.read().decode()
    with urllib.request.urlopen(f"http://{node_ip}:10249/healthz", timeout=5) as r:
        assert json.load(r)["nodeEligible"] is True


def test_node_ports_follow_the_node_objects_internal_ip(client: Client, cluster: Cluster,
                                                        backends: list[Backend]) -> None:
    name, ip = "node-2", cluster.addresses.node_ip(1)
    proxy = KubeProxy(name, addresses=cluster.addresses, metrics_port=0)
    proxy.start(cluster.api_client())
    try:
        service = create_service(client, "by-node", type="NodePort")
        create_slice(client, "by-node", backends[:1])
        node_port = service["spec"]["ports"][0]["nodePort"]
        eventually(lambda: f"--dport {node_port}" in proxy.iptables_save())
        proxy.wait_for_sync()
        assert refused(ip, node_port)
        client.resource("v1", "nodes").create({"metadata": {"name": name}})
        node = client.resource("v1", "nodes").get(name)
        node["status"] = {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}
        client.resource("v1", "nodes").update_status(node)
        assert eventually(lambda: get(f"http://{ip}:{node_port}/"))["name"] == "web-2"
    finally:
        proxy.stop()


def test_starting_twice_is_an_error(cluster: Cluster, proxy: KubeProxy) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        proxy.start(cluster.api_client())


def test_as_a_process_it_serves_services_and_ends_with_its_parent(
    client: Client, cluster: Cluster, backends: list[Backend], proxy: KubeProxy, node_ip: str,
) -> None:
    proxy.stop()
    try:
        service = create_service(client, "by-process")
        create_slice(client, "by-process", backends[:1])
        process = ManagedProcess(
            "kube-proxy",
            [sys.executable, "-m", "kubelab", "kube-proxy", "--kubeconfig", str(cluster.kubeconfig),
             "--node", NODE_NAME, "--node-ip", node_ip, "--address-slot", str(cluster.addresses.slot),
             "--metrics-port", "0"],
            cluster.dir.log("kube-proxy"),
        )
        process.start()
        try:
            assert eventually(lambda: get(cluster_url(service)))["name"] == "web-2"
        finally:
            process.stop()
        assert process.pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)
        assert refused(service["spec"]["clusterIP"], network.host_port(80))
    finally:
        proxy.start(cluster.api_client())


def test_a_missing_node_name_is_a_usage_error(cluster: Cluster) -> None:
    import subprocess

    result = subprocess.run([sys.executable, "-m", "kubelab", "kube-proxy", "--kubeconfig", str(cluster.kubeconfig)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--node" in result.stderr
