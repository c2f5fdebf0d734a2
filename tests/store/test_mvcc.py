"""The in-memory MVCC store against a model simple enough to be obviously right.

The model keeps a full copy of the key space at every revision and a list of every change;
hypothesis drives both with random puts, deletes, transactions and compactions, and checks
every read, history and error against the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kubelab.store.errors import Compacted, FutureRevision, InvalidArgument
from kubelab.store.kv import Compare, Delete, Get, KeyValue, Put, RangeResult
from kubelab.store.mvcc import MemoryMVCC, MVCCStore

KEYS = [b"a", b"b", b"ba", b"c", b"d"]
keys = st.sampled_from(KEYS)
values = st.binary(min_size=0, max_size=3)
range_ends = st.sampled_from([None, b"\x00", b"b", b"c", b"e"])


@dataclass(frozen=True)
class Change:
    revision: int
    type: str
    key: bytes
    value: bytes


def in_range(key: bytes, start: bytes, end: bytes | None) -> bool:
    if end is None:
        return key == start
    return key >= start and (end == b"\x00" or key < end)


class MVCCMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store: MVCCStore = MemoryMVCC()
        self.revision = 1
        self.compacted = 0
        self.states: dict[int, dict[bytes, KeyValue]] = {1: {}}
        self.changes: list[Change] = []

    @property
    def live(self) -> dict[bytes, KeyValue]:
        return self.states[self.revision]

    def apply(self, writes: list[tuple[str, bytes, bytes | None, bytes]]) -> None:
        """Apply (type, key, range_end, value) writes to the model as one revision, if any changes."""
        state = dict(self.live)
        revision = self.revision + 1
        changed = []
        for kind, key, end, value in writes:
            if kind == "put":
                old = state.get(key)
                state[key] = KeyValue(
                    key, value, old.create_revision if old else revision, revision, old.version + 1 if old else 1
                )
                changed.append(Change(revision, "PUT", key, value))
            else:
                for existing in sorted(k for k in state if in_range(k, key, end)):
                    del state[existing]
                    changed.append(Change(revision, "DELETE", existing, b""))
        if changed:
            self.revision = revision
            self.states[revision] = state
            self.changes.extend(changed)

    @rule(key=keys, value=values)
    def put(self, key: bytes, value: bytes) -> None:
        result = self.store.txn([], [Put(key, value)], [])
        self.apply([("put", key, None, value)])
        assert result.revision == self.revision

    @rule(key=keys, end=range_ends)
    def delete(self, key: bytes, end: bytes | None) -> None:
        expected = [kv for k, kv in sorted(self.live.items()) if in_range(k, key, end)]
        result = self.store.txn([], [Delete(key, end)], [])
        self.apply([("delete", key, end, b"")])
        assert result.responses == [expected]
        assert result.revision == self.revision

    @rule(
        key=keys,
        field=st.sampled_from(["mod", "create", "version", "value"]),
        op=st.sampled_from(["=", "!=", "<", ">"]),
        offset=st.integers(-1, 1),
        other=keys,
        value=values,
    )
    def txn(self, key: bytes, field: str, op: str, offset: int, other: bytes, value: bytes) -> None:
        kv = self.live.get(key)
        if field == "value":
            operand: int | bytes = (kv.value if kv else b"") + (b"x" if offset > 0 else b"")
            actual: int | bytes | None = kv.value if kv else None
        else:
            number = {"mod": kv.mod_revision, "create": kv.create_revision, "version": kv.version}[field] if kv else 0
            operand, actual = number + offset, number
        holds = actual is not None and {
            "=": actual == operand,
            "!=": actual != operand,
            "<": actual < operand,  # type: ignore[operator]
            ">": actual > operand,  # type: ignore[operator]
        }[op]
        success = [Put(other, value), Get(other)]
        failure = [Delete(other), Get(key)]
        result = self.store.txn([Compare(key, field, op, operand)], success, failure)  # type: ignore[arg-type]
        assert result.succeeded is holds
        if holds:
            self.apply([("put", other, None, value)])
        else:
            self.apply([("delete", other, None, b"")])
        read = result.responses[1]
        assert isinstance(read, RangeResult)
        assert read.kvs == [kv for k, kv in self.live.items() if k == (other if holds else key)]

    @rule(key=keys, end=range_ends, back=st.integers(0, 8), limit=st.integers(0, 3))
    def range(self, key: bytes, end: bytes | None, back: int, limit: int) -> None:
        revision = max(self.revision - back, 1)
        if revision < self.compacted:
            with pytest.raises(Compacted):
                self.store.range(key, end, revision=revision)
            return
        result = self.store.range(key, end, revision=revision, limit=limit)
        expected = [kv for k, kv in sorted(self.states[revision].items()) if in_range(k, key, end)]
        assert result.kvs == (expected[:limit] if limit else expected)
        assert result.count == len(expected)
        assert result.more == (limit > 0 and len(expected) > limit)
        assert result.revision == self.revision

    @rule(key=keys, end=range_ends, back=st.integers(0, 10))
    def history(self, key: bytes, end: bytes | None, back: int) -> None:
        start = max(self.revision - back, 1)
        if start < self.compacted:
            with pytest.raises(Compacted):
                self.store.history(key, end, start_revision=start)
            return
        got = [
            Change(e.kv.mod_revision, e.type, e.kv.key, e.kv.value)
            for e in self.store.history(key, end, start_revision=start)
        ]
        assert got == [c for c in self.changes if c.revision >= start and in_range(c.key, key, end)]

    @precondition(lambda self: self.revision > self.compacted)
    @rule(back=st.integers(0, 5))
    def compact(self, back: int) -> None:
        revision = max(self.revision - back, self.compacted + 1)
        self.store.compact(revision)
        self.compacted = revision
        with pytest.raises(Compacted):
            self.store.compact(revision)

    @rule()
    def compact_the_future(self) -> None:
        with pytest.raises(FutureRevision):
            self.store.compact(self.revision + 1)

    @rule(key=keys)
    def duplicate_writes_are_refused(self, key: bytes) -> None:
        with pytest.raises(InvalidArgument):
            self.store.txn([], [Put(key, b"1"), Delete(b"a", b"\x00")], [])

    @invariant()
    def revisions_agree(self) -> None:
        assert self.store.revision == self.revision
        assert self.store.compact_revision == self.compacted


MVCCMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_the_mvcc_store_behaves_as_its_model = MVCCMachine.TestCase


def test_compaction_keeps_what_reads_at_the_compacted_revision_see() -> None:
    store = MemoryMVCC()
    store.txn([], [Put(b"a", b"1"), Put(b"b", b"1")], [])
    store.txn([], [Put(b"a", b"2")], [])
    store.txn([], [Delete(b"b")], [])
    at = store.revision
    store.txn([], [Put(b"a", b"3")], [])

    store.compact(at)

    assert [kv.value for kv in store.range(b"a", b"\x00", revision=at).kvs] == [b"2"]
    assert [kv.value for kv in store.range(b"a", b"\x00").kvs] == [b"3"]
    assert [(e.type, e.kv.key) for e in store.history(b"a", b"\x00", start_revision=at)] == [
        ("DELETE", b"b"),
        ("PUT", b"a"),
    ]
