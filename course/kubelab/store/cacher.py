"""The watch cache: one watch of the whole store, shared by every API watch.

Plays the part of k8s.io/apiserver ``pkg/storage/cacher`` (``cacher.go``, ``watch_cache.go``).
Without it every API watch would be its own etcd watch stream; with it the API server holds
one, and:

- keeps a *window* of the most recent changes, so that a watch from a recent
  resourceVersion is replayed from memory (an older one, or one from before a compaction
  made through :class:`~kubelab.store.storage.Storage`, gets a watch of its own, which
  fails with "too old" if that history was compacted);
- knows the store's revision as of the last change it saw, so a watch from a resourceVersion
  just returned by a write or a list can start as soon as the cache has caught up with it;
- hands each change to the watchers of its key, each through a bounded queue: a watcher
  that falls that far behind is ended (its client watches again from its last
  resourceVersion) instead of slowing down everyone else.

Unlike upstream's per-resource cachers, one cache follows every key, so its revision moves
with every write: no watch waits for a progress notification to learn that nothing changed
under its own prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from kubelab.store.codec import decode
from kubelab.store.errors import Compacted, FutureRevision, StorageError, Unavailable
from kubelab.store.events import Change, Feed, OpenWatch, Predicate, WatchEvent
from kubelab.store.kv import KV, in_range

#: How many recent changes the cache keeps for replay.
WINDOW = 10_000
#: How many events a watcher may fall behind before it is ended.
WATCHER_QUEUE = 1_000
#: How long a watch waits for the cache to reach its resourceVersion (upstream's 3 s).
FRESHNESS_TIMEOUT = 3.0


class _Watcher:
    __slots__ = ("key", "range_end", "predicate", "feed")

    def __init__(self, key: bytes, range_end: bytes | None, predicate: Predicate | None, feed: Feed) -> None:
        self.key = key
        self.range_end = range_end
        self.predicate = predicate
        self.feed = feed


class Cacher:
    """Serves watches of ``kv`` from one shared watch of all its keys."""

    def __init__(
        self,
        kv: KV,
        *,
        window: int = WINDOW,
        watcher_queue: int = WATCHER_QUEUE,
        freshness_timeout: float = FRESHNESS_TIMEOUT,
    ) -> None:
        self.kv = kv
        self.watcher_queue = watcher_queue
        self.freshness_timeout = freshness_timeout
        self.revision = 0
        self.window: deque[Change] = deque(maxlen=window)
        self.window_start = 0
        self._watchers: set[_Watcher] = set()
        self._pump: asyncio.Task[None] | None = None
        self._starting: asyncio.Lock | None = None
        self._advanced = asyncio.Event()

    @property
    def watcher_count(self) -> int:
        """How many watches the cache is serving."""
        return len(self._watchers)

    async def open(
        self,
        key: bytes,
        range_end: bytes | None,
        *,
        start: int,
        consistent: bool,
        initial: bool,
        predicate: Predicate | None,
    ) -> OpenWatch | None:
        """Start a watch of the key or range, or None if ``start`` is older than the window.

        ``initial``: begin with an ``ADDED`` per object as of a revision at least ``start``
        (and, if ``consistent``, at least the store's latest). Otherwise replay the changes
        after ``start`` (0 = from now).
        """
        await self._ensure_running()
        if consistent:
            start = max(start, (await self.kv.range(b"/")).revision)
        if start and not initial and start < self.window_start:
            return None
        await self._wait_until_fresh(start)
        if not initial:
            return self._register(key, range_end, predicate, max(start, 0) or self.revision, [])
        while True:
            at = self.revision
            try:
                snapshot = await self.kv.range(key, range_end, revision=at)
            except Compacted:
                continue  # compacted while we read: read again at a newer revision
            if at < self.window_start:
                continue  # the window moved past `at` while we read
            added = []
            for kv in snapshot.kvs:
                obj = decode(kv)
                if predicate is None or predicate(obj):
                    added.append(WatchEvent("ADDED", obj))
            return self._register(key, range_end, predicate, at, added)

    def compacted(self, revision: int) -> None:
        """The store was compacted at ``revision``: a watch from before it must fail as too old, not be replayed."""
        self.window_start = max(self.window_start, revision)
        while self.window and self.window[0].revision < revision:
            self.window.popleft()

    async def stop(self) -> None:
        """Stop following the store and end every watch."""
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.wait([self._pump])
        self._pump = None

    # -- internals -----------------------------------------------------------------------

    def _register(
        self, key: bytes, range_end: bytes | None, predicate: Predicate | None, after: int, initial: list[WatchEvent]
    ) -> OpenWatch:
        """Attach a watcher that has seen everything up to ``after``; no await may precede this."""
        feed = Feed(max(after, self.revision), self.watcher_queue)
        watcher = _Watcher(key, range_end, predicate, feed)
        for change in self._changes_after(after):
            if in_range(change.event.kv.key, key, range_end):
                event = change.watch_event(predicate)
                if event is not None:
                    feed.backlog.append(event)
        self._watchers.add(watcher)
        feed.on_close = lambda: self._watchers.discard(watcher)
        return OpenWatch(feed=feed, revision=after, initial=initial)

    def _changes_after(self, revision: int) -> list[Change]:
        if revision >= self.revision:
            return []
        changes = []
        for change in reversed(self.window):
            if change.revision <= revision:
                break
            changes.append(change)
        changes.reverse()
        return changes

    async def _ensure_running(self) -> None:
        if self._pump is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._pump is not None:
                return
            current = (await self.kv.range(b"/")).revision
            self.revision = self.window_start = current
            self.window.clear()
            self._pump = asyncio.create_task(self._follow(current), name="kubelab-watch-cache")

    async def _wait_until_fresh(self, revision: int) -> None:
        if self.revision >= revision:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.freshness_timeout
        while self.revision < revision:
            if self._pump is None:
                raise Unavailable("the watch cache lost its watch of the store; try again")
            advanced = self._advanced
            try:
                async with asyncio.timeout_at(deadline):
                    await advanced.wait()
            except TimeoutError:
                raise FutureRevision(revision, self.revision) from None

    def _advance(self, revision: int) -> None:
        self.revision = revision
        self._advanced.set()
        self._advanced = asyncio.Event()

    async def _follow(self, after: int) -> None:
        """Apply every change after ``after`` to the window and the watchers, until the watch ends."""
        try:
            watch = self.kv.watch(b"\x00", b"\x00", start_revision=after + 1, progress_notify=True)
            async with contextlib.aclosing(watch) as responses:
                async for response in responses:
                    if response.events:
                        self._dispatch([Change(event) for event in response.events])
                    elif response.revision > self.revision:
                        for watcher in self._watchers:
                            watcher.feed.revision = response.revision
                        self._advance(response.revision)
        except StorageError:
            pass  # the watchers end; the next watch starts a new cache and reports what is wrong
        finally:
            self._pump = None
            for watcher in list(self._watchers):
                watcher.feed.end()
            self._watchers.clear()
            self._advanced.set()

    def _dispatch(self, changes: list[Change]) -> None:
        for change in changes:
            if len(self.window) == self.window.maxlen:
                self.window_start = self.window[0].revision
            self.window.append(change)
        revision = changes[-1].revision
        ended = []
        for watcher in self._watchers:
            for change in changes:
                if not in_range(change.event.kv.key, watcher.key, watcher.range_end):
                    continue
                event = change.watch_event(watcher.predicate)
                if event is not None and not watcher.feed.put(event):
                    ended.append(watcher)
                    break
            watcher.feed.revision = revision
        for watcher in ended:
            watcher.feed.end()
            self._watchers.discard(watcher)
        self._advance(revision)
