"""The load-balancer controller on a real embedded cluster: addresses given, shown, served and taken back."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kubelab import errors, network
from kubelab.client import Client
from kubelab.cloud import FINALIZER, ServiceController
from kubelab.cluster import Cluster
from kubelab.process import ManagedProcess
from kubelab.proxy import KubeProxy
from network_helpers import Backend, endpoint_slice, get, pod_ip
from waiting import eventually


@pytest.fixture(scope="module")
def pool(cluster: Cluster) -> ipaddress.IPv4Network:
    return cluster.addresses.load_balancer_network


@pytest.fixture
def controller(cluster: Cluster, client: Client) -> Iterator[ServiceController]:
    c = ServiceController(cluster.addresses)
    c.start(cluster.api_client())
    yield c
    c.stop()
    services = client.resource("v1", "services")
    for service in services.list("default")["items"]:
        if service["metadata"]["name"] != "kubernetes":
            services.patch(service["metadata"]["name"], {"metadata": {"finalizers": None}}, "default")
            services.delete(service["metadata"]["name"], "default")


def create(client: Client, name: str, **spec: Any) -> dict[str, Any]:
    return client.resource("v1", "services").create(
        {"metadata": {"name": name}, "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}], **spec}})


def ingress(client: Client, name: str) -> list[str]:
    service = client.resource("v1", "services").get(name, "default")
    return [i.get("ip") for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]


def reasons(client: Client, name: str) -> list[str]:
    events = client.resource("v1", "events").list("default", field_selector=f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in sorted(events, key=lambda e: e["metadata"]["creationTimestamp"])]


def test_a_load_balancer_service_gets_the_lowest_free_address(client: Client, controller: ServiceController,
                                                              cluster: Cluster, pool: ipaddress.IPv4Network) -> None:
    first, second = str(pool.network_address + 1), str(pool.network_address + 2)
    create(client, "web")
    assert eventually(lambda: ingress(client, "web")) == [first]
    assert FINALIZER in client.resource("v1", "services").get("web", "default")["metadata"]["finalizers"]
    assert eventually(lambda: {"EnsuringLoadBalancer", "EnsuredLoadBalancer"} <= set(reasons(client, "web")))
    table = cluster.kubectl("get", "service", "web").stdout
    assert first in table.splitlines()[1].split()
    create(client, "api")
    assert eventually(lambda: ingress(client, "api")) == [second]


def test_deleting_releases_the_address_for_the_next_service(client: Client, controller: ServiceController,
                                                            pool: ipaddress.IPv4Network) -> None:
    create(client, "first")
    eventually(lambda: ingress(client, "first"))
    client.resource("v1", "services").delete("first", "default")

    def gone() -> bool:
        try:
            client.resource("v1", "services").get("first", "default")
        except errors.NotFound:
            return True
        return False

    eventually(gone)
    create(client, "second")
    assert eventually(lambda: ingress(client, "second")) == [str(pool.network_address + 1)]


def test_changing_the_type_takes_the_load_balancer_away(client: Client, controller: ServiceController) -> None:
    create(client, "shrinking")
    eventually(lambda: ingress(client, "shrinking"))
    services = client.resource("v1", "services")
    services.patch("shrinking", {"spec": {"type": "NodePort", "allocateLoadBalancerNodePorts": None}}, "default")
    eventually(lambda: not ingress(client, "shrinking")
               and FINALIZER not in (services.get("shrinking", "default")["metadata"].get("finalizers") or []))
    assert eventually(lambda: {"DeletingLoadBalancer", "DeletedLoadBalancer"} <= set(reasons(client, "shrinking")))


def test_a_requested_address_is_honoured_or_refused_with_a_warning(client: Client, controller: ServiceController,
                                                                   pool: ipaddress.IPv4Network) -> None:
    wanted = str(pool.network_address + 7)
    create(client, "chosen", loadBalancerIP=wanted)
    assert eventually(lambda: ingress(client, "chosen")) == [wanted]
    create(client, "outside", loadBalancerIP="127.241.0.1")
    assert eventually(lambda: "SyncLoadBalancerFailed" in reasons(client, "outside"))
    assert ingress(client, "outside") == []
    events = client.resource("v1", "events").list("default", field_selector="involvedObject.name=outside")["items"]
    assert any("127.241.0.1 is not in the load-balancer pool" in e["message"] and e["type"] == "Warning"
               for e in events)


def test_services_of_another_load_balancer_class_are_left_alone(client: Client,
                                                                controller: ServiceController) -> None:
    create(client, "classy", loadBalancerClass="example.com/other")
    create(client, "plain")
    eventually(lambda: ingress(client, "plain"))
    assert ingress(client, "classy") == []
    assert not (client.resource("v1", "services").get("classy", "default")["metadata"].get("finalizers"))


def test_a_restarted_controller_keeps_the_addresses_it_gave(client: Client, cluster: Cluster) -> None:
    first = ServiceController(cluster.addresses)
    first.start(cluster.api_client())
    create(client, "kept")
    address = eventually(lambda: ingress(client, "kept"))
    first.stop()
    second = ServiceController(cluster.addresses)
    second.start(cluster.api_client())
    try:
        create(client, "newcomer")
        assert eventually(lambda: ingress(client, "newcomer")) != address
        assert ingress(client, "kept") == address
    finally:
        second.stop()
        for name in ("kept", "newcomer"):
            client.resource("v1", "services").patch(name, {"metadata": {"finalizers": None}}, "default")
            client.resource("v1", "services").delete(name, "default")


def test_traffic_to_the_address_reaches_the_backends_through_kube_proxy(
    client: Client, cluster: Cluster, controller: ServiceController,
) -> None:
    backend = Backend(pod_ip(cluster.addresses, 0, 2), 8080, "lb-backend")
    proxy = KubeProxy("node-1", addresses=cluster.addresses, node_ip=cluster.addresses.node_ip(0), metrics_port=0)
    proxy.start(cluster.api_client())
    try:
        create(client, "public", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
        client.resource("discovery.k8s.io/v1", "endpointslices").create(
            endpoint_slice("public", [(backend.ip, True)], node="node-1"))
        address = eventually(lambda: ingress(client, "public"))[0]
        assert eventually(lambda: get(f"http://{address}:{network.host_port(80)}/"))["name"] == "lb-backend"
    finally:
        proxy.stop()
        backend.stop()


def test_as_a_process(client: Client, cluster: Cluster, pool: ipaddress.IPv4Network) -> None:
    process = ManagedProcess(
        "cloud-controller-manager",
        [sys.executable, "-m", "kubelab", "cloud-controller-manager", "--kubeconfig", str(cluster.kubeconfig),
         "--address-slot", str(cluster.addresses.slot)],
        cluster.dir.log("cloud-controller-manager"),
    )
    process.start()
    try:
        create(client, "by-process")
        assert ipaddress.ip_address(eventually(lambda: ingress(client, "by-process"))[0]) in pool
    finally:
        process.stop()
        client.resource("v1", "services").patch("by-process", {"metadata": {"finalizers": None}}, "default")
        client.resource("v1", "services").delete("by-process", "default")
