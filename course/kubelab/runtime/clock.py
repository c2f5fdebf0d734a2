"""Time, injectable: the real clock, and a fake one tests move by hand.

Everything in the runtime that waits or measures (work-queue delays and backoff, informer
resyncs, expectation timeouts, event timestamps, controllers' minReadySeconds) asks a
:class:`Clock`, so a test can step a :class:`FakeClock` instead of sleeping
(``k8s.io/utils/clock`` and its ``testing.FakeClock``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Where the runtime reads the time and waits."""

    def now(self) -> float:
        """Seconds on a monotonic scale: for delays, deadlines and durations."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch: for timestamps written into objects."""
        ...

    def wait(self, condition: threading.Condition, seconds: float | None) -> None:
        """Wait on ``condition`` (held by the caller) until notified or ``seconds`` of this clock pass.

        May return early: callers re-check what they wait for.
        """
        ...


class RealClock:
    """The system clock."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def wait(self, condition: threading.Condition, seconds: float | None) -> None:
        condition.wait(None if seconds is None else max(seconds, 0.0))


class FakeClock:
    """A clock that only moves when :meth:`step` is called; waiters wake when it does."""

    def __init__(self, start: float = 1_000_000.0, wall: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall - start
        self._lock = threading.Lock()
        self._waiting: list[threading.Condition] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def step(self, seconds: float) -> None:
        """Move time forward and wake every thread waiting on this clock."""
        with self._lock:
            self._now += seconds
            waiting = list(self._waiting)
        for condition in waiting:
            with condition:
                condition.notify_all()

    def wait(self, condition: threading.Condition, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            return
        with self._lock:
            self._waiting.append(condition)
        try:
            # A short real timeout covers a step() that lands between the caller's
            # reading of now() and this registration.
            condition.wait(0.05)
        finally:
            with self._lock:
                self._waiting.remove(condition)


REAL_CLOCK = RealClock()


def rfc3339(seconds: float) -> str:
    """Epoch seconds as Kubernetes writes a ``Time``: ``2026-11-25T12:00:00Z`` (whole seconds, UTC)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
