"""The load-balancer address pool: lowest free first, requested addresses checked."""

from __future__ import annotations

import pytest

from kubelab.cloud import IPPool, PoolError


def test_lowest_free_address_first() -> None:
    pool = IPPool("127.240.0.0/29")
    assert pool.allocate(set()) == "127.240.0.1"
    assert pool.allocate({"127.240.0.1", "127.240.0.3"}) == "127.240.0.2"


def test_requested_address_is_given_when_free_and_in_the_pool() -> None:
    pool = IPPool("127.240.0.0/29")
    assert pool.allocate(set(), "127.240.0.5") == "127.240.0.5"
    with pytest.raises(PoolError, match="already in use"):
        pool.allocate({"127.240.0.5"}, "127.240.0.5")
    with pytest.raises(PoolError, match="not in the load-balancer pool 127.240.0.0/29"):
        pool.allocate(set(), "127.240.1.5")
    with pytest.raises(PoolError, match="not in the load-balancer pool"):
        pool.allocate(set(), "127.240.0.7")


def test_a_full_pool_says_so() -> None:
    pool = IPPool("127.240.0.0/30")
    with pytest.raises(PoolError, match="no addresses left in the load-balancer pool 127.240.0.0/30"):
        pool.allocate({"127.240.0.1", "127.240.0.2"})


@pytest.mark.parametrize(("cidr", "message"), [("nonsense", "invalid load-balancer pool"), ("127.240.0.0/31", "too small")])
def test_bad_pools_are_refused(cidr: str, message: str) -> None:
    with pytest.raises(PoolError, match=message):
        IPPool(cidr)
