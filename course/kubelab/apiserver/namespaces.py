"""The namespace registry: deleting a namespace starts its termination, it does not remove it.

Mirrors ``pkg/registry/core/namespace/storage/storage.go``. The first delete sets
``deletionTimestamp`` and ``status.phase: Terminating``; the namespace controller then
deletes everything in it, clears ``spec.finalizers`` through ``namespaces/{name}/finalize``
and deletes it again, which removes it. While ``spec.finalizers`` is not empty a further
delete is a 409 Conflict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubelab.api.meta import now_rfc3339
from kubelab.apiserver import errors
from kubelab.apiserver.registry import DeleteOptions, Store, gc_finalizers
from kubelab.store import errors as storage_errors
from kubelab.store.storage import Preconditions, Storage

log = logging.getLogger("kubelab.apiserver")

Obj = dict[str, Any]
STILL_TERMINATING = (
    "The system is ensuring all content is removed from this namespace.  Upon completion, "
    "this namespace will automatically be purged by the system."
)


class NamespaceStore(Store):
    """Namespaces: a delete answers with the namespace, Terminating until it is empty."""

    return_deleted_object = True

    async def delete(self, namespace: str, name: str, options: DeleteOptions) -> tuple[Obj, bool]:
        errs = options.validate()
        if errs:
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", errs)
        current = await self.get("", name)
        self._check_delete_preconditions(current, options)
        if not current["metadata"].get("deletionTimestamp"):
            current = await self._start_termination(name, options)
            if (current.get("spec") or {}).get("finalizers"):
                return current, False
        if (current.get("spec") or {}).get("finalizers"):
            raise errors.conflict(self.gr, name, STILL_TERMINATING)
        return await super().delete(namespace, name, options)

    async def _start_termination(self, name: str, options: DeleteOptions) -> Obj:
        def terminate(existing: Obj) -> Obj:
            if not existing:
                raise storage_errors.KeyNotFound(self.key("", name))
            meta = existing["metadata"]
            meta.setdefault("deletionTimestamp", now_rfc3339())
            meta["deletionGracePeriodSeconds"] = 0
            existing.setdefault("status", {})["phase"] = "Terminating"
            finalizers = gc_finalizers(meta, options)
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
            return existing

        preconditions = None
        if options.precondition_uid or options.precondition_resource_version:
            preconditions = Preconditions(options.precondition_uid, options.precondition_resource_version)
        key = self.key("", name)
        try:
            if options.dry_run:
                return terminate(await self.storage.get(key))
            return await self.storage.guaranteed_update(key, terminate, preconditions=preconditions)
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e


class NamespaceCache:
    """The namespaces as one watch of them last saw them, for admission to read instead of the store.

    Plays the namespace informer that upstream's NamespaceLifecycle plugin reads. It may lag the
    store by a moment, so a name it lacks is no proof that the namespace does not exist.
    ``retry_delay`` is how long it waits to watch again after its watch failed.
    """

    def __init__(self, storage: Storage, prefix: str, *, retry_delay: float = 1.0) -> None:
        self.storage = storage
        self.prefix = prefix
        self.retry_delay = retry_delay
        self._namespaces: dict[str, Obj] = {}
        self._task: asyncio.Task[None] | None = None

    def get(self, name: str) -> Obj | None:
        """The namespace ``name`` as last seen (shared: do not change it), or None if not seen."""
        return self._namespaces.get(name)

    def start(self) -> None:
        """Follow the namespaces from now on (call in the server's event loop)."""
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow(self) -> None:
        while True:
            # Forget everything on each new watch: it starts with an ADDED per namespace that
            # exists now, and a namespace removed while no watch ran must not stay.
            self._namespaces = {}
            try:
                async with contextlib.aclosing(self.storage.watch(self.prefix, recursive=True)) as events:
                    async for event in events:
                        name = (event.object.get("metadata") or {}).get("name")
                        if not name:
                            continue
                        if event.type == "DELETED":
                            self._namespaces.pop(name, None)
                        else:
                            self._namespaces[name] = event.object
            except storage_errors.StorageError as e:
                log.warning("the namespace cache's watch failed (%s); watching again in %.0f s", e, self.retry_delay)
            self._namespaces = {}
            await asyncio.sleep(self.retry_delay)
