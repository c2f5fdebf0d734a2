"""Exponential back-off per key: how long to wait before restarting a crashed container again.

Mirrors client-go's ``util/flowcontrol.Backoff`` as the kubelet uses it for CrashLoopBackOff
and ImagePullBackOff: the first failure is retried at once; each later one waits twice as
long as the last (10 s, 20 s, 40 s ... up to 5 min); an entry not bumped for twice the
maximum (10 min, e.g. a container that ran fine that long) starts again from the initial
delay. ``scale`` shrinks every duration alike, so a lab can watch a whole crash loop in seconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kubelab.runtime.clock import REAL_CLOCK, Clock

INITIAL = 10.0
MAXIMUM = 300.0


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    """Per-key back-off durations on the wall clock (times are epoch seconds, as container finish times are)."""

    def __init__(self, initial: float = INITIAL, maximum: float = MAXIMUM, *, scale: float = 1.0,
                 clock: Clock = REAL_CLOCK) -> None:
        if scale <= 0:
            raise ValueError(f"the back-off scale must be positive, not {scale}")
        self.initial = initial * scale
        self.maximum = maximum * scale
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.maximum

    def get(self, key: str) -> float:
        """The current back-off of ``key`` (0 when it has none)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.backoff if entry else 0.0

    def next(self, key: str, event_time: float) -> None:
        """Record a failure at ``event_time``: start at the initial delay, or double (up to the maximum)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                entry = self._entries[key] = _Entry(self.initial, 0.0)
            else:
                entry.backoff = min(entry.backoff * 2, self.maximum)
            entry.last_update = self.clock.wall()

    def is_in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether less than the current back-off has passed since ``event_time``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                return False
            return self.clock.wall() - event_time < entry.backoff

    def is_in_backoff_since_update(self, key: str) -> bool:
        """Whether less than the current back-off has passed since the last failure was recorded."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(self.clock.wall(), entry):
                return False
            return self.clock.wall() - entry.last_update < entry.backoff

    def remaining_since_update(self, key: str) -> float:
        """Seconds until the back-off since the last recorded failure ends (0 when not backing off)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0.0
            return max(0.0, entry.last_update + entry.backoff - self.clock.wall())

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until the back-off since ``event_time`` ends (0 when not backing off)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                return 0.0
            return max(0.0, event_time + entry.backoff - self.clock.wall())

    def gc(self) -> None:
        """Forget keys not bumped for twice the maximum."""
        now = self.clock.wall()
        with self._lock:
            for key in [k for k, e in self._entries.items() if now - e.last_update > 2 * self.maximum]:
                del self._entries[key]

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


def format_duration(seconds: float) -> str:
    """A duration as Go prints a ``time.Duration`` (``10s``, ``2m40s``, ``5m0s``, ``1.5s``)."""
    if seconds < 60:
        return f"{seconds:g}s" if seconds == int(seconds) else f"{seconds:.3g}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:g}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes)}m{rest:g}s"
