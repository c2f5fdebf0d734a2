"""Cluster DNS on a real embedded cluster: Service names answered, the kube-dns Service, a pod finding its backend."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from kubelab import dns as cluster_dns
from kubelab import network
from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.dns.cluster_dns import ClusterDNS
from kubelab.process import ManagedProcess
from kubelab.proxy import KubeProxy
from network_helpers import Backend, endpoint_slice, pod_ip
from waiting import eventually

DNS_PORT = network.host_port(53)


@pytest.fixture(scope="module")
def server(cluster: Cluster) -> Iterator[ClusterDNS]:
    d = ClusterDNS(addresses=cluster.addresses, upstreams=[])
    d.start(cluster.api_client())
    yield d
    d.stop()


def ask(server: ClusterDNS, name: str, rdtype: str = "A", *, tcp: bool = False,
        address: str = "") -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, address or server.address, port=DNS_PORT, timeout=5)


def texts(response: dns.message.Message) -> list[str]:
    return [line for rrset in response.answer for line in rrset.to_text().splitlines()]


def create_service(client: Client, name: str, **spec: Any) -> dict[str, Any]:
    return client.resource("v1", "services").create({"metadata": {"name": name}, "spec": spec})


def test_a_service_name_answers_its_cluster_ip_over_udp_and_tcp(client: Client, server: ClusterDNS) -> None:
    service = create_service(client, "web", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    ip = service["spec"]["clusterIP"]
    name = "web.default.svc.cluster.local"
    assert eventually(lambda: texts(ask(server, name))) == [f"{name}. 5 IN A {ip}"]
    assert texts(ask(server, name, tcp=True)) == [f"{name}. 5 IN A {ip}"]
    assert texts(ask(server, f"_http._tcp.{name}", "SRV")) == [f"_http._tcp.{name}. 5 IN SRV 0 100 80 {name}."]
    missing = ask(server, "nothing-here.default.svc.cluster.local")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].to_text().startswith("cluster.local. 5 IN SOA ns.dns.cluster.local.")


def test_external_name_answers_a_cname(client: Client, server: ClusterDNS) -> None:
    create_service(client, "search", type="ExternalName", externalName="search.example.com")
    assert eventually(lambda: texts(ask(server, "search.default.svc.cluster.local"))) == [
        "search.default.svc.cluster.local. 5 IN CNAME search.example.com."]


def test_headless_answers_follow_endpoint_readiness(client: Client, server: ClusterDNS) -> None:
    create_service(client, "db", clusterIP="None", ports=[{"name": "pg", "port": 5432}])
    slices = client.resource("discovery.k8s.io/v1", "endpointslices")
    slices.create(endpoint_slice("db", [("127.244.50.2", True), ("127.244.50.3", False)], port=5432, port_name="pg"))
    name = "db.default.svc.cluster.local"
    assert eventually(lambda: texts(ask(server, name))) == [f"{name}. 5 IN A 127.244.50.2"]
    current = slices.get("db-test", "default")
    current["endpoints"][1]["conditions"]["ready"] = True
    slices.update(current)
    assert eventually(lambda: len(texts(ask(server, name))) == 2)


def test_the_kube_dns_service_leads_to_this_server(client: Client, cluster: Cluster, server: ClusterDNS) -> None:
    service = client.resource("v1", "services").get("kube-dns", "kube-system")
    assert service["spec"]["clusterIP"] == cluster.addresses.cluster_dns_ip
    assert [(p["name"], p["port"], p["protocol"]) for p in service["spec"]["ports"]] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
    slices = client.resource("discovery.k8s.io/v1", "endpointslices").list(
        "kube-system", label_selector="kubernetes.io/service-name=kube-dns")["items"]
    assert [e["addresses"] for s in slices for e in s["endpoints"]] == [[cluster.addresses.dns_server_ip]]
    table = cluster.kubectl("get", "service", "kube-dns", "-n", "kube-system").stdout
    assert "53/UDP,53/TCP" in table and cluster.addresses.cluster_dns_ip in table


POD = textwrap.dedent(
    """
    import json, runpy, sys, urllib.request
    runpy.run_path(sys.argv[1])["install_from_environment"]()
    with urllib.request.urlopen("http://backend-service/", timeout=10) as r:
        print(json.dumps({"answer": json.load(r), "sys.path": sys.path}))
    """
)


def test_a_pod_reaches_its_backend_by_service_name(client: Client, cluster: Cluster, server: ClusterDNS,
                                                   tmp_path: Path) -> None:
    """Scenario S2: resolv.conf → kube-dns ClusterIP → kube-proxy → DNS; then the Service → kube-proxy → backend."""
    backend = Backend(pod_ip(cluster.addresses, 0, 2), 8080, "backend-0")
    proxy = KubeProxy("node-1", addresses=cluster.addresses, node_ip=cluster.addresses.node_ip(0), metrics_port=0)
    proxy.start(cluster.api_client())
    try:
        service = create_service(client, "backend-service", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
        client.resource("discovery.k8s.io/v1", "endpointslices").create(
            endpoint_slice("backend-service", [(backend.ip, True)], node="node-1"))
        root = tmp_path / "container"
        (root / "etc").mkdir(parents=True)
        conf = cluster_dns.pod_resolv_conf({"metadata": {"namespace": "default"}, "spec": {}},
                                           nameserver=cluster.addresses.cluster_dns_ip, cluster_domain="cluster.local")
        (root / "etc" / "resolv.conf").write_text(conf.render())
        env = {"KUBELAB_ROOT": str(root), "KUBELAB_PORT_OFFSET": str(DNS_PORT - 53), "PATH": "/usr/bin:/bin"}
        eventually(lambda: socket.create_connection((service["spec"]["clusterIP"], network.host_port(80)), 1).close()
                   or True)

        def run() -> dict[str, Any]:
            # -S -E: the interpreter of a container, without site-packages or PYTHONPATH.
            result = subprocess.run([sys.executable, "-S", "-E", "-c", POD, cluster_dns.resolver.__file__],
                                    env=env, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)  # type: ignore[no-any-return]

        answer = eventually(run, timeout=20)
        assert answer["answer"]["name"] == "backend-0"
        assert not any("site-packages" in p for p in answer["sys.path"])
    finally:
        proxy.stop()
        backend.stop()


def test_resolve_uses_the_search_path_of_a_namespace(client: Client, server: ClusterDNS) -> None:
    service = create_service(client, "lookup", ports=[{"port": 80}])
    resolver = cluster_dns.Resolver(
        cluster_dns.pod_resolv_conf({"metadata": {"namespace": "other"}, "spec": {}}, nameserver=server.address,
                                    cluster_domain="cluster.local"),
        port=DNS_PORT)
    assert eventually(lambda: resolver.resolve("lookup.default")) == [service["spec"]["clusterIP"]]
    with pytest.raises(cluster_dns.NameNotFound):
        resolver.resolve("lookup")


def test_as_a_process(client: Client, cluster: Cluster, server: ClusterDNS) -> None:
    address = pod_ip(cluster.addresses, 0, 54)
    process = ManagedProcess(
        "dns", [sys.executable, "-m", "kubelab", "dns", "--kubeconfig", str(cluster.kubeconfig),
                "--address-slot", str(cluster.addresses.slot), "--bind-address", address, "--no-publish"],
        cluster.dir.log("dns"),
    )
    process.start()
    try:
        service = create_service(client, "by-process", ports=[{"port": 80}])
        name = "by-process.default.svc.cluster.local"
        assert eventually(lambda: texts(ask(server, name, address=address))) == [
            f"{name}. 5 IN A {service['spec']['clusterIP']}"]
    finally:
        process.stop()


def test_a_second_server_on_the_same_address_fails_clearly(cluster: Cluster, server: ClusterDNS) -> None:
    with pytest.raises(OSError, match=f"cannot listen on {server.address}:{DNS_PORT}"):
        ClusterDNS(addresses=cluster.addresses, publish=False).start(cluster.api_client())


def test_where_port_53_cannot_be_bound_the_server_and_pods_use_10053(
    client: Client, cluster: Cluster, server: ClusterDNS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setattr(network, "can_bind_privileged", lambda: False)
    for hooked in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        # Restored after the test: the resolver below replaces them in this process.
        monkeypatch.setattr(socket, hooked, getattr(socket, hooked))
    unprivileged = ClusterDNS(addresses=cluster.addresses, address=pod_ip(cluster.addresses, 0, 60), publish=False,
                              upstreams=[])
    unprivileged.start(cluster.api_client())
    try:
        assert unprivileged.bound_port == 10053
        service = create_service(client, "remapped", ports=[{"port": 80}])
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc" / "resolv.conf").write_text(f"nameserver {unprivileged.address}\nsearch default.svc.cluster.local\n")
        resolver = cluster_dns.resolver.install_from_environment({"KUBELAB_ROOT": str(tmp_path),
                                                                  "KUBELAB_PORT_OFFSET": "10000"})
        assert resolver is not None and resolver.port == 10053
        assert eventually(lambda: socket.gethostbyname("remapped")) == service["spec"]["clusterIP"]
    finally:
        unprivileged.stop()
