"""The etcd-shaped key-value interface that the API server's storage stands on.

Mirrors etcd's v3 KV and Watch services (``etcdserverpb.KV``): every write bumps one
cluster-wide *revision*; a key keeps its ``create_revision``, ``mod_revision`` and
``version``; reads can ask for an old revision until it is compacted; a watch replays
every change after a revision, in order. Two backends implement it: :mod:`kubelab.store.etcd`
(a real etcd process) and :mod:`kubelab.store.memory` (an in-memory MVCC store, the
reference solution of lab 01).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class KeyValue:
    """One key at one revision, as etcd's ``mvccpb.KeyValue``."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True)
class Event:
    """A change to one key: ``PUT`` (create or update) or ``DELETE``."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


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


class KV(Protocol):
    """An etcd-like MVCC key-value store."""

    async def range(
        self, key: bytes, range_end: bytes | None = None, *, revision: int = 0, limit: int = 0
    ) -> RangeResult:
        """Read ``key``, or every key in ``[key, range_end)`` in key order, at ``revision`` (0 = latest).

        Raises :class:`~kubelab.store.errors.Compacted` for a revision older than the last
        compaction and :class:`~kubelab.store.errors.FutureRevision` for one not yet written.
        """
        ...

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        """Atomically: if every compare holds, run ``success``, else ``failure``."""
        ...

    def watch(
        self, key: bytes, range_end: bytes | None = None, *, start_revision: int = 0
    ) -> AsyncIterator[list[Event]]:
        """Yield batches of events for the key or range, from ``start_revision`` (0 = from now).

        Events come in revision order, none lost or repeated. Raises
        :class:`~kubelab.store.errors.Compacted` if ``start_revision`` was compacted.
        Closing the iterator (``aclose``) cancels the watch.
        """
        ...

    async def compact(self, revision: int) -> None:
        """Forget every version older than ``revision`` that a later one superseded."""
        ...

    async def close(self) -> None:
        """Release connections; the store itself is not destroyed."""
        ...
