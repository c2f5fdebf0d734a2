"""Choosing an endpoint for each new connection: round-robin, with optional client-IP affinity.

Mirrors the round-robin balancer of kube-proxy's old userspace mode
(``pkg/proxy/userspace/roundrobin.go``): endpoints take turns in order; with
``sessionAffinity: ClientIP`` a client keeps the endpoint it was last given until it has
been idle for the affinity timeout, or until that endpoint leaves the list.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from kubelab.proxy.endpoints import Endpoint
from kubelab.runtime.clock import REAL_CLOCK, Clock


@dataclass
class _Affinity:
    endpoint: Endpoint
    last_used: float


class RoundRobin:
    """The endpoints of one Service port and whose turn is next. Safe to use from any thread."""

    def __init__(self, endpoints: Sequence[Endpoint] = (), *, sticky_seconds: int = 0, clock: Clock = REAL_CLOCK) -> None:
        self.clock = clock
        self.sticky_seconds = sticky_seconds
        self._endpoints: list[Endpoint] = list(endpoints)
        self._next = 0
        self._affinity: dict[str, _Affinity] = {}
        self._lock = threading.Lock()

    @property
    def endpoints(self) -> list[Endpoint]:
        with self._lock:
            return list(self._endpoints)

    def update(self, endpoints: Sequence[Endpoint], sticky_seconds: int) -> None:
        """Replace the endpoints; clients stay with endpoints that remain, the turn starts over if the list changed."""
        with self._lock:
            if list(endpoints) != self._endpoints:
                self._endpoints = list(endpoints)
                self._next = 0
            if sticky_seconds != self.sticky_seconds:
                self._affinity.clear()
            self.sticky_seconds = sticky_seconds
            kept = set(self._endpoints)
            self._affinity = {ip: a for ip, a in self._affinity.items() if a.endpoint in kept}

    def next(self, client_ip: str, *, exclude: Sequence[Endpoint] = ()) -> Endpoint | None:
        """The endpoint for a new connection from ``client_ip`` (None when there is none).

        ``exclude`` names endpoints that just refused this connection, so a retry goes elsewhere.
        """
        with self._lock:
            candidates = [e for e in self._endpoints if e not in exclude] if exclude else self._endpoints
            if not candidates:
                return None
            now = self.clock.now()
            if self.sticky_seconds:
                affinity = self._affinity.get(client_ip)
                if affinity and affinity.endpoint in candidates and now - affinity.last_used < self.sticky_seconds:
                    affinity.last_used = now
                    return affinity.endpoint
            endpoint = self._take_turn(candidates)
            if self.sticky_seconds:
                self._affinity[client_ip] = _Affinity(endpoint, now)
            return endpoint

    def _take_turn(self, candidates: list[Endpoint]) -> Endpoint:
        for _ in range(len(self._endpoints)):
            endpoint = self._endpoints[self._next % len(self._endpoints)]
            self._next = (self._next + 1) % len(self._endpoints)
            if endpoint in candidates:
                return endpoint
        return candidates[0]
