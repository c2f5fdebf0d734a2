"""The watch cache: one KV watch for every API watch, replay from memory, slow watchers ended."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from kubelab.store.cacher import Cacher
from kubelab.store.errors import Compacted, FutureRevision
from kubelab.store.events import WatchEvent
from kubelab.store.kv import KV, WatchResponse
from kubelab.store.storage import Storage

pytestmark = pytest.mark.anyio


class CountingKV:
    """A KV that counts the watches opened on it."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self.watches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)

    def watch(self, *args: Any, **kwargs: Any) -> AsyncGenerator[WatchResponse, None]:
        self.watches += 1
        return self.kv.watch(*args, **kwargs)


def obj(name: str, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, **fields}


async def take(events: AsyncGenerator[WatchEvent, None], count: int) -> list[WatchEvent]:
    async with asyncio.timeout(10):
        return [await anext(events) for _ in range(count)]


async def test_every_watch_shares_one_kv_watch(kv: KV, prefix: str) -> None:
    counting = CountingKV(kv)
    storage = Storage(counting)  # type: ignore[arg-type]
    start = str(await storage.current_revision())
    watches = [
        storage.watch(prefix + ("a" if i % 2 else ""), recursive=i % 2 == 0, resource_version=start)
        for i in range(20)
    ]
    try:
        firsts = [asyncio.create_task(anext(w)) for w in watches]
        await asyncio.sleep(0.1)
        created = await storage.create(prefix + "a", obj("a"))
        seen = await asyncio.wait_for(asyncio.gather(*firsts), 10)
    finally:
        for w in watches:
            await w.aclose()
        await storage.cacher.stop()  # type: ignore[union-attr]

    assert counting.watches == 1
    assert seen == [WatchEvent("ADDED", created)] * 20


async def test_a_recent_resource_version_is_replayed_from_the_window(kv: KV, prefix: str) -> None:
    counting = CountingKV(kv)
    storage = Storage(counting)  # type: ignore[arg-type]
    try:
        async with contextlib.aclosing(storage.watch(prefix, recursive=True)) as warm_up:
            first = asyncio.create_task(anext(warm_up))
            await asyncio.sleep(0.1)
            made = [await storage.create(f"{prefix}{i}", obj(str(i))) for i in range(5)]
            await first
        since = made[1]["metadata"]["resourceVersion"]
        async with contextlib.aclosing(storage.watch(prefix, recursive=True, resource_version=since)) as events:
            replayed = await take(events, 3)
    finally:
        await storage.cacher.stop()  # type: ignore[union-attr]

    assert [e.object for e in replayed] == made[2:]
    assert counting.watches == 1


async def test_a_resource_version_older_than_the_window_gets_a_watch_of_its_own(kv: KV, prefix: str) -> None:
    counting = CountingKV(kv)
    storage = Storage(counting)  # type: ignore[arg-type]
    storage.cacher = Cacher(counting, window=2)  # type: ignore[arg-type]
    try:
        async with contextlib.aclosing(storage.watch(prefix, recursive=True, send_initial_events=False)) as live:
            first = asyncio.create_task(take(live, 6))
            while storage.cacher.watcher_count == 0:  # the watch starts "from now": let it start first
                await asyncio.sleep(0.01)
            made = [await storage.create(f"{prefix}{i}", obj(str(i))) for i in range(6)]
            await first
        assert storage.cacher.window_start > int(made[0]["metadata"]["resourceVersion"])
        old = made[0]["metadata"]["resourceVersion"]
        async with contextlib.aclosing(storage.watch(prefix, recursive=True, resource_version=old)) as events:
            replayed = await take(events, 5)
    finally:
        await storage.cacher.stop()

    assert [e.object for e in replayed] == made[1:]
    assert counting.watches == 2


async def test_a_watcher_that_falls_behind_is_ended_and_others_go_on(kv: KV, prefix: str) -> None:
    storage = Storage(kv)
    storage.cacher = Cacher(kv, watcher_queue=3)
    start = str(await storage.current_revision())
    slow = storage.watch(prefix, recursive=True, resource_version=start)
    fast = storage.watch(prefix, recursive=True, resource_version=start)
    try:
        slow_first = asyncio.create_task(anext(slow))
        fast_events = []
        for i in range(10):
            next_event = asyncio.create_task(anext(fast))
            await asyncio.sleep(0.05 if i == 0 else 0)
            await storage.create(f"{prefix}{i}", obj(str(i)))
            fast_events.append(await asyncio.wait_for(next_event, 10))  # fast keeps up; slow reads no more
        await slow_first
        async with asyncio.timeout(10):
            rest = [event async for event in slow]
    finally:
        await slow.aclose()
        await fast.aclose()
        await storage.cacher.stop()

    assert [e.object["metadata"]["name"] for e in fast_events] == [str(i) for i in range(10)]
    assert len(rest) < 9  # ended early: its client watches again from the last resourceVersion it saw


async def test_a_watch_from_a_future_resource_version_waits_then_fails(kv: KV, prefix: str) -> None:
    storage = Storage(kv)
    storage.cacher = Cacher(kv, freshness_timeout=2)
    future = str(await storage.current_revision() + 1)
    try:
        waiting = storage.watch(prefix, recursive=True, resource_version=future)
        served = asyncio.create_task(anext(waiting))
        await asyncio.sleep(0.05)
        await storage.create(prefix + "a", obj("a"))
        later = await storage.create(prefix + "b", obj("b"))
        (event,) = [await asyncio.wait_for(served, 10)]
        await waiting.aclose()

        assert event == WatchEvent("ADDED", later)  # started once the store reached it: the change after
        too_far = storage.watch(prefix, recursive=True, resource_version=str(int(future) + 1000))
        with pytest.raises(FutureRevision):
            await anext(too_far)
        await too_far.aclose()
    finally:
        await storage.cacher.stop()


async def test_a_compacted_resource_version_before_the_window_is_too_old(kv: KV, prefix: str) -> None:
    storage = Storage(kv)
    storage.cacher = Cacher(kv, window=1)
    try:
        made = [await storage.create(f"{prefix}{i}", obj(str(i))) for i in range(3)]
        async with contextlib.aclosing(storage.watch(prefix, recursive=True)) as warm_up:
            await take(warm_up, 3)
        await storage.compact(await storage.current_revision())
        old = made[0]["metadata"]["resourceVersion"]
        events = storage.watch(prefix, recursive=True, resource_version=old)
        with pytest.raises(Compacted, match=f"too old resource version: {old}"):
            await anext(events)
        await events.aclose()
    finally:
        await storage.cacher.stop()


async def test_closing_a_watch_detaches_it_from_the_cache(kv: KV, prefix: str) -> None:
    storage = Storage(kv)
    try:
        events = storage.watch(prefix, recursive=True, send_initial_events=False, resource_version="0")
        first = asyncio.create_task(anext(events))
        assert storage.cacher is not None
        async with asyncio.timeout(10):
            while storage.cacher.watcher_count == 0:
                await asyncio.sleep(0.01)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await events.aclose()
        assert storage.cacher.watcher_count == 0
    finally:
        await storage.cacher.stop()  # type: ignore[union-attr]


async def test_closing_the_storage_ends_every_watch_while_changes_flow(kv: KV, prefix: str) -> None:
    storage = Storage(kv)
    watches = [storage.watch(prefix, recursive=True, resource_version="0") for _ in range(5)]
    for n, w in enumerate(watches):
        first = asyncio.create_task(anext(w))
        await asyncio.sleep(0.01)
        await storage.create(f"{prefix}w{n}", obj("x"))
        await first

    for i in range(50):
        await storage.guaranteed_update(f"{prefix}{i % 5}", lambda o: {**o, "n": o.get("n", 0) + 1}, ignore_not_found=True)
        if i % 10 == 0:
            await asyncio.sleep(0)
    async with asyncio.timeout(3):
        await storage.cacher.stop()  # type: ignore[union-attr]
        for w in watches:
            async for _ in w:
                pass
    assert storage.cacher.watcher_count == 0  # type: ignore[union-attr]
