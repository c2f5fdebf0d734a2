"""The addresses a load balancer can get: a pool (a CIDR) and what is already handed out.

Like a bare-metal load-balancer's address pool (MetalLB's ``IPAddressPool``): the lowest free
address goes first, a requested one is given if it is in the pool and free, and nothing is
remembered beyond what the Services' status already says, so a restarted controller finds
exactly the same addresses in use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection


class PoolError(ValueError):
    """No address can be given: the pool is full, or the requested one is outside it or taken."""


class IPPool:
    """Load-balancer addresses from ``cidr`` (network and broadcast addresses excluded)."""

    def __init__(self, cidr: str) -> None:
        try:
            self.network = ipaddress.IPv4Network(cidr, strict=False)
        except ValueError as e:
            raise PoolError(f"invalid load-balancer pool {cidr!r}: {e}") from None
        if self.network.num_addresses < 4:
            raise PoolError(f"the load-balancer pool {cidr} is too small: give at least a /30")

    def __contains__(self, ip: object) -> bool:
        try:
            address = ipaddress.IPv4Address(str(ip))
        except ValueError:
            return False
        return address in self.network and address not in (self.network.network_address,
                                                           self.network.broadcast_address)

    def allocate(self, in_use: Collection[str], requested: str = "") -> str:
        """The address to give: ``requested`` if it can be had, else the lowest free one."""
        if requested:
            if requested not in self:
                raise PoolError(f"requested IP {requested} is not in the load-balancer pool {self.network}")
            if requested in in_use:
                raise PoolError(f"requested IP {requested} is already in use by another Service")
            return requested
        for address in self.network.hosts():
            if str(address) not in in_use:
                return str(address)
        raise PoolError(f"no addresses left in the load-balancer pool {self.network}")
