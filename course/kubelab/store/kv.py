"""The etcd-shaped key-value interface that the API server's storage stands on.

Mirrors etcd's v3 KV and Watch services (``etcdserverpb.KV``): every write bumps one
cluster-wide *revision*; a key keeps its ``create_revision``, ``mod_revision`` and
``version``; reads can ask for an old revision until it is compacted; a watch replays
every change after a revision, in order. Two backends implement it: :mod:`kubelab.store.etcd`
(a real etcd process) and :mod:`kubelab.store.memory` (an in-memory MVCC store, the
reference solution of lab 01).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision, as etcd's ``mvccpb.KeyValue``.

    A deletion is recorded as a *tombstone*: ``version`` 0, no value, ``create_revision`` 0 and
    ``mod_revision`` the revision of the delete (the ``kv`` of a ``DELETE`` event).
    """

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True, slots=True)
class Event:
    """A change to one key: ``PUT`` (create or update) or ``DELETE``, with the key's previous state."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class WatchResponse:
    """One message of a watch: events of one or more revisions, in order, and the store's revision.

    A response without events is a *progress notification*: every change to the watched
    range up to ``revision`` has been delivered.
    """

    events: list[Event]
    revision: int


@dataclass(frozen=True)
class RangeResult:
    """The answer to :meth:`KV.range`: the keys found and the store's revision."""

    kvs: list[KeyValue]
    count: int
    revision: int
    more: bool = False


@dataclass(frozen=True)
class Compare:
    """A condition of a transaction, as etcd's ``Compare``.

    ``target`` is ``"mod"`` (mod_revision), ``"create"`` (create_revision), ``"version"`` or
    ``"value"``; a key that does not exist has revisions and version 0.
    """

    key: bytes
    target: Literal["mod", "create", "version", "value"]
    result: Literal["=", "!=", "<", ">"]
    value: int | bytes


@dataclass(frozen=True)
class Put:
    """Write ``value`` at ``key``."""

    key: bytes
    value: bytes


@dataclass(frozen=True)
class Delete:
    """Delete ``key`` (or every key in ``[key, range_end)``)."""

    key: bytes
    range_end: bytes | None = None


@dataclass(frozen=True)
class Get:
    """Read ``key`` (or ``[key, range_end)``) inside a transaction."""

    key: bytes
    range_end: bytes | None = None


Op = Put | Delete | Get


@dataclass(frozen=True)
class TxnResult:
    """Whether the compares held, the revision after the transaction, and each op's answer.

    ``responses`` holds, per op: a :class:`RangeResult` for a Get, the previous
    :class:`KeyValue` list for a Delete, and ``None`` for a Put.
    """

    succeeded: bool
    revision: int
    responses: list[object] = field(default_factory=list)


def prefix_range_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes a range cover every key starting with ``prefix``, as etcd's ``GetPrefixRangeEnd``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\x00"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def in_range(key: bytes, start: bytes, range_end: bytes | None) -> bool:
    """Whether ``key`` is ``start`` (no ``range_end``) or in ``[start, range_end)``.

    As in etcd, ``range_end`` ``b"\\x00"`` means "every key from ``start`` on".
    """
    if range_end is None:
        return key == start
    if range_end == b"\x00":
        return key >= start
    return start <= key < range_end


class KV(Protocol):
    """An etcd-like MVCC key-value store."""

    async def range(
        self, key: bytes, range_end: bytes | None = None, *, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        """Read ``key``, or every key in ``[key, range_end)`` in key order, at ``revision`` (0 = latest).

        ``count`` is the number of keys in the range, ``more`` says ``limit`` cut it short. Raises :class:`~kubelab.store.errors.Compacted` for a revision older than the last
        compaction and :class:`~kubelab.store.errors.FutureRevision` for one not yet written.
        """
        ...

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        """Atomically: if every compare holds, run ``success``, else ``failure``."""
        ...

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        progress_notify: bool = False,
    ) -> AsyncGenerator[WatchResponse, None]:
        """Yield the changes to the key or range from ``start_revision`` (0 = from when iteration starts).

        Events come in revision order, none lost or repeated, each with ``prev_kv``. With
        ``progress_notify`` the store also sends, from time to time while nothing happens,
        a response without events. The first iteration raises
        :class:`~kubelab.store.errors.Compacted` if ``start_revision`` was compacted.
        Closing the iterator (``aclose``) cancels the watch.
        """
        ...

    async def compact(self, revision: int) -> None:
        """Forget every version older than ``revision`` that a later one superseded.

        Raises :class:`~kubelab.store.errors.Compacted` if ``revision`` is not newer than the
        last compaction and :class:`~kubelab.store.errors.FutureRevision` if it is not written yet.
        """
        ...

    async def close(self) -> None:
        """Release connections; the store itself is not destroyed."""
        ...
