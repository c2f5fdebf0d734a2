"""An in-memory MVCC key-value store: etcd's data model in one small class.

This is the reference solution of lab 01, "etcd, the source of truth". The data model:

- **One revision counter** for the whole store. A fresh store is at revision 1, like a fresh
  etcd; every transaction that writes something moves it up by exactly one, and every key it
  writes records that revision as its ``mod_revision``.
- **Every version of every key** is kept, oldest first, as a :class:`~kubelab.store.kv.KeyValue`.
  A key's first put sets ``create_revision`` and ``version`` 1; each later put keeps the
  ``create_revision`` and adds 1 to ``version``. A delete appends a *tombstone* (``version`` 0),
  and the next put starts the key over at ``version`` 1.
- **Keys in a sorted list**, so a range is two binary searches (:mod:`bisect`) and a slice,
  at the latest revision or any older one still retained.
- **A log of every change** (:class:`~kubelab.store.kv.Event`) since the last compaction, in
  revision order: the history a watch replays.
- **Compaction** at revision R forgets what no read at R or later can see: every version
  superseded at or before R and the log before R. Reads and watches below R then raise
  :class:`~kubelab.store.errors.Compacted`.

It is synchronous and not thread-safe: :class:`~kubelab.store.memory.MemoryKV` calls it from one
asyncio event loop, which is what makes every transaction atomic.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from kubelab.store.errors import Compacted, FutureRevision, InvalidArgument
from kubelab.store.kv import (
    Compare,
    Delete,
    Event,
    KeyValue,
    Op,
    Put,
    RangeResult,
    TxnResult,
    in_range,
)

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}


class MVCCStore(Protocol):
    """The methods :class:`~kubelab.store.memory.MemoryKV` needs: implement these to plug in your own store."""

    @property
    def revision(self) -> int:
        """The revision of the last write (1 for an empty store)."""
        ...

    @property
    def compact_revision(self) -> int:
        """The revision of the last compaction (0 before the first)."""
        ...

    def range(
        self, key: bytes, range_end: bytes | None = None, *, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        """The live keys in the range at ``revision`` (0 = latest), as :meth:`KV.range <kubelab.store.kv.KV.range>`."""
        ...

    def txn(self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> TxnResult:
        """Run ``success`` if every compare holds, else ``failure``, all at one new revision."""
        ...

    def history(self, key: bytes, range_end: bytes | None = None, *, start_revision: int) -> list[Event]:
        """Every change to the key or range at ``start_revision`` or later, in order."""
        ...

    def compact(self, revision: int) -> None:
        """Forget the versions no read at ``revision`` or later can see."""
        ...


def _mod_revision(kv: KeyValue) -> int:
    return kv.mod_revision


def _event_revision(event: Event) -> int:
    return event.kv.mod_revision


class MemoryMVCC:
    """etcd's multi-version key-value store, in memory: the reference :class:`MVCCStore`."""

    def __init__(self) -> None:
        self.revision = 1
        self.compact_revision = 0
        self._keys: list[bytes] = []
        self._versions: dict[bytes, list[KeyValue]] = {}
        self._log: list[Event] = []

    # -- reads ---------------------------------------------------------------------------

    def range(
        self, key: bytes, range_end: bytes | None = None, *, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        """The live keys in the range at ``revision`` (0 = latest), in key order.

        ``range_end`` ``None`` reads ``key`` alone; ``b"\\x00"`` reads every key from ``key`` on.
        """
        _check_key(key)
        at = self._readable(revision)
        kvs, count = self._read(key, range_end, at, limit)
        return RangeResult(kvs=kvs, count=count, revision=self.revision, more=count > len(kvs))

    def history(self, key: bytes, range_end: bytes | None = None, *, start_revision: int) -> list[Event]:
        """Every change to the key or range at ``start_revision`` or later, in revision order.

        Raises :class:`Compacted` if changes from ``start_revision`` on were compacted away.
        """
        if start_revision < self.compact_revision:
            raise Compacted(start_revision, self.compact_revision)
        first = bisect_left(self._log, start_revision, key=_event_revision)
        return [event for event in self._log[first:] if in_range(event.kv.key, key, range_end)]

    # -- writes --------------------------------------------------------------------------

    def txn(self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> TxnResult:
        """Run ``success`` if every compare holds, else ``failure``, all at one new revision.

        A transaction that changes nothing (only reads, or deletes of absent keys) leaves the
        revision where it was. As in etcd, two writes to one key in one transaction are refused.
        """
        succeeded = all(self._holds(compare) for compare in compares)
        ops = success if succeeded else failure
        _check_no_duplicate_writes(ops)
        new_revision = self.revision + 1
        responses: list[object] = []
        wrote = False
        for op in ops:
            if isinstance(op, Put):
                self._put(op.key, op.value, new_revision)
                responses.append(None)
                wrote = True
            elif isinstance(op, Delete):
                deleted = self._delete(op.key, op.range_end, new_revision)
                responses.append(deleted)
                wrote = wrote or bool(deleted)
            else:
                # A read inside the transaction sees the transaction's own earlier writes.
                _check_key(op.key)
                kvs, count = self._read(op.key, op.range_end, new_revision, 0)
                responses.append(RangeResult(kvs=kvs, count=count, revision=0))
        if wrote:
            self.revision = new_revision
        responses = [
            replace(response, revision=self.revision) if isinstance(response, RangeResult) else response
            for response in responses
        ]
        return TxnResult(succeeded=succeeded, revision=self.revision, responses=responses)

    def compact(self, revision: int) -> None:
        """Forget every version superseded at or before ``revision``, and the log before it.

        Afterwards a range at ``revision`` still answers as before; one below it raises
        :class:`Compacted`.
        """
        if revision <= self.compact_revision:
            raise Compacted(revision, self.compact_revision)
        if revision > self.revision:
            raise FutureRevision(revision, self.revision)
        for key in self._keys:
            versions = self._versions[key]
            visible = bisect_right(versions, revision, key=_mod_revision)
            # Keep the version a read at `revision` sees, unless the key was deleted by then.
            keep_from = visible - 1 if visible and versions[visible - 1].version else visible
            del versions[:keep_from]
            if not versions:
                del self._versions[key]
        self._keys = [key for key in self._keys if key in self._versions]
        del self._log[: bisect_left(self._log, revision, key=_event_revision)]
        self.compact_revision = revision

    # -- helpers -------------------------------------------------------------------------

    def _readable(self, revision: int) -> int:
        if revision == 0:
            return self.revision
        if revision < self.compact_revision:
            raise Compacted(revision, self.compact_revision)
        if revision > self.revision:
            raise FutureRevision(revision, self.revision)
        return revision

    def _span(self, key: bytes, range_end: bytes | None) -> list[bytes]:
        """The known keys (live or deleted) in the range, in order."""
        low = bisect_left(self._keys, key)
        if range_end is None:
            high = low + 1 if low < len(self._keys) and self._keys[low] == key else low
        elif range_end == b"\x00":
            high = len(self._keys)
        else:
            high = max(low, bisect_left(self._keys, range_end))
        return self._keys[low:high]

    def _at(self, key: bytes, revision: int) -> KeyValue | None:
        """The key's version a read at ``revision`` sees, or None if it did not exist then."""
        versions = self._versions[key]
        if versions[-1].mod_revision <= revision:
            kv = versions[-1]
        else:
            index = bisect_right(versions, revision, key=_mod_revision)
            if index == 0:
                return None
            kv = versions[index - 1]
        return kv if kv.version else None

    def _latest(self, key: bytes) -> KeyValue | None:
        versions = self._versions.get(key)
        if not versions or not versions[-1].version:
            return None
        return versions[-1]

    def _read(self, key: bytes, range_end: bytes | None, revision: int, limit: int) -> tuple[list[KeyValue], int]:
        kvs: list[KeyValue] = []
        count = 0
        for candidate in self._span(key, range_end):
            kv = self._at(candidate, revision)
            if kv is None:
                continue
            count += 1
            if not limit or len(kvs) < limit:
                kvs.append(kv)
        return kvs, count

    def _holds(self, compare: Compare) -> bool:
        kv = self._latest(compare.key)
        actual: int | bytes
        if compare.target == "value":
            if kv is None:
                return False  # etcd: a value compare on a missing key always fails
            actual = kv.value
        elif kv is None:
            actual = 0
        else:
            actual = {"mod": kv.mod_revision, "create": kv.create_revision, "version": kv.version}[compare.target]
        return _COMPARISONS[compare.result](actual, compare.value)

    def _put(self, key: bytes, value: bytes, revision: int) -> None:
        _check_key(key)
        previous = self._latest(key)
        if previous is None:
            kv = KeyValue(key=key, value=value, create_revision=revision, mod_revision=revision, version=1)
        else:
            kv = KeyValue(
                key=key,
                value=value,
                create_revision=previous.create_revision,
                mod_revision=revision,
                version=previous.version + 1,
            )
        versions = self._versions.get(key)
        if versions is None:
            versions = self._versions[key] = []
            insort(self._keys, key)
        versions.append(kv)
        self._log.append(Event(type="PUT", kv=kv, prev_kv=previous))

    def _delete(self, key: bytes, range_end: bytes | None, revision: int) -> list[KeyValue]:
        _check_key(key)
        deleted: list[KeyValue] = []
        for candidate in self._span(key, range_end):
            previous = self._latest(candidate)
            if previous is None:
                continue
            tombstone = KeyValue(key=candidate, value=b"", create_revision=0, mod_revision=revision, version=0)
            self._versions[candidate].append(tombstone)
            self._log.append(Event(type="DELETE", kv=tombstone, prev_kv=previous))
            deleted.append(previous)
        return deleted


def _check_key(key: bytes) -> None:
    if not key:
        raise InvalidArgument("key is not provided")


def _check_no_duplicate_writes(ops: Sequence[Op]) -> None:
    puts: set[bytes] = set()
    deletes = [op for op in ops if isinstance(op, Delete)]
    for op in ops:
        if not isinstance(op, Put):
            continue
        if op.key in puts or any(in_range(op.key, d.key, d.range_end) for d in deletes):
            raise InvalidArgument(f"duplicate key given in txn request: {op.key!r}")
        puts.add(op.key)

