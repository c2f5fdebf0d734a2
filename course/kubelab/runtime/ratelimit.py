"""How long to wait before retrying an item: the work queue's rate limiters.

Mirrors ``k8s.io/client-go/util/workqueue/default_rate_limiters.go``. The default, used by
every controller, is the slower of a per-item exponential backoff (5 ms, 10 ms, 20 ms ...
up to 1000 s) and an overall token bucket (10 retries a second, bursts of 100).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Protocol

from kubelab.runtime.clock import REAL_CLOCK, Clock


class RateLimiter(Protocol):
    """Decides how long an item waits before its next retry."""

    def when(self, item: Hashable) -> float:
        """Seconds to wait before retrying ``item``; counts one more failure for it."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item``: its next failure starts the backoff again."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` has failed since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures`` seconds for each item, capped at ``maximum``."""

    def __init__(self, base: float = 0.005, maximum: float = 1000.0) -> None:
        self.base = base
        self.maximum = maximum
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            exponent = self._failures.get(item, 0)
            self._failures[item] = exponent + 1
        if exponent >= 64:
            return self.maximum
        return float(min(self.base * 2**exponent, self.maximum))

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket shared by all items: ``qps`` tokens a second, at most ``burst`` saved up.

    Each retry reserves the next token; the wait is how long until that token exists
    (``golang.org/x/time/rate``'s ``Reserve``).
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = REAL_CLOCK) -> None:
        self.qps = qps
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock.now()
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            now = self.clock.now()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest wait any of several limiters asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock = REAL_CLOCK) -> RateLimiter:
    """Per-item exponential backoff from 5 ms to 1000 s, and at most 10 retries a second overall."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100, clock))
