"""Allocators of Service ClusterIPs and NodePorts: pure functions of what is already in use.

Mirrors ``pkg/registry/core/service/ipallocator`` and ``portallocator``: a range (a CIDR, or
30000–32767), a "static" lower band that dynamic allocation uses only once the upper band is
full (so addresses people pick by hand, like the cluster DNS at ``.10``, stay free), and the
upstream error messages. The caller passes the set in use (from the stored Services), so no
bitmap has to be kept in step with storage.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Collection

DEFAULT_SERVICE_CIDR = "127.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = (30000, 32767)


class AllocationError(ValueError):
    """The requested IP or port cannot be had (taken, out of range) or the range is full."""


class RangeFull(AllocationError):
    """Every address or port of the range is in use."""


def _static_band(size: int, lo: int, hi: int, step: int) -> int:
    """How many of the range's first values are kept for static allocation (``calculateRangeOffset``)."""
    return min(max(lo, size // step), hi)


def _pick(size: int, band: int, taken: Collection[int], rng: random.Random) -> int:
    """A free offset in ``[0, size)``: a random one above the static band, else the first free one below it."""
    band = min(band, size)
    upper = size - band
    if upper > 0:
        start = rng.randrange(upper)
        for i in range(upper):
            offset = band + (start + i) % upper
            if offset not in taken:
                return offset
    for offset in range(band):
        if offset not in taken:
            return offset
    raise RangeFull("range is full")


class ClusterIPAllocator:
    """ClusterIPs from the service CIDR; the network and broadcast addresses are never handed out."""

    def __init__(self, cidr: str = DEFAULT_SERVICE_CIDR) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.cidr = str(self.network)
        reserved = 1 if self.network.version == 6 else 2
        self.size = max(self.network.num_addresses - reserved, 0)
        self._first = int(self.network.network_address) + 1

    def address(self, offset: int) -> str:
        """The ``offset``-th usable address: 0 is the ``kubernetes`` Service's, 9 the cluster DNS's."""
        return str(ipaddress.ip_address(self._first + offset))

    def contains(self, ip: str) -> bool:
        try:
            value = int(ipaddress.ip_address(ip))
        except ValueError:
            return False
        return self._first <= value < self._first + self.size

    def allocate(self, in_use: Collection[str], rng: random.Random | None = None) -> str:
        """A free address (random, as upstream; pass a seeded ``rng`` for a repeatable one)."""
        taken = {int(ipaddress.ip_address(ip)) - self._first for ip in in_use if self.contains(ip)}
        band = _static_band(self.size, 16, 256, 16)
        try:
            return self.address(_pick(self.size, band, taken, rng or random.Random()))
        except RangeFull:
            raise RangeFull(f"range is full: no addresses left in {self.cidr}") from None

    def allocate_specific(self, ip: str, in_use: Collection[str]) -> str:
        """``ip`` itself, if it is in range and free; else the upstream error."""
        if not self.contains(ip):
            raise AllocationError(
                f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {self.cidr}"
            )
        if ip in in_use:
            raise AllocationError(f"failed to allocate IP {ip}: provided IP is already allocated")
        return ip


class NodePortAllocator:
    """NodePorts from a port range (30000–32767 unless configured)."""

    def __init__(self, port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE) -> None:
        self.base, self.last = port_range
        self.size = self.last - self.base + 1

    @property
    def range_text(self) -> str:
        return f"{self.base}-{self.last}"

    def contains(self, port: int) -> bool:
        return self.base <= port <= self.last

    def allocate(self, in_use: Collection[int], rng: random.Random | None = None) -> int:
        """A free port (random, as upstream; pass a seeded ``rng`` for a repeatable one)."""
        taken = {p - self.base for p in in_use if self.contains(p)}
        band = _static_band(self.size, 16, 128, 32)
        try:
            return self.base + _pick(self.size, band, taken, rng or random.Random())
        except RangeFull:
            raise RangeFull(f"range is full: no ports left in {self.range_text}") from None

    def allocate_specific(self, port: int, in_use: Collection[int]) -> int:
        """``port`` itself, if it is in range and free; else the upstream error."""
        if not self.contains(port):
            raise AllocationError(
                f"provided port is not in the valid range. The range of valid ports is {self.range_text}"
            )
        if port in in_use:
            raise AllocationError("provided port is already allocated")
        return port
