"""Round-robin with client-IP affinity: whose turn it is, and how long a client stays put."""

from __future__ import annotations

from collections import Counter

from kubelab.proxy.endpoints import Endpoint
from kubelab.proxy.loadbalancer import RoundRobin
from kubelab.runtime import FakeClock

A, B, C = (Endpoint(f"127.244.1.{i}", 8080) for i in (2, 3, 4))


def test_endpoints_take_turns() -> None:
    balancer = RoundRobin([A, B, C])
    assert [balancer.next("127.0.0.1") for _ in range(6)] == [A, B, C, A, B, C]


def test_no_endpoints_means_no_choice() -> None:
    assert RoundRobin([]).next("127.0.0.1") is None


def test_affinity_pins_each_client_until_it_has_been_idle_for_the_timeout() -> None:
    clock = FakeClock()
    balancer = RoundRobin([A, B, C], sticky_seconds=60, clock=clock)
    first, second = balancer.next("127.0.0.2"), balancer.next("127.0.0.3")
    assert first != second
    for _ in range(5):
        clock.step(59)
        assert balancer.next("127.0.0.2") == first
    clock.step(60)
    assert balancer.next("127.0.0.2") != first


def test_changing_the_endpoints_keeps_clients_on_endpoints_that_remain() -> None:
    balancer = RoundRobin([A, B], sticky_seconds=600)
    on_a = balancer.next("127.0.0.2")
    on_b = balancer.next("127.0.0.3")
    assert (on_a, on_b) == (A, B)
    balancer.update([A, C], 600)
    assert balancer.next("127.0.0.2") == A
    assert balancer.next("127.0.0.3") in (A, C)


def test_excluded_endpoints_are_skipped_for_a_retry() -> None:
    balancer = RoundRobin([A, B, C])
    assert Counter(balancer.next("127.0.0.1", exclude=[B]) for _ in range(4)) == Counter({A: 2, C: 2})
    assert balancer.next("127.0.0.1", exclude=[A, B, C]) is None


def test_without_affinity_every_connection_takes_a_turn() -> None:
    balancer = RoundRobin([A, B])
    assert {balancer.next("127.0.0.2") for _ in range(2)} == {A, B}
