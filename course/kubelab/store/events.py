"""Watch events of the object storage, and the loop that streams them to one watcher.

Mirrors k8s.io/apimachinery ``pkg/watch`` (``watch.Event``) and the event filtering of
k8s.io/apiserver's etcd3 watcher and cacher: with a predicate, an object that starts to
match arrives as ``ADDED`` and one that stops matching as ``DELETED``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kubelab.store.codec import Object, decode
from kubelab.store.errors import Compacted
from kubelab.store.kv import Event

Predicate = Callable[[Object], bool]
EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One event of a watch; ``object`` may be shared with other watchers, so treat it as read-only."""

    type: EventType
    object: Object


def bookmark(revision: int, *, initial_events_end: bool = False) -> WatchEvent:
    """A ``BOOKMARK``: every change up to ``revision`` has been sent."""
    metadata: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_events_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    return WatchEvent("BOOKMARK", {"metadata": metadata})


def to_watch_event(
    deleted: bool, current: Object | None, previous: Object | None, predicate: Predicate | None
) -> WatchEvent | None:
    """The event a watcher with ``predicate`` sees for one change, or None if it sees nothing.

    ``current`` is the object after a put, ``previous`` its state before the change with its
    resourceVersion set to the revision of the change (None when the put created it).
    """
    previous_matches = previous is not None and (predicate is None or predicate(previous))
    if deleted or current is None:
        return WatchEvent("DELETED", previous) if previous_matches and previous is not None else None
    if predicate is not None and not predicate(current):
        return WatchEvent("DELETED", previous) if previous_matches and previous is not None else None
    return WatchEvent("MODIFIED" if previous_matches else "ADDED", current)


class Change:
    """One KV event with its objects decoded on first use, then shared by every watcher."""

    __slots__ = ("event", "_objects")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._objects: tuple[Object | None, Object | None] | None = None

    @property
    def revision(self) -> int:
        return self.event.kv.mod_revision

    def objects(self) -> tuple[Object | None, Object | None]:
        """The object after the change (None for a delete) and before it, at the change's revision."""
        if self._objects is None:
            event = self.event
            previous = decode(event.prev_kv, event.kv.mod_revision) if event.prev_kv is not None else None
            current = decode(event.kv) if event.type == "PUT" else None
            self._objects = (current, previous)
        return self._objects

    def watch_event(self, predicate: Predicate | None) -> WatchEvent | None:
        """The event a watcher with ``predicate`` sees for this change, or None."""
        current, previous = self.objects()
        return to_watch_event(self.event.type == "DELETE", current, previous, predicate)


def too_old(resource_version: int, compacted: int) -> Compacted:
    """The error of a watch from a compacted resourceVersion, worded as kube-apiserver's."""
    return Compacted(resource_version, compacted, f"too old resource version: {resource_version} ({compacted})")


class Feed:
    """What one watcher is sent after its initial events: a backlog, then a bounded queue.

    ``revision`` is the producer's promise: every change up to it is already in the backlog
    or the queue, which makes it the resourceVersion of a bookmark sent while both are empty.
    """

    def __init__(self, revision: int, maxsize: int = 0) -> None:
        self.backlog: deque[WatchEvent] = deque()
        self.queue: asyncio.Queue[WatchEvent | BaseException | None] = asyncio.Queue(maxsize)
        self.revision = revision
        self.ended = False
        self.on_close: Callable[[], object] | None = None

    def put(self, event: WatchEvent) -> bool:
        """Queue an event; False (and nothing queued) when the queue is full or the feed ended."""
        if self.ended:
            return False
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def end(self, error: BaseException | None = None) -> None:
        """End the stream after the queued events, or at once (dropping them) if the queue is full."""
        if self.ended:
            return
        self.ended = True
        if self.queue.full():
            self.backlog.clear()
            while not self.queue.empty():
                self.queue.get_nowait()
        self.queue.put_nowait(error)


@dataclass
class OpenWatch:
    """A watch ready to stream: its initial events, the revision they show, and its feed."""

    feed: Feed
    revision: int
    initial: list[WatchEvent] = field(default_factory=list)


async def stream(
    opened: OpenWatch, *, send_initial_events: bool, allow_bookmarks: bool, bookmark_interval: float
) -> AsyncGenerator[WatchEvent, None]:
    """Yield the initial events, the initial-events-end bookmark if asked, then the feed's events.

    While the feed is quiet for ``bookmark_interval`` seconds and bookmarks are allowed,
    yield a bookmark at the feed's revision.
    """
    feed = opened.feed
    try:
        for event in opened.initial:
            yield event
        if send_initial_events:
            yield bookmark(opened.revision, initial_events_end=True)
        while feed.backlog:
            yield feed.backlog.popleft()
        timeout = bookmark_interval if allow_bookmarks else None
        while True:
            try:
                item = feed.queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout(timeout):
                        item = await feed.queue.get()
                except TimeoutError:
                    yield bookmark(feed.revision)
                    continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if feed.on_close is not None:
            feed.on_close()
