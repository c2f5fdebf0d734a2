"""MemoryKV against a real etcd: random operation sequences must give the same answers.

Revisions are compared relative to each store's revision before the sequence, since the
test etcd is shared with other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelab.store.errors import StorageError
from kubelab.store.etcd import EtcdKV
from kubelab.store.etcd_server import EtcdServer
from kubelab.store.kv import KV, Compare, Delete, Get, KeyValue, Put, RangeResult, prefix_range_end
from kubelab.store.memory import MemoryKV

NAMES = ["a", "b", "ba", "c"]
names = st.sampled_from(NAMES)
ends = st.sampled_from([None, "", "b", "c", "z"])  # "" = the end of the test's prefix

operations = st.one_of(
    st.tuples(st.just("put"), names, st.binary(max_size=4)),
    st.tuples(st.just("delete"), names, ends),
    st.tuples(
        st.just("txn"),
        names,
        st.sampled_from(["mod", "create", "version", "value"]),
        st.sampled_from(["=", "!=", "<", ">"]),
        st.integers(0, 4),
        names,
    ),
    st.tuples(st.just("range"), names, ends, st.integers(0, 12), st.integers(0, 3)),
    st.tuples(st.just("compact"), st.integers(0, 12)),
)


class Runner:
    """Runs operations on one KV under one prefix, answers normalized to relative revisions."""

    def __init__(self, kv: KV, prefix: str) -> None:
        self.kv = kv
        self.prefix = prefix.encode()
        self.base = 0

    def key(self, name: str) -> bytes:
        return self.prefix + name.encode()

    def end(self, name: str | None) -> bytes | None:
        if name is None:
            return None
        return prefix_range_end(self.prefix) if name == "" else self.key(name)

    def rel(self, revision: int) -> int:
        return revision - self.base if revision else 0

    def kv_(self, kv: KeyValue) -> tuple[Any, ...]:
        return (kv.key[len(self.prefix) :], kv.value, self.rel(kv.create_revision), self.rel(kv.mod_revision), kv.version)

    def answer(self, response: object) -> object:
        if isinstance(response, RangeResult):
            return ([self.kv_(kv) for kv in response.kvs], response.count, response.more)
        if isinstance(response, list):
            return [self.kv_(kv) for kv in response]
        return response

    async def revision(self) -> int:
        return (await self.kv.range(self.prefix)).revision

    async def run(self, op: tuple[Any, ...]) -> object:
        try:
            return await self._run(op)
        except StorageError as error:
            return type(error).__name__

    async def _run(self, op: tuple[Any, ...]) -> object:
        kind = op[0]
        if kind == "put":
            result = await self.kv.txn([], [Put(self.key(op[1]), op[2])], [])
            return self.rel(result.revision)
        if kind == "delete":
            result = await self.kv.txn([], [Delete(self.key(op[1]), self.end(op[2]))], [])
            return self.rel(result.revision), self.answer(result.responses[0])
        if kind == "txn":
            _, name, target, comparison, number, other = op
            value: int | bytes = str(number).encode() if target == "value" else self.base + number
            if target == "version":
                value = number
            compare = Compare(self.key(name), target, comparison, value)
            result = await self.kv.txn([compare], [Put(self.key(other), b"yes"), Get(self.key(other))], [Get(self.key(name))])
            return result.succeeded, self.rel(result.revision), [self.answer(r) for r in result.responses]
        if kind == "range":
            _, name, end, revision, limit = op
            at = self.base + revision if revision else 0
            result = await self.kv.range(self.key(name), self.end(end), revision=at, limit=limit)
            return self.rel(result.revision), self.answer(result)
        await self.kv.compact(self.base + max(op[1], 1))
        return "compacted"

    async def history(self) -> list[tuple[Any, ...]]:
        """Every change under the prefix since the start, or the error a watch from there raises."""
        current = await self.revision()
        if current == self.base:
            return []
        events: list[tuple[Any, ...]] = []
        try:
            async with contextlib.aclosing(
                self.kv.watch(self.prefix, prefix_range_end(self.prefix), start_revision=self.base + 1)
            ) as watch:
                async with asyncio.timeout(10):
                    async for response in watch:
                        events.extend(
                            (e.type, self.kv_(e.kv), self.kv_(e.prev_kv) if e.prev_kv else None) for e in response.events
                        )
                        if response.events and response.events[-1].kv.mod_revision >= current:
                            break
        except StorageError as error:
            return [type(error).__name__]
        return events


def run_both(endpoint: str, ops: list[tuple[Any, ...]]) -> tuple[list[object], list[object]]:
    async def main() -> tuple[list[object], list[object]]:
        prefix = f"/diff-{uuid.uuid4().hex[:10]}/"
        answers: list[list[object]] = []
        for kv in (MemoryKV(), EtcdKV(endpoint)):
            runner = Runner(kv, prefix)
            runner.base = await runner.revision()
            answers.append([await runner.run(op) for op in ops] + [await runner.history()])
            await kv.close()
        return answers[0], answers[1]

    return asyncio.run(main())


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(operations, min_size=1, max_size=25))
def test_memory_kv_answers_as_etcd_does(etcd_server: EtcdServer, ops: list[tuple[Any, ...]]) -> None:
    memory, etcd = run_both(etcd_server.endpoint, ops)
    for op, mine, theirs in zip([*ops, ("history",)], memory, etcd, strict=True):
        assert mine == theirs, op
