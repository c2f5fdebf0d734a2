"""The DNS server: the cluster zone over UDP and TCP, truncation, forwarding, bad queries."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from kubelab.dns.records import ClusterZone
from kubelab.dns.server import DNSServer
from network_helpers import address_plan, pod_ip

PORT = 5353


def headless(name: str, count: int) -> list[list[dict[str, Any]]]:
    services = [{"metadata": {"name": name, "namespace": "default"}, "spec": {"clusterIP": "None"}},
                {"metadata": {"name": "web", "namespace": "default"},
                 "spec": {"clusterIP": "127.96.0.7", "ports": [{"name": "http", "port": 80}]}}]
    slices = [{"metadata": {"name": f"{name}-x", "namespace": "default",
                            "labels": {"kubernetes.io/service-name": name}},
               "endpoints": [{"addresses": [f"127.244.9.{i + 1}"], "conditions": {"ready": True}}
                             for i in range(count)], "ports": []}]
    return [services, slices]


class Running:
    """DNS servers on their own event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: list[DNSServer] = []

    def start(self, server: DNSServer, host: str, port: int) -> DNSServer:
        asyncio.run_coroutine_threadsafe(server.start(host, port), self.loop).result(10)
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.servers:
            asyncio.run_coroutine_threadsafe(server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def running() -> Iterator[Running]:
    r = Running()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def addresses() -> Iterator[tuple[str, str, str]]:
    """This module's DNS server, upstream, and silent upstream addresses."""
    with address_plan() as plan:
        yield pod_ip(plan, 0, 53), pod_ip(plan, 0, 54), pod_ip(plan, 0, 55)


def cluster_zone() -> ClusterZone:
    services, slices = headless("many", 100)
    return ClusterZone(services, slices)


def test_cluster_names_are_answered_with_authority_over_udp_and_tcp(running: Running, addresses: tuple[str, str, str]) -> None:
    address, upstream, silent = addresses
    running.start(DNSServer(cluster_zone, upstreams=[]), address, PORT)
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    for send in (dns.query.udp, dns.query.tcp):
        response = send(query, address, port=PORT, timeout=5)
        assert response.flags & dns.flags.AA
        assert [r.to_text() for r in response.answer] == ["web.default.svc.cluster.local. 5 IN A 127.96.0.7"]


def test_big_answers_are_truncated_over_udp_and_whole_over_tcp(running: Running, addresses: tuple[str, str, str]) -> None:
    address, upstream, silent = addresses
    running.start(DNSServer(cluster_zone, upstreams=[]), address, PORT)
    query = dns.message.make_query("many.default.svc.cluster.local", "A")
    over_udp = dns.query.udp(query, address, port=PORT, timeout=5)
    assert over_udp.flags & dns.flags.TC and not over_udp.answer
    assert len(dns.query.tcp(query, address, port=PORT, timeout=5).answer[0]) == 100
    with_edns = dns.message.make_query("many.default.svc.cluster.local", "A", use_edns=0, payload=4096)
    assert len(dns.query.udp(with_edns, address, port=PORT, timeout=5).answer[0]) == 100


def test_other_names_are_forwarded_upstream(running: Running, addresses: tuple[str, str, str]) -> None:
    address, upstream, silent = addresses
    upstream_zone = ClusterZone([{"metadata": {"name": "www", "namespace": "ns"},
                                  "spec": {"clusterIP": "127.0.0.77"}}], [], domain="example.test")
    running.start(DNSServer(lambda: upstream_zone, upstreams=[]), upstream, 53)
    running.start(DNSServer(cluster_zone, upstreams=[upstream]), address, PORT)
    response = dns.query.udp(dns.message.make_query("www.ns.svc.example.test", "A"), address, port=PORT, timeout=5)
    assert [r.to_text() for r in response.answer] == ["www.ns.svc.example.test. 5 IN A 127.0.0.77"]


def test_an_unreachable_upstream_is_a_server_failure(running: Running, addresses: tuple[str, str, str]) -> None:
    address, upstream, silent = addresses
    running.start(DNSServer(cluster_zone, upstreams=[silent]), address, PORT)
    response = dns.query.udp(dns.message.make_query("example.org", "A"), address, port=PORT, timeout=10)
    assert response.rcode() == dns.rcode.SERVFAIL


def test_garbage_gets_a_format_error_and_responses_get_nothing(running: Running, addresses: tuple[str, str, str]) -> None:
    address, upstream, silent = addresses
    running.start(DNSServer(cluster_zone, upstreams=[]), address, PORT)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(b"\x12\x34" + b"\xff" * 20, (address, PORT))
        reply = s.recv(512)
        assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR
        response = dns.message.make_response(dns.message.make_query("web.default.svc.cluster.local", "A"))
        s.sendto(response.to_wire(), (address, PORT))
        with pytest.raises(TimeoutError):
            s.recv(512)


def test_a_taken_address_fails_to_start(running: Running, addresses: tuple[str, str, str]) -> None:
    address, upstream, silent = addresses
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((address, PORT))
        with pytest.raises(OSError):
            running.start(DNSServer(cluster_zone, upstreams=[]), address, PORT)
