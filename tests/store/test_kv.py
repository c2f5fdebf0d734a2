"""Conformance of every KV backend (in-memory and a real etcd) to etcd's semantics."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from kubelab.store.errors import Compacted, FutureRevision, InvalidArgument
from kubelab.store.kv import KV, Compare, Delete, Event, Get, Put, RangeResult, prefix_range_end

pytestmark = pytest.mark.anyio


async def put(kv: KV, key: bytes, value: bytes) -> int:
    result = await kv.txn([], [Put(key, value)], [])
    return result.revision


async def delete(kv: KV, key: bytes, range_end: bytes | None = None) -> int:
    result = await kv.txn([], [Delete(key, range_end)], [])
    return result.revision


async def revision(kv: KV) -> int:
    return (await kv.range(b"/")).revision


async def collect(kv: KV, key: bytes, range_end: bytes | None, start: int, count: int) -> list[Event]:
    """The first ``count`` events of a watch from ``start``, failing after 10 s."""
    events: list[Event] = []
    async with contextlib.aclosing(kv.watch(key, range_end, start_revision=start)) as responses:
        async with asyncio.timeout(10):
            async for response in responses:
                events.extend(response.events)
                if len(events) >= count:
                    break
    return events


async def test_every_write_bumps_the_revision_and_the_key_keeps_its_versions(kv: KV, prefix: str) -> None:
    key = (prefix + "a").encode()
    start = await revision(kv)

    first = await put(kv, key, b"1")
    second = await put(kv, key, b"2")
    (kv2,) = (await kv.range(key)).kvs

    assert (first, second) == (start + 1, start + 2)
    assert (kv2.value, kv2.create_revision, kv2.mod_revision, kv2.version) == (b"2", first, second, 2)

    gone = await delete(kv, key)
    assert gone == start + 3
    assert (await kv.range(key)).kvs == []

    again = await put(kv, key, b"3")
    (kv3,) = (await kv.range(key)).kvs
    assert (kv3.create_revision, kv3.mod_revision, kv3.version) == (again, again, 1)


async def test_a_range_lists_keys_in_order_with_count_and_limit(kv: KV, prefix: str) -> None:
    for name in ["c", "a", "b", "d"]:
        await put(kv, (prefix + name).encode(), name.encode())
    await put(kv, prefix.rstrip("/").encode() + b"x", b"outside")
    low, high = prefix.encode(), prefix_range_end(prefix.encode())

    everything = await kv.range(low, high)
    page = await kv.range(low, high, limit=3)
    from_b = await kv.range((prefix + "b").encode(), high)

    assert [kv.value for kv in everything.kvs] == [b"a", b"b", b"c", b"d"]
    assert (everything.count, everything.more) == (4, False)
    assert [kv.value for kv in page.kvs] == [b"a", b"b", b"c"]
    assert (page.count, page.more) == (4, True)
    assert [kv.value for kv in from_b.kvs] == [b"b", b"c", b"d"]


async def test_a_range_at_an_old_revision_sees_the_state_of_then(kv: KV, prefix: str) -> None:
    a, b = (prefix + "a").encode(), (prefix + "b").encode()
    low, high = prefix.encode(), prefix_range_end(prefix.encode())
    r1 = await put(kv, a, b"a1")
    r2 = await put(kv, b, b"b1")
    await put(kv, a, b"a2")
    r4 = await delete(kv, b)

    assert [kv.value for kv in (await kv.range(low, high, revision=r1)).kvs] == [b"a1"]
    assert [kv.value for kv in (await kv.range(low, high, revision=r2)).kvs] == [b"a1", b"b1"]
    assert [kv.value for kv in (await kv.range(low, high, revision=r4)).kvs] == [b"a2"]
    assert (await kv.range(b, revision=r2)).kvs[0].mod_revision == r2
    with pytest.raises(FutureRevision):
        await kv.range(a, revision=r4 + 1000)


@pytest.mark.parametrize(
    ("target", "result", "value", "holds"),
    [
        ("mod", "=", "current", True),
        ("mod", "=", "older", False),
        ("mod", "!=", "older", True),
        ("mod", ">", "older", True),
        ("mod", "<", "older", False),
        ("create", "=", "created", True),
        ("create", "<", "current", True),
        ("version", "=", 2, True),
        ("version", ">", 2, False),
        ("value", "=", b"v2", True),
        ("value", "=", b"v1", False),
        ("value", "<", b"v3", True),
    ],
)
async def test_a_txn_runs_success_only_when_every_compare_holds(
    kv: KV, prefix: str, target: str, result: str, value: object, holds: bool
) -> None:
    key, other = (prefix + "k").encode(), (prefix + "other").encode()
    created = await put(kv, key, b"v1")
    current = await put(kv, key, b"v2")
    expected = {"current": current, "created": created, "older": created}.get(value, value)  # type: ignore[call-overload]

    outcome = await kv.txn(
        [Compare(key, target, result, expected)],  # type: ignore[arg-type]
        [Put(other, b"success")],
        [Put(other, b"failure")],
    )

    assert outcome.succeeded is holds
    assert outcome.revision == current + 1
    assert (await kv.range(other)).kvs[0].value == (b"success" if holds else b"failure")


async def test_compares_on_a_missing_key_see_zeros_and_no_value(kv: KV, prefix: str) -> None:
    missing = (prefix + "missing").encode()
    for compare, holds in [
        (Compare(missing, "mod", "=", 0), True),
        (Compare(missing, "create", "=", 0), True),
        (Compare(missing, "version", "=", 0), True),
        (Compare(missing, "value", "=", b""), False),
        (Compare(missing, "value", "!=", b"x"), False),
    ]:
        outcome = await kv.txn([compare], [], [])
        assert outcome.succeeded is holds, compare


async def test_a_txn_is_one_revision_and_reads_in_it_see_its_writes(kv: KV, prefix: str) -> None:
    a, b = (prefix + "a").encode(), (prefix + "b").encode()
    before = await revision(kv)

    outcome = await kv.txn([], [Put(a, b"1"), Put(b, b"2"), Get(a)], [])

    assert outcome.revision == before + 1
    assert outcome.responses[0] is None
    read = outcome.responses[2]
    assert isinstance(read, RangeResult)
    assert [kv.value for kv in read.kvs] == [b"1"]
    assert {kv.mod_revision for kv in (await kv.range(a, prefix_range_end(prefix.encode()))).kvs} == {before + 1}


async def test_a_txn_that_changes_nothing_keeps_the_revision(kv: KV, prefix: str) -> None:
    key = (prefix + "k").encode()
    await put(kv, key, b"v")
    before = await revision(kv)

    read_only = await kv.txn([], [Get(key)], [])
    deleted_nothing = await kv.txn([], [Delete((prefix + "absent").encode())], [])

    assert read_only.revision == before
    assert deleted_nothing.revision == before
    assert deleted_nothing.responses == [[]]


async def test_a_delete_range_removes_every_key_and_returns_them(kv: KV, prefix: str) -> None:
    for name in ["a", "b", "c"]:
        await put(kv, (prefix + name).encode(), name.encode())

    outcome = await kv.txn([], [Delete((prefix + "a").encode(), (prefix + "c").encode())], [])

    deleted = outcome.responses[0]
    assert isinstance(deleted, list)
    assert [kv.value for kv in deleted] == [b"a", b"b"]
    remaining = await kv.range(prefix.encode(), prefix_range_end(prefix.encode()))
    assert [kv.value for kv in remaining.kvs] == [b"c"]


async def test_two_writes_to_one_key_in_a_txn_are_refused(kv: KV, prefix: str) -> None:
    key = (prefix + "k").encode()
    with pytest.raises(InvalidArgument, match="duplicate key"):
        await kv.txn([], [Put(key, b"1"), Put(key, b"2")], [])
    assert (await kv.range(key)).kvs == []


async def test_a_watch_from_a_past_revision_replays_every_change_in_order(kv: KV, prefix: str) -> None:
    a, b = (prefix + "a").encode(), (prefix + "b").encode()
    r1 = await put(kv, a, b"a1")
    r2 = await put(kv, b, b"b1")
    r3 = await put(kv, a, b"a2")
    r4 = await delete(kv, b)

    events = await collect(kv, prefix.encode(), prefix_range_end(prefix.encode()), r1, 4)

    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("PUT", a, r1),
        ("PUT", b, r2),
        ("PUT", a, r3),
        ("DELETE", b, r4),
    ]
    assert events[0].prev_kv is None
    assert events[2].prev_kv is not None and events[2].prev_kv.value == b"a1"
    assert events[3].prev_kv is not None and events[3].prev_kv.value == b"b1"
    assert events[3].kv.version == 0


async def test_a_watch_of_one_key_sees_only_that_key(kv: KV, prefix: str) -> None:
    a, b = (prefix + "a").encode(), (prefix + "b").encode()
    start = await revision(kv) + 1
    await put(kv, b, b"b")
    await put(kv, a, b"a")

    events = await collect(kv, a, None, start, 1)

    assert [(e.kv.key, e.kv.value) for e in events] == [(a, b"a")]


async def test_concurrent_writers_and_watchers_lose_and_repeat_nothing(kv: KV, prefix: str) -> None:
    low, high = prefix.encode(), prefix_range_end(prefix.encode())
    writers, writes = 4, 25
    total = writers * writes
    start = await revision(kv) + 1
    rng = random.Random(7)

    async def writer(n: int) -> None:
        for i in range(writes):
            await put(kv, f"{prefix}w{n}/{rng.randrange(5)}".encode(), str(i).encode())
            await asyncio.sleep(0)

    async def late_watcher() -> list[Event]:
        await asyncio.sleep(0.01)  # starts while writes go on: catches up from history, then live
        return await collect(kv, low, high, start, total)

    results = await asyncio.gather(
        collect(kv, low, high, start, total),
        late_watcher(),
        *(writer(n) for n in range(writers)),
    )

    expected = [(e.kv.key, e.kv.mod_revision) for e in await collect(kv, low, high, start, total)]
    for events in results[:2]:
        seen = [(e.kv.key, e.kv.mod_revision) for e in events]
        assert seen == expected
        assert len(seen) == total
        assert [r for _, r in seen] == sorted(r for _, r in seen)


async def test_compaction_forgets_old_revisions(kv: KV, prefix: str) -> None:
    key = (prefix + "k").encode()
    r1 = await put(kv, key, b"1")
    r2 = await put(kv, key, b"2")
    await put(kv, key, b"3")

    await kv.compact(r2)

    assert (await kv.range(key, revision=r2)).kvs[0].value == b"2"
    with pytest.raises(Compacted):
        await kv.range(key, revision=r1)
    with pytest.raises(Compacted):
        await collect(kv, key, None, r1, 1)
    with pytest.raises(Compacted):
        await kv.compact(r2)
    with pytest.raises(FutureRevision):
        await kv.compact(r2 + 1000)
    assert [e.kv.value for e in await collect(kv, key, None, r2, 2)] == [b"2", b"3"]


async def test_a_watch_with_progress_notify_reports_progress_while_idle(kv: KV, prefix: str) -> None:
    key = (prefix + "k").encode()
    written = await put(kv, key, b"v")

    async with contextlib.aclosing(kv.watch(key, start_revision=written + 1, progress_notify=True)) as responses:
        async with asyncio.timeout(10):
            response = await anext(responses)

    assert response.events == []
    assert response.revision >= written
