"""Informers: keep a local, always up-to-date copy of one resource and tell handlers what changed.

Mirrors client-go's ``tools/cache`` (``reflector.go``, ``shared_informer.go``). An informer
lists the resource once, then watches from the list's resourceVersion, applying each event
to its cache (:class:`~kubelab.runtime.indexer.Indexer`) and then calling the event
handlers. When the watch ends it watches again from the last version it saw; when that
version is too old (410 Expired) it lists again and tells the handlers what the list
changed. Handlers should be quick: the usual one only puts a key in a work queue.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from kubelab import errors
from kubelab.runtime.clock import REAL_CLOCK, Clock
from kubelab.runtime.indexer import Indexer, IndexFunc, meta_namespace_key
from kubelab.runtime.readonly import ReadOnlyDict

log = logging.getLogger(__name__)

AddHandler = Callable[[ReadOnlyDict], None]
UpdateHandler = Callable[[ReadOnlyDict, ReadOnlyDict], None]
DeleteHandler = Callable[[ReadOnlyDict], None]


class WatchStream(Protocol):
    """An open watch: ``(type, object)`` events, the last version seen, and a way to end it."""

    resource_version: str

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def stop(self) -> None: ...


class ListerWatcher(Protocol):
    """What an informer needs from a resource: list and watch (:class:`kubelab.client.Resource` is one)."""

    def list(
        self, namespace: str | None = None, *, label_selector: str | None = None, field_selector: str | None = None,
    ) -> dict[str, Any]: ...

    def watch(
        self,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
    ) -> WatchStream: ...


class _Handler:
    def __init__(self, on_add: AddHandler | None, on_update: UpdateHandler | None,
                 on_delete: DeleteHandler | None) -> None:
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete


class Informer:
    """A cache of one resource kept in sync by list + watch, with add/update/delete handlers.

    ``resync_period`` (seconds, 0 for never) replays every cached object to the handlers
    as an update, so controllers periodically re-check even what did not change.
    """

    MIN_WATCH_TIMEOUT = 300
    INITIAL_BACKOFF, MAX_BACKOFF = 0.8, 30.0

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float = 0.0,
        indexers: Mapping[str, IndexFunc] | None = None,
        clock: Clock = REAL_CLOCK,
        name: str = "",
    ) -> None:
        self.lister_watcher = lister_watcher
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.clock = clock
        self.name = name or repr(lister_watcher)
        self.cache = Indexer(indexers)
        self.last_sync_resource_version = ""
        self._handlers: list[_Handler] = []
        self._dispatch = threading.RLock()
        self._synced = threading.Event()
        self._cond = threading.Condition()
        self._stopping = False
        self._watch: WatchStream | None = None
        self._threads: list[threading.Thread] = []

    # -- configuration ---------------------------------------------------------------------

    def add_event_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> None:
        """Call these on every change from now on; objects already cached are replayed to ``on_add``.

        Handlers receive read-only views. ``on_delete`` receives the last state the
        informer knew (which, if the deletion was only noticed by a relist, may be older
        than the final one).
        """
        handler = _Handler(on_add, on_update, on_delete)
        with self._dispatch:
            self._handlers.append(handler)
            if on_add is not None:
                for obj in self.cache.list():
                    self._call(on_add, obj)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes to the cache (``cache.Indexers``), e.g. ``{"node": lambda pod: [pod["spec"]["nodeName"]]}``."""
        self.cache.add_indexers(indexers)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start listing and watching in the background; return at once."""
        if self._threads:
            return
        self._threads.append(threading.Thread(target=self._run, name=f"informer {self.name}", daemon=True))
        if self.resync_period > 0:
            self._threads.append(threading.Thread(target=self._resync_loop, name=f"resync {self.name}", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop watching; return when the informer's threads have ended."""
        with self._cond:
            self._stopping = True
            watch = self._watch
            self._cond.notify_all()
        if watch is not None:
            watch.stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(10)

    @property
    def started(self) -> bool:
        return bool(self._threads)

    def has_synced(self) -> bool:
        """Whether the first list has been applied to the cache and dispatched to the handlers."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Block until :meth:`has_synced` (True) or ``timeout`` seconds pass (False)."""
        return self._synced.wait(timeout)

    # -- list and watch ---------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.INITIAL_BACKOFF
        version = ""
        while not self._stopping:
            try:
                if not version:
                    version = self._list()
                    backoff = self.INITIAL_BACKOFF
                version, progressed = self._watch_from(version)
                if progressed:
                    backoff = self.INITIAL_BACKOFF
            except errors.Gone as e:
                log.info("%s: %s; listing again", self.name, e)
                version = ""
            except Exception as e:
                if self._stopping:
                    return
                log.warning("%s: list/watch failed (retrying in %.1fs): %s", self.name, backoff, e)
                self._sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, self.MAX_BACKOFF)

    def _list(self) -> str:
        result = self.lister_watcher.list(
            self.namespace, label_selector=self.label_selector, field_selector=self.field_selector
        )
        version = str((result.get("metadata") or {}).get("resourceVersion") or "")
        api_version = result.get("apiVersion")
        kind = (result.get("kind") or "").removesuffix("List")
        items: list[dict[str, Any]] = result.get("items") or []
        for item in items:
            # A list's items carry no apiVersion/kind of their own; watch events do.
            if api_version:
                item.setdefault("apiVersion", api_version)
            if kind:
                item.setdefault("kind", kind)
        self._replace(items, version)
        return version

    def _replace(self, items: list[dict[str, Any]], version: str) -> None:
        with self._dispatch:
            old = {key: self.cache.get_by_key(key) for key in self.cache.list_keys()}
            self.cache.replace(items)
            self.last_sync_resource_version = version
            for item in items:
                key = meta_namespace_key(item)
                before = old.pop(key, None)
                if before is None:
                    self._notify("add", None, ReadOnlyDict(item))
                else:
                    self._notify("update", before, ReadOnlyDict(item))
            for before in old.values():
                if before is not None:
                    self._notify("delete", before, None)
        self._synced.set()

    def _watch_from(self, version: str) -> tuple[str, bool]:
        watch = self.lister_watcher.watch(
            self.namespace,
            resource_version=version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            allow_bookmarks=True,
            timeout_seconds=int(self.MIN_WATCH_TIMEOUT * (1 + random.random())),
        )
        with self._cond:
            if self._stopping:
                watch.stop()
                return version, False
            self._watch = watch
        progressed = False
        try:
            for type, obj in watch:
                progressed = True
                self._apply(type, obj)
        finally:
            with self._cond:
                self._watch = None
        return watch.resource_version or version, progressed

    def _apply(self, type: str, obj: dict[str, Any]) -> None:
        version = (obj.get("metadata") or {}).get("resourceVersion") or ""
        with self._dispatch:
            if type in ("ADDED", "MODIFIED"):
                key = meta_namespace_key(obj)
                before = self.cache.get_by_key(key)
                self.cache.add(obj)
                if before is None:
                    self._notify("add", None, ReadOnlyDict(obj))
                else:
                    self._notify("update", before, ReadOnlyDict(obj))
            elif type == "DELETED":
                self.cache.delete(meta_namespace_key(obj))
                self._notify("delete", ReadOnlyDict(obj), None)
            if version:
                self.last_sync_resource_version = version

    # -- handlers -------------------------------------------------------------------------------

    def _notify(self, change: str, old: ReadOnlyDict | None, new: ReadOnlyDict | None) -> None:
        for handler in self._handlers:
            if change == "add" and handler.on_add is not None:
                self._call(handler.on_add, new)
            elif change == "update" and handler.on_update is not None:
                self._call(handler.on_update, old, new)
            elif change == "delete" and handler.on_delete is not None:
                self._call(handler.on_delete, old)

    def _call(self, function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception:
            log.exception("%s: an event handler failed", self.name)

    def _resync_loop(self) -> None:
        while True:
            deadline = self.clock.now() + self.resync_period
            with self._cond:
                while not self._stopping and self.clock.now() < deadline:
                    self.clock.wait(self._cond, deadline - self.clock.now())
                if self._stopping:
                    return
            if self.has_synced():
                self.resync()

    def resync(self) -> None:
        """Replay every cached object to the handlers as an update (old and new the same)."""
        with self._dispatch:
            for obj in self.cache.list():
                self._notify("update", obj, obj)

    def _sleep(self, seconds: float) -> None:
        deadline = self.clock.now() + seconds
        with self._cond:
            while not self._stopping and self.clock.now() < deadline:
                self.clock.wait(self._cond, deadline - self.clock.now())

