"""Watch events of the object storage, and the loop that streams them to one watcher.

Mirrors k8s.io/apimachinery ``pkg/watch`` (``watch.Event``) and the event filtering of
k8s.io/apiserver's etcd3 watcher and cacher: with a predicate, an object that starts to
match arrives as ``ADDED`` and one that stops matching as ``DELETED``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Literal

Object = dict[str, Any]
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


class Feed:
    """The queue between whatever produces one watcher's events and :func:`stream`.

    ``revision`` is the producer's promise: every change up to it is already in the queue,
    which makes it the resourceVersion of a bookmark sent while the queue is empty.
    """

    def __init__(self, revision: int, maxsize: int = 0) -> None:
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
            while not self.queue.empty():
                self.queue.get_nowait()
        self.queue.put_nowait(error)


async def stream(
    feed: Feed,
    initial: list[WatchEvent],
    *,
    initial_events_end: int | None,
    allow_bookmarks: bool,
    bookmark_interval: float,
) -> AsyncGenerator[WatchEvent, None]:
    """Yield ``initial``, the initial-events-end bookmark if asked, then the feed's events.

    While the feed is quiet for ``bookmark_interval`` seconds and bookmarks are allowed,
    yield a bookmark at the feed's revision.
    """
    try:
        for event in initial:
            yield event
        if initial_events_end is not None:
            yield bookmark(initial_events_end, initial_events_end=True)
        timeout = bookmark_interval if allow_bookmarks else None
        while True:
            try:
                item = feed.queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    item = await asyncio.wait_for(feed.queue.get(), timeout)
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
