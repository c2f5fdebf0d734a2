"""``Storage``: Kubernetes objects on top of any :class:`~kubelab.store.kv.KV`.

Mirrors k8s.io/apiserver ``pkg/storage/interfaces.go`` (the ``storage.Interface``) and its etcd
implementation ``pkg/storage/etcd3/store.go``. Objects are plain JSON dicts stored at the keys
the caller chooses (the API server uses ``/registry/<resource>/<namespace>/<name>``); an
object's ``metadata.resourceVersion`` is never stored: it is the ``mod_revision`` of its key,
set on every object read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from kubelab.store.cacher import Cacher
from kubelab.store.codec import Object, decode, encode
from kubelab.store.compactor import Compactor
from kubelab.store.continue_token import decode_continue, encode_continue
from kubelab.store.errors import (
    Compacted,
    FutureRevision,
    InvalidArgument,
    InvalidObject,
    KeyExists,
    KeyNotFound,
    ResourceVersionConflict,
    StorageError,
)
from kubelab.store.events import Change, Feed, OpenWatch, Predicate, WatchEvent, stream, too_old
from kubelab.store.kv import KV, Compare, Delete, Get, KeyValue, Put, RangeResult, prefix_range_end

#: The largest page read from the KV when a predicate filters a paginated list (upstream's ``maxLimit``).
MAX_LIMIT = 10000
#: How long a watch with bookmarks stays silent before it sends one (the cacher's bookmark frequency).
BOOKMARK_INTERVAL = 60.0

UpdateFunc = Callable[[Object], Object | Awaitable[Object]]
ValidateFunc = Callable[[Object], None | Awaitable[None]]

_EXPIRED_LIST = "The resourceVersion for the provided list is too old."
_INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list "
    "- objects that were created, modified, or deleted between the time the first chunk was returned "
    "and now may show up in the list."
)


@dataclass(frozen=True)
class Preconditions:
    """What must still hold of the stored object for an update or delete to go ahead."""

    uid: str | None = None
    resource_version: str | None = None

    def check(self, key: str, obj: Object) -> None:
        """Raise :class:`ResourceVersionConflict` unless ``obj`` has the expected uid and resourceVersion."""
        metadata = obj.get("metadata") or {}
        if self.uid is not None and self.uid != metadata.get("uid", ""):
            raise ResourceVersionConflict(
                key,
                f"Precondition failed: UID in precondition: {self.uid}, "
                f"UID in object meta: {metadata.get('uid', '')}",
            )
        if self.resource_version is not None and self.resource_version != metadata.get("resourceVersion", ""):
            raise ResourceVersionConflict(
                key,
                f"Precondition failed: ResourceVersion in precondition: {self.resource_version}, "
                f"ResourceVersion in object meta: {metadata.get('resourceVersion', '')}",
            )


@dataclass
class ListResult:
    """A page of objects, the resourceVersion it was read at, and how to get the next page."""

    items: list[Object]
    resource_version: str
    continue_token: str = ""
    remaining_item_count: int | None = None


@dataclass
class _ListPlan:
    revision: int
    start_key: bytes
    minimum: int = 0
    continuing: bool = False
    continue_key: str = ""


def parse_resource_version(resource_version: str) -> int:
    """The revision a resourceVersion names: 0 for "" and "0"; :class:`InvalidArgument` if not a number."""
    if resource_version in ("", "0"):
        return 0
    if not resource_version.isdigit() or not resource_version.isascii():
        raise InvalidArgument(
            f'invalid resource version: resourceVersion: Invalid value: "{resource_version}": '
            "must be a non-negative integer"
        )
    return int(resource_version)


def directory(prefix: str) -> str:
    """``prefix`` with a trailing ``/``, so that listing ``/a`` does not include ``/ab``."""
    return prefix if prefix.endswith("/") else prefix + "/"


class Storage:
    """The object storage of the API server: create, get, list, guaranteed update, delete, watch."""

    def __init__(self, kv: KV, *, watch_cache: bool = True) -> None:
        self.kv = kv
        #: Serves every watch it can from one shared watch of the store (None: each watch its own).
        self.cacher = Cacher(kv) if watch_cache else None
        self._compactor: Compactor | None = None

    # -- reads ---------------------------------------------------------------------------

    async def get(self, key: str, *, resource_version: str = "") -> Object:
        """The object at ``key``; :class:`KeyNotFound` if there is none.

        A resourceVersion N asks for a state at least as new as N: :class:`FutureRevision` if the
        store has not reached it.
        """
        minimum = parse_resource_version(resource_version)
        result = await self.kv.range(key.encode())
        if minimum > result.revision:
            raise FutureRevision(minimum, result.revision)
        if not result.kvs:
            raise KeyNotFound(key)
        return decode(result.kvs[0])

    async def get_list(
        self,
        prefix: str,
        *,
        resource_version: str = "",
        resource_version_match: str = "",
        predicate: Predicate | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> ListResult:
        """The objects under ``prefix`` that match ``predicate``, in key order, one page of ``limit``.

        resourceVersion semantics are the API's: "" the latest state, "0" any state, N with
        ``resource_version_match`` "Exact" the state at N, with "NotOlderThan" (or no match,
        unless paginating) a state at least as new as N. Every page of a paginated list is read
        at the first page's revision, which the continue token carries. :class:`Compacted` when
        that revision is gone; :class:`InvalidArgument` for a bad resourceVersion or token.
        """
        key_prefix = directory(prefix)
        plan = self._plan_list(key_prefix, resource_version, resource_version_match, limit, continue_token)
        range_end = prefix_range_end(key_prefix.encode())
        paging = limit > 0
        fetch = limit if paging else 0
        revision = plan.revision
        key = plan.start_key
        items: list[Object] = []
        last_key = b""
        while True:
            try:
                result = await self.kv.range(key, range_end, revision=revision, limit=fetch)
            except Compacted as error:
                raise self._list_compacted(error, plan, key_prefix) from error
            if plan.minimum > result.revision:
                raise FutureRevision(plan.minimum, result.revision)
            more = result.more
            if revision == 0:
                revision = result.revision
            for kv in result.kvs:
                if paging and len(items) >= limit:
                    more = True
                    break
                last_key = kv.key
                obj = decode(kv)
                if predicate is None or predicate(obj):
                    items.append(obj)
            if not more or not paging or len(items) >= limit:
                break
            # The predicate dropped objects: read bigger pages until this one is full.
            fetch = min(fetch * 2, MAX_LIMIT)
            key = last_key + b"\x00"
        if not more:
            return ListResult(items=items, resource_version=str(revision))
        token = encode_continue(last_key.decode() + "\x00", key_prefix, revision)
        remaining = result.count - limit if predicate is None else None
        return ListResult(items=items, resource_version=str(revision), continue_token=token, remaining_item_count=remaining)

    async def count(self, prefix: str) -> int:
        """How many objects are stored under ``prefix``."""
        key_prefix = directory(prefix).encode()
        result = await self.kv.range(key_prefix, prefix_range_end(key_prefix), limit=1)
        return result.count

    async def current_revision(self) -> int:
        """The store's latest revision."""
        result: RangeResult = await self.kv.range(b"/")
        return result.revision

    # -- writes --------------------------------------------------------------------------

    async def create(self, key: str, obj: Object) -> Object:
        """Store ``obj`` at ``key`` and return it with its resourceVersion.

        :class:`KeyExists` if something is there already; :class:`InvalidObject` if ``obj``
        already carries a resourceVersion.
        """
        if (obj.get("metadata") or {}).get("resourceVersion"):
            raise InvalidObject("resourceVersion should not be set on objects to be created")
        data = encode(obj)
        encoded_key = key.encode()
        result = await self.kv.txn([Compare(encoded_key, "mod", "=", 0)], [Put(encoded_key, data)], [])
        if not result.succeeded:
            raise KeyExists(key)
        created = json.loads(data)
        created.setdefault("metadata", {})["resourceVersion"] = str(result.revision)
        return created

    async def guaranteed_update(
        self,
        key: str,
        try_update: UpdateFunc,
        *,
        preconditions: Preconditions | None = None,
        ignore_not_found: bool = False,
    ) -> Object:
        """Read the object, let ``try_update`` change it, and write it back unless it changed meanwhile.

        ``try_update`` gets a private copy of the current object (``{}`` if there is none and
        ``ignore_not_found``) and returns the new one; it may be a coroutine function, and what
        it raises propagates. On a concurrent change the loop re-reads and calls it again.
        Nothing is written when the new object equals the stored one. :class:`KeyNotFound`
        without the object; :class:`ResourceVersionConflict` when ``preconditions`` fail.
        """
        encoded_key = key.encode()
        kv = await self._read(encoded_key, key, ignore_not_found)
        while True:
            current = decode(kv) if kv is not None else {}
            if preconditions is not None:
                preconditions.check(key, current)
            updated = try_update(current)
            if inspect.isawaitable(updated):
                updated = await updated
            data = encode(updated)
            if kv is not None and data == kv.value:
                return decode(kv)
            mod_revision = kv.mod_revision if kv is not None else 0
            result = await self.kv.txn(
                [Compare(encoded_key, "mod", "=", mod_revision)], [Put(encoded_key, data)], [Get(encoded_key)]
            )
            if result.succeeded:
                stored = json.loads(data)
                stored.setdefault("metadata", {})["resourceVersion"] = str(result.revision)
                return stored
            kv = self._found(result.responses[0], key, ignore_not_found)

    async def delete(
        self,
        key: str,
        *,
        preconditions: Preconditions | None = None,
        validate_deletion: ValidateFunc | None = None,
    ) -> Object:
        """Delete the object at ``key`` and return its last state, resourceVersion the deletion's revision.

        ``validate_deletion`` sees the current object and raises to refuse; it may be a coroutine
        function. :class:`KeyNotFound` if there is nothing to delete;
        :class:`ResourceVersionConflict` when ``preconditions`` fail.
        """
        encoded_key = key.encode()
        kv = await self._read(encoded_key, key, False)
        while kv is not None:
            current = decode(kv)
            if preconditions is not None:
                preconditions.check(key, current)
            if validate_deletion is not None:
                outcome = validate_deletion(current)
                if inspect.isawaitable(outcome):
                    await outcome
            result = await self.kv.txn(
                [Compare(encoded_key, "mod", "=", kv.mod_revision)], [Delete(encoded_key)], [Get(encoded_key)]
            )
            if result.succeeded:
                return decode(kv, result.revision)
            kv = self._found(result.responses[0], key, False)
        raise KeyNotFound(key)

    # -- watch ---------------------------------------------------------------------------

    async def watch(
        self,
        key: str,
        *,
        resource_version: str = "",
        recursive: bool = False,
        predicate: Predicate | None = None,
        allow_bookmarks: bool = False,
        send_initial_events: bool | None = None,
        bookmark_interval: float = BOOKMARK_INTERVAL,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Yield the changes to the object at ``key`` (or, ``recursive``, every object under it).

        resourceVersion "" or "0" starts with a synthetic ``ADDED`` per current object, then
        follows changes; N yields every change after N, or raises :class:`Compacted` (before
        yielding anything) if N is too old. ``send_initial_events`` True asks for the initial
        ``ADDED`` events (of a state at least as new as N) followed by a ``BOOKMARK`` annotated
        ``k8s.io/initial-events-end``; False asks for changes only. ``DELETED`` carries the last
        state, resourceVersion the deletion's revision. With ``allow_bookmarks``, a quiet watch
        yields a ``BOOKMARK`` every ``bookmark_interval`` seconds. :class:`FutureRevision` if
        the store does not reach N within a few seconds. The watch starts when iteration
        starts; close it with ``aclose()`` (e.g. ``contextlib.aclosing``).
        """
        start = parse_resource_version(resource_version)
        if recursive:
            watched = directory(key).encode()
            range_end: bytes | None = prefix_range_end(watched)
        else:
            watched, range_end = key.encode(), None
        initial = send_initial_events if send_initial_events is not None else start == 0
        opened = None
        if self.cacher is not None:
            opened = await self.cacher.open(
                watched,
                range_end,
                start=start,
                consistent=resource_version == "",
                initial=initial,
                predicate=predicate,
            )
        if opened is None:
            opened = await self._open_direct(watched, range_end, start, initial, predicate, allow_bookmarks)
        events = stream(
            opened,
            send_initial_events=bool(send_initial_events),
            allow_bookmarks=allow_bookmarks,
            bookmark_interval=bookmark_interval,
        )
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def _open_direct(
        self,
        key: bytes,
        range_end: bytes | None,
        start: int,
        initial: bool,
        predicate: Predicate | None,
        progress_notify: bool,
    ) -> OpenWatch:
        """A watch with a KV watch of its own: without a watch cache, or from before its window."""
        added: list[WatchEvent] = []
        if initial:
            snapshot = await self.kv.range(key, range_end)
            if start > snapshot.revision:
                raise FutureRevision(start, snapshot.revision)
            for kv in snapshot.kvs:
                obj = decode(kv)
                if predicate is None or predicate(obj):
                    added.append(WatchEvent("ADDED", obj))
            start = snapshot.revision
        elif start == 0:
            start = await self.current_revision()
        feed = Feed(start)
        follow = asyncio.create_task(self._follow(feed, key, range_end, start, predicate, progress_notify))
        feed.on_close = follow.cancel
        return OpenWatch(feed=feed, revision=start, initial=added)

    async def _follow(
        self,
        feed: Feed,
        key: bytes,
        range_end: bytes | None,
        after: int,
        predicate: Predicate | None,
        progress_notify: bool,
    ) -> None:
        """Feed one watcher from its own KV watch of the changes after revision ``after``."""
        try:
            async with contextlib.aclosing(
                self.kv.watch(key, range_end, start_revision=after + 1, progress_notify=progress_notify)
            ) as responses:
                async for response in responses:
                    for change in response.events:
                        event = Change(change).watch_event(predicate)
                        if event is not None:
                            feed.put(event)
                    feed.revision = response.events[-1].kv.mod_revision if response.events else response.revision
        except Compacted as error:
            feed.end(too_old(after, error.compacted))
        except StorageError as error:
            feed.end(error)
        else:
            feed.end()

    # -- maintenance ---------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Forget the versions superseded at or before ``revision``; watches from before it become too old."""
        await self.kv.compact(revision)
        self._compacted(revision)

    def _compacted(self, revision: int) -> None:
        if self.cacher is not None:
            self.cacher.compacted(revision)

    def start_compactor(self, interval: float = 300.0) -> None:
        """Compact the store every ``interval`` seconds (kube-apiserver's ``--etcd-compaction-interval``)."""
        if self._compactor is None:
            self._compactor = Compactor(self.kv, interval, on_compacted=self._compacted)
            self._compactor.start()

    async def stop_compactor(self) -> None:
        """Stop the periodic compaction."""
        if self._compactor is not None:
            await self._compactor.stop()
            self._compactor = None

    async def close(self) -> None:
        """Stop the compactor and the watch cache (ending every watch), and release the KV's connections."""
        await self.stop_compactor()
        if self.cacher is not None:
            await self.cacher.stop()
        await self.kv.close()

    # -- helpers -------------------------------------------------------------------------

    async def _read(self, encoded_key: bytes, key: str, ignore_not_found: bool) -> KeyValue | None:
        result = await self.kv.range(encoded_key)
        return self._found(result, key, ignore_not_found)

    @staticmethod
    def _found(result: object, key: str, ignore_not_found: bool) -> KeyValue | None:
        assert isinstance(result, RangeResult)
        if result.kvs:
            return result.kvs[0]
        if ignore_not_found:
            return None
        raise KeyNotFound(key)

    def _plan_list(
        self, key_prefix: str, resource_version: str, match: str, limit: int, continue_token: str
    ) -> _ListPlan:
        """The revision to read at, where to start, and the oldest acceptable state, as upstream's GetList."""
        minimum = parse_resource_version(resource_version)
        if continue_token:
            start_key, revision = decode_continue(continue_token, key_prefix)
            if resource_version not in ("", "0"):
                raise InvalidArgument("specifying resource version is not allowed when using continue")
            return _ListPlan(
                revision=max(revision, 0), start_key=start_key.encode(), continuing=True, continue_key=start_key
            )
        plan = _ListPlan(revision=0, start_key=key_prefix.encode())
        if not resource_version:
            return plan
        if match == "NotOlderThan":
            plan.minimum = minimum
        elif match == "Exact":
            plan.revision = minimum
        elif match == "":
            if limit > 0 and minimum > 0:
                plan.revision = minimum
            else:
                plan.minimum = minimum
        else:
            raise InvalidArgument(f"unknown ResourceVersionMatch value: {match}")
        return plan

    @staticmethod
    def _list_compacted(error: Compacted, plan: _ListPlan, key_prefix: str) -> Compacted:
        if not plan.continuing:
            return Compacted(error.revision, error.compacted, _EXPIRED_LIST)
        token = encode_continue(plan.continue_key, key_prefix, -1)
        return Compacted(error.revision, error.compacted, _INCONSISTENT_CONTINUE, continue_token=token)

