"""The userspace data plane: which endpoint and source address a connection gets, and real relaying."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from kubelab import network
from kubelab.network import AddressPlan
from kubelab.proxy.endpoints import Endpoint
from kubelab.proxy.loadbalancer import RoundRobin
from kubelab.proxy.proxier import Frontend, Proxier, Route, choose
from kubelab.proxy.serviceport import ServicePort, ServicePortName
from network_helpers import Backend, address_plan, get, pod_ip, refused
from waiting import eventually

NODE_IP = "127.18.0.2"
LOCAL = Endpoint("127.224.1.2", 8080, node_name="node-1")
REMOTE = Endpoint("127.224.2.2", 8080, node_name="node-2")
NAME = ServicePortName("default", "web", "http")


def route(*, external: bool = False, load_balancer: bool = False, **port: object) -> Route:
    service = ServicePort(NAME, "127.96.0.5", 80, node_port=30080, **port)  # type: ignore[arg-type]
    return Route(service, external, load_balancer, RoundRobin([LOCAL, REMOTE]), RoundRobin([LOCAL]))


@pytest.mark.parametrize(("route_", "client", "endpoints", "source"), [
    (route(), "127.0.0.1", {LOCAL, REMOTE}, NODE_IP),
    (route(), "127.224.3.7", {LOCAL, REMOTE}, "127.224.3.7"),
    (route(internal_policy_local=True), "127.224.3.7", {LOCAL}, "127.224.3.7"),
    (route(external=True), "127.224.3.7", {LOCAL, REMOTE}, NODE_IP),
    (route(external=True), "127.0.0.1", {LOCAL, REMOTE}, NODE_IP),
    (route(external=True, external_policy_local=True), "127.0.0.1", {LOCAL}, "127.0.0.1"),
    (route(external=True, external_policy_local=True), "127.18.0.3", {LOCAL, REMOTE}, NODE_IP),
    (route(external=True, external_policy_local=True), "127.224.3.7", {LOCAL, REMOTE}, "127.224.3.7"),
], ids=["cluster-ip-from-host-masqueraded", "cluster-ip-from-pod-keeps-address", "internal-local",
        "node-port-cluster-policy", "node-port-from-host", "external-local-keeps-client",
        "external-local-from-node-short-circuits", "external-local-from-pod-short-circuits"])
def test_choose_endpoint_and_source(route_: Route, client: str, endpoints: set[Endpoint], source: str) -> None:
    choices = [choose(route_, client, node_ip=NODE_IP) for _ in range(4)]
    assert {c.endpoint for c in choices if c} == endpoints
    assert {c.source for c in choices if c} == {source}


def test_a_pod_reaching_itself_through_its_service_is_masqueraded() -> None:
    r = Route(ServicePort(NAME, "127.96.0.5", 80), False, False, RoundRobin([LOCAL]), None)
    choice = choose(r, LOCAL.ip, node_ip=NODE_IP)
    assert choice is not None and choice.source == NODE_IP


def test_external_local_without_local_endpoints_refuses_outside_clients() -> None:
    service = ServicePort(NAME, "127.96.0.5", 80, node_port=30080, external_policy_local=True)
    r = Route(service, True, False, RoundRobin([REMOTE]), None)
    assert choose(r, "127.0.0.1", node_ip=NODE_IP) is None
    assert choose(r, "127.224.3.7", node_ip=NODE_IP) is not None


def test_load_balancer_source_ranges_refuse_other_clients() -> None:
    service = ServicePort(NAME, "127.96.0.5", 80, load_balancer_ips=("127.240.0.1",),
                          load_balancer_source_ranges=("127.0.0.0/24",))
    r = Route(service, True, True, RoundRobin([LOCAL]), None)
    assert choose(r, "127.0.0.9", node_ip=NODE_IP) is not None
    assert choose(r, "127.0.1.9", node_ip=NODE_IP) is None


# -- real sockets -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> Iterator[AddressPlan]:
    with address_plan() as held:
        yield held


@pytest.fixture(scope="module")
def service_ip(plan: AddressPlan) -> str:
    return str(plan.service_network.network_address + 10)


@pytest.fixture
def proxier(plan: AddressPlan) -> Iterator[Proxier]:
    p = Proxier("node-1", addresses=plan)
    p.retry_interval = 0.1
    p.start()
    yield p
    p.stop()


@pytest.fixture
def backends(plan: AddressPlan) -> Iterator[list[Backend]]:
    started = [Backend(pod_ip(plan, 0, host), 8080, f"pod-{host}") for host in (2, 3)]
    yield started
    for backend in started:
        backend.stop()


def web_port(service_ip: str, **options: object) -> ServicePort:
    return ServicePort(NAME, service_ip, 80, **options)  # type: ignore[arg-type]


def endpoints_of(backends: list[Backend], *, ready: bool = True) -> list[Endpoint]:
    return [Endpoint(b.ip, b.port, ready=ready, serving=ready, node_name="node-1") for b in backends]


def test_connections_take_turns_over_ready_endpoints(proxier: Proxier, backends: list[Backend], plan: AddressPlan,
                                                     service_ip: str) -> None:
    unready = Endpoint(pod_ip(plan, 0, 9), 8080, ready=False, serving=False)
    proxier.sync([web_port(service_ip)], {NAME: [*endpoints_of(backends), unready]})
    names = Counter(get(f"http://{service_ip}:{network.host_port(80)}/")["name"] for _ in range(6))
    assert names == Counter({"pod-2": 3, "pod-3": 3})


def test_a_service_without_endpoints_is_refused_until_it_has_some(proxier: Proxier, backends: list[Backend],
                                                                  service_ip: str) -> None:
    port = network.host_port(80)
    proxier.sync([web_port(service_ip)], {NAME: endpoints_of(backends, ready=False)})
    assert refused(service_ip, port)
    proxier.sync([web_port(service_ip)], {NAME: endpoints_of(backends)})
    assert get(f"http://{service_ip}:{port}/")["name"] in ("pod-2", "pod-3")
    proxier.sync([web_port(service_ip)], {})
    assert refused(service_ip, port)


def test_an_endpoint_that_refuses_is_skipped(proxier: Proxier, backends: list[Backend], plan: AddressPlan,
                                             service_ip: str) -> None:
    gone = Endpoint(pod_ip(plan, 0, 8), 8080, node_name="node-1")
    proxier.sync([web_port(service_ip)], {NAME: [gone, *endpoints_of(backends[:1])]})
    assert {get(f"http://{service_ip}:{network.host_port(80)}/")["name"] for _ in range(4)} == {"pod-2"}


def test_session_affinity_pins_each_client(proxier: Proxier, backends: list[Backend], service_ip: str) -> None:
    proxier.sync([web_port(service_ip, sticky_seconds=600)], {NAME: endpoints_of(backends)})
    url = f"http://{service_ip}:{network.host_port(80)}/"
    seen = {client: {get(url, source=client)["name"] for _ in range(5)} for client in ("127.0.0.2", "127.0.0.3")}
    assert all(len(names) == 1 for names in seen.values())
    assert seen["127.0.0.2"] != seen["127.0.0.3"]


def test_a_taken_address_is_retried_until_it_is_free(proxier: Proxier, backends: list[Backend],
                                                     service_ip: str) -> None:
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((service_ip, network.host_port(80)))
    squatter.listen()
    proxier.sync([web_port(service_ip)], {NAME: endpoints_of(backends)})
    frontend = Frontend(service_ip, network.host_port(80), "TCP")
    assert "in use" in proxier.failed[frontend]
    squatter.close()
    eventually(lambda: frontend in proxier.listening, timeout=5)
    assert get(f"http://{service_ip}:{network.host_port(80)}/")["name"] in ("pod-2", "pod-3")
    assert frontend not in proxier.failed


def test_privileged_ports_move_by_the_offset_when_they_cannot_be_bound(
    proxier: Proxier, monkeypatch: pytest.MonkeyPatch, plan: AddressPlan, service_ip: str,
) -> None:
    monkeypatch.setattr(network, "can_bind_privileged", lambda: False)
    backend = Backend(pod_ip(plan, 0, 4), 80, "nginx")
    try:
        assert backend.server.server_address[1] == 10080
        proxier.sync([web_port(service_ip)], {NAME: [Endpoint(backend.ip, 80)]})
        assert proxier.listening == [Frontend(service_ip, 10080, "TCP")]
        assert get(f"http://{service_ip}:10080/")["name"] == "nginx"
    finally:
        backend.stop()


class _Echo(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _EchoHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        data = self.rfile.read()
        self.wfile.write(data)


def test_large_transfers_and_half_close_are_relayed_intact(proxier: Proxier, plan: AddressPlan,
                                                           service_ip: str) -> None:
    server = _Echo((pod_ip(plan, 0, 5), 9000), _EchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxier.sync([ServicePort(NAME, service_ip, 9000)], {NAME: [Endpoint(pod_ip(plan, 0, 5), 9000)]})
        payload = bytes(range(256)) * 40_000
        with socket.create_connection((service_ip, 9000), timeout=10) as s:
            sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
            sender.start()
            received = b""
            while chunk := s.recv(1 << 16):
                received += chunk
            sender.join()
        assert received == payload
    finally:
        server.shutdown()
        server.server_close()


class _UDPEcho(socketserver.ThreadingUDPServer):
    allow_reuse_address = True


class _UDPEchoHandler(socketserver.DatagramRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"echo:" + self.rfile.read())


def test_udp_datagrams_are_relayed_and_answered(proxier: Proxier, plan: AddressPlan, service_ip: str) -> None:
    name = ServicePortName("default", "dns", "dns", "UDP")
    server = _UDPEcho((pod_ip(plan, 0, 6), 5353), _UDPEchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxier.sync([ServicePort(name, service_ip, 5353)], {name: [Endpoint(pod_ip(plan, 0, 6), 5353)]})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            for message in (b"one", b"two"):
                s.sendto(message, (service_ip, 5353))
                assert s.recvfrom(100)[0] == b"echo:" + message
    finally:
        server.shutdown()
        server.server_close()


def test_stop_closes_every_listener(backends: list[Backend], plan: AddressPlan, service_ip: str) -> None:
    p = Proxier("node-1", addresses=plan)
    p.start()
    p.sync([web_port(service_ip)], {NAME: endpoints_of(backends)})
    assert get(f"http://{service_ip}:{network.host_port(80)}/")
    p.stop()
    assert refused(service_ip, network.host_port(80))
