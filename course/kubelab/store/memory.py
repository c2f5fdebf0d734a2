"""``MemoryKV``: the async :class:`~kubelab.store.kv.KV` interface over an in-memory MVCC store.

The store itself (:class:`~kubelab.store.mvcc.MemoryMVCC`, or a learner's class with the same
methods) is synchronous; this wrapper adds watches. Everything runs on one event loop and no
method awaits between touching the store and handing events to watchers, so a watch that
replays history and then follows live writes can neither miss an event nor see one twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

from kubelab.store.kv import Compare, Event, Op, RangeResult, TxnResult, WatchResponse, in_range
from kubelab.store.mvcc import MemoryMVCC, MVCCStore


class _Watcher:
    """One open watch: its range and the events not yet taken by its reader."""

    __slots__ = ("key", "range_end", "pending", "wakeup")

    def __init__(self, key: bytes, range_end: bytes | None) -> None:
        self.key = key
        self.range_end = range_end
        self.pending: list[Event] = []
        self.wakeup = asyncio.Event()


class MemoryKV:
    """An etcd-like :class:`~kubelab.store.kv.KV` kept in this process's memory.

    ``progress_notify_interval`` is how long a watch with ``progress_notify`` stays silent
    before it sends a progress notification (etcd's ``--experimental-watch-progress-notify-interval``).
    """

    def __init__(self, store: MVCCStore | None = None, *, progress_notify_interval: float = 5.0) -> None:
        self.store: MVCCStore = store if store is not None else MemoryMVCC()
        self.progress_notify_interval = progress_notify_interval
        self._watchers: set[_Watcher] = set()
        self._closed = False

    async def range(
        self, key: bytes, range_end: bytes | None = None, *, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        """Read the key or range at ``revision`` (0 = latest)."""
        return self.store.range(key, range_end, revision=revision, limit=limit)

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        """Run the transaction, then hand its events to the watchers of their keys."""
        before = self.store.revision
        result = self.store.txn(compares, success, failure)
        if result.revision != before and self._watchers:
            self._deliver(self.store.history(b"\x00", b"\x00", start_revision=before + 1))
        return result

    async def compact(self, revision: int) -> None:
        """Compact the store at ``revision``."""
        self.store.compact(revision)

    async def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        progress_notify: bool = False,
    ) -> AsyncGenerator[WatchResponse, None]:
        """Yield the changes to the key or range from ``start_revision`` (0 = from when iteration starts)."""
        watcher = _Watcher(key, range_end)
        if start_revision > 0:
            watcher.pending.extend(self.store.history(key, range_end, start_revision=start_revision))
        # Registering in the same step as reading the history is what makes the hand-over exact.
        self._watchers.add(watcher)
        try:
            while not self._closed:
                if watcher.pending:
                    batch, watcher.pending = watcher.pending, []
                    yield WatchResponse(events=batch, revision=self.store.revision)
                    continue
                watcher.wakeup.clear()
                if not progress_notify:
                    await watcher.wakeup.wait()
                    continue
                try:
                    async with asyncio.timeout(self.progress_notify_interval):
                        await watcher.wakeup.wait()
                except TimeoutError:
                    if not watcher.pending and not self._closed:
                        yield WatchResponse(events=[], revision=self.store.revision)
        finally:
            self._watchers.discard(watcher)

    async def close(self) -> None:
        """End every open watch; the data stays."""
        self._closed = True
        for watcher in self._watchers:
            watcher.wakeup.set()

    def _deliver(self, events: Sequence[Event]) -> None:
        for watcher in self._watchers:
            matching = [e for e in events if in_range(e.kv.key, watcher.key, watcher.range_end)]
            if matching:
                watcher.pending.extend(matching)
                watcher.wakeup.set()
