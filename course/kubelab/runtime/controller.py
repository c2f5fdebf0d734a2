"""The reconcile loop: event handlers put keys in a work queue, workers reconcile them.

The shape of client-go's sample-controller and controller-runtime's ``Controller``::

    def reconcile(key: str) -> Result | None:
        obj = informer.cache.get_by_key(key)    # the current state, never the event's
        ...                                     # converge the world towards obj's spec
        return None                             # done; or Result(requeue_after=30)

    controller = Controller("web", reconcile, workers=2)
    controller.watches(informer)                # each change enqueues the object's own key
    controller.start()

A reconcile that raises is retried with per-key exponential backoff; one that returns
``Result(requeue=True)`` is retried the same way, and ``Result(requeue_after=s)`` after
``s`` seconds. A key is never reconciled by two workers at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from kubelab import errors
from kubelab.runtime.clock import REAL_CLOCK, Clock
from kubelab.runtime.indexer import meta_namespace_key
from kubelab.runtime.informer import Informer
from kubelab.runtime.queue import WorkQueue
from kubelab.runtime.ratelimit import RateLimiter
from kubelab.runtime.readonly import ReadOnlyDict

log = logging.getLogger(__name__)

MapFunc = Callable[[ReadOnlyDict], Iterable[Hashable]]
"""The keys to reconcile when an object changes."""


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next: nothing, a retry with backoff, or a retry after some seconds."""

    requeue: bool = False
    requeue_after: float | None = None


def controller_owner_key(kind: str) -> MapFunc:
    """Map an object to its controlling owner's key, if that owner is a ``kind`` (``handler.EnqueueRequestForOwner``)."""

    def owner_keys(obj: ReadOnlyDict) -> list[str]:
        metadata = obj.get("metadata") or {}
        for ref in metadata.get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == kind:
                namespace = metadata.get("namespace")
                return [f"{namespace}/{ref['name']}" if namespace else ref["name"]]
        return []

    return owner_keys


def own_key(obj: ReadOnlyDict) -> list[str]:
    """Map an object to its own key (``handler.EnqueueRequestForObject``)."""
    return [meta_namespace_key(obj)]


class Controller:
    """A work queue of keys, the handlers that fill it, and ``workers`` threads calling ``reconcile``."""

    def __init__(
        self,
        name: str,
        reconcile: Callable[[Any], Result | None],
        *,
        workers: int = 1,
        clock: Clock = REAL_CLOCK,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.queue = WorkQueue(rate_limiter=rate_limiter, clock=clock, name=name)
        self._informers: list[Informer] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def watches(self, informer: Informer, map: MapFunc = own_key) -> None:
        """Reconcile the keys ``map`` gives for every object ``informer`` sees added, changed or deleted.

        On an update both the old and the new object are mapped, so a change of owner
        reconciles both owners.
        """
        if informer not in self._informers:
            self._informers.append(informer)

        def on_add(obj: ReadOnlyDict) -> None:
            for key in map(obj):
                self.queue.add(key)

        def on_update(old: ReadOnlyDict, new: ReadOnlyDict) -> None:
            for key in {*map(old), *map(new)}:
                self.queue.add(key)

        informer.add_event_handler(on_add, on_update, on_add)

    def owns(self, informer: Informer, owner_kind: str) -> None:
        """Reconcile an object's controlling owner of kind ``owner_kind`` whenever the object changes."""
        self.watches(informer, controller_owner_key(owner_kind))

    def waits_for(self, informer: Informer) -> None:
        """Make workers wait for ``informer``'s first sync too (for informers only read, not watched)."""
        if informer not in self._informers:
            self._informers.append(informer)

    def start(self) -> None:
        """Start the workers; they begin once every informer this controller uses has synced."""
        if self._threads:
            return
        for n in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"{self.name} worker {n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop taking keys; return when every worker has finished its current reconcile."""
        self._stopping.set()
        self.queue.shut_down()
        for thread in self._threads:
            thread.join(30)

    def _worker(self) -> None:
        for informer in self._informers:
            while not informer.wait_for_sync(0.1):
                if self._stopping.is_set():
                    return
        while (key := self.queue.get()) is not None:
            try:
                self.process(key)
            finally:
                self.queue.done(key)

    def process(self, key: Hashable) -> None:
        """Reconcile one key and requeue it as the outcome asks (the worker's body)."""
        try:
            result = self.reconcile(key)
        except errors.Conflict as e:
            log.debug("%s: reconciling %s hit a conflict, retrying: %s", self.name, key, e)
            self.queue.add_rate_limited(key)
            return
        except Exception:
            log.exception("%s: reconciling %s failed; retrying with backoff", self.name, key)
            self.queue.add_rate_limited(key)
            return
        if result is not None and result.requeue_after:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
        elif result is not None and result.requeue:
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
