"""The namespace registry: deleting a namespace starts its termination, it does not remove it.

Mirrors ``pkg/registry/core/namespace/storage/storage.go``. The first delete sets
``deletionTimestamp`` and ``status.phase: Terminating``; the namespace controller then
deletes everything in it, clears ``spec.finalizers`` through ``namespaces/{name}/finalize``
and deletes it again, which removes it. While ``spec.finalizers`` is not empty a further
delete is a 409 Conflict.
"""

from __future__ import annotations

from typing import Any

from kubelab.api.meta import now_rfc3339
from kubelab.apiserver import errors
from kubelab.apiserver.registry import DeleteOptions, Store, gc_finalizers
from kubelab.store import errors as storage_errors
from kubelab.store.storage import Preconditions

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
