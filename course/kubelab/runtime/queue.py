"""The work queue between event handlers and workers: deduplicating, delaying, rate-limited.

Mirrors ``k8s.io/client-go/util/workqueue`` (its plain, delaying and rate-limiting queues
in one class). Its promises, which every controller relies on:

- an item is in the queue at most once, however often it is added before a worker takes it;
- an item is processed by one worker at a time: added while being processed, it is queued
  again only when that worker calls :meth:`WorkQueue.done`;
- :meth:`add_after` holds an item back; :meth:`add_rate_limited` holds it back longer each
  time it fails, until :meth:`forget` says it succeeded.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Hashable

from kubelab.runtime.clock import REAL_CLOCK, Clock
from kubelab.runtime.ratelimit import RateLimiter, default_controller_rate_limiter


class WorkQueue:
    """Keys waiting for a worker (``workqueue.TypedRateLimitingInterface``)."""

    def __init__(self, *, rate_limiter: RateLimiter | None = None, clock: Clock = REAL_CLOCK, name: str = "") -> None:
        self.name = name
        self.clock = clock
        self.rate_limiter = rate_limiter or default_controller_rate_limiter(clock)
        self._cond = threading.Condition()
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: list[tuple[float, int, Hashable]] = []
        self._ready_at: dict[Hashable, float] = {}
        self._sequence = itertools.count()
        self._shutting_down = False
        self._drain = False

    def add(self, item: Hashable) -> None:
        """Queue ``item`` unless it is queued already (or, if it is being processed, once it is done)."""
        with self._cond:
            self._add(item)

    def _add(self, item: Hashable) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item not in self._processing:
            self._queue.append(item)
            self._cond.notify()

    def add_after(self, item: Hashable, seconds: float) -> None:
        """Queue ``item`` once ``seconds`` have passed; an earlier pending time for it wins."""
        if seconds <= 0:
            self.add(item)
            return
        with self._cond:
            if self._shutting_down:
                return
            ready = self.clock.now() + seconds
            if item in self._ready_at and self._ready_at[item] <= ready:
                return
            self._ready_at[item] = ready
            heapq.heappush(self._waiting, (ready, next(self._sequence), item))
            self._cond.notify_all()

    def add_rate_limited(self, item: Hashable) -> None:
        """Queue ``item`` after its rate limiter's backoff (longer after each failure)."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s backoff: it succeeded. It does not remove the item from the queue."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` was retried since it was last forgotten."""
        return self.rate_limiter.num_requeues(item)

    def get(self, timeout: float | None = None) -> Hashable | None:
        """Take the next item, blocking until there is one; None once shut down (or after ``timeout``).

        The caller owns the item until it calls :meth:`done`.
        """
        with self._cond:
            deadline = None if timeout is None else self.clock.now() + timeout
            while True:
                self._promote_ready()
                if self._queue:
                    item = self._queue.popleft()
                    self._processing.add(item)
                    self._dirty.discard(item)
                    return item
                if self._shutting_down:
                    return None
                now = self.clock.now()
                waits = [t - now for t in (deadline, self._waiting[0][0] if self._waiting else None) if t is not None]
                if deadline is not None and now >= deadline:
                    return None
                self.clock.wait(self._cond, min(waits) if waits else None)

    def _promote_ready(self) -> None:
        now = self.clock.now()
        while self._waiting and self._waiting[0][0] <= now:
            ready, _, item = heapq.heappop(self._waiting)
            if self._ready_at.get(item) == ready:
                del self._ready_at[item]
                self._add(item)

    def done(self, item: Hashable) -> None:
        """Mark ``item`` processed; if it was added meanwhile, it goes back in the queue now."""
        with self._cond:
            self._processing.discard(item)
            if item in self._dirty:
                self._queue.append(item)
                self._cond.notify()
            elif not self._processing:
                self._cond.notify_all()

    def shut_down(self, *, drain: bool = False) -> None:
        """Refuse new items and wake every waiting worker; with ``drain``, first wait for items in processing.

        Items still queued are dropped: a worker's ``get`` returns None from now on
        (after the queued items, when draining).
        """
        with self._cond:
            self._shutting_down = True
            self._waiting.clear()
            self._ready_at.clear()
            if not drain:
                self._queue.clear()
                self._dirty.clear()
            self._cond.notify_all()
            while drain and (self._processing or self._queue):
                self._cond.wait(0.1)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Items ready for a worker (not counting held-back ones)."""
        with self._cond:
            return len(self._queue)

    def __repr__(self) -> str:
        return f"<WorkQueue {self.name!r}: {len(self._queue)} queued, {len(self._processing)} processing, " \
               f"{len(self._waiting)} waiting>"
