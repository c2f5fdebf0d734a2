"""The pod registry: graceful deletion, and the ``binding`` and ``eviction`` subresources.

Mirrors ``pkg/registry/core/pod/storage/storage.go`` (``BindingREST``, ``EvictionREST``) and
the graceful-deletion half of ``pkg/registry/core/pod/strategy.go`` (``CheckGracefulDelete``).
A deleted pod that runs on a node gets ``deletionTimestamp`` = now + grace period; its
kubelet stops the containers and finishes the deletion with a grace period of 0. A pod
on no node, on a node that does not exist, or already finished is deleted at once.
"""

from __future__ import annotations

from typing import Any

from kubelab.api.meta import now_rfc3339
from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import errors
from kubelab.apiserver.registry import DeleteOptions, Registry, Store
from kubelab.apiserver.resources.pods import BindingConflict, apply_binding
from kubelab.apiserver.strategy import Strategy
from kubelab.store import errors as storage_errors
from kubelab.store.storage import Storage

Obj = dict[str, Any]
NODES_PREFIX = "/registry/minions/"
DEFAULT_GRACE_PERIOD = 30


class PodStore(Store):
    """Pods: answered with the deleted object, deleted gracefully when a kubelet runs them."""

    return_deleted_object = True

    async def graceful_period(self, obj: Obj, options: DeleteOptions) -> int | None:
        spec = obj.get("spec") or {}
        if options.grace_period_seconds is not None:
            period = options.grace_period_seconds
        else:
            period = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_PERIOD)
        node = spec.get("nodeName") or ""
        if not node or (obj.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return 0
        if period > 0 and not await self._node_exists(node):
            return 0
        return period

    async def _node_exists(self, name: str) -> bool:
        try:
            await self.storage.get(NODES_PREFIX + name)
        except storage_errors.KeyNotFound:
            return False
        return True


class BindingREST:
    """``POST pods/{name}/binding``: assign a pod to a node (what the scheduler does)."""

    def __init__(self, info: ResourceInfo, storage: Storage) -> None:
        self.info = info
        self.storage = storage
        self.strategy = Strategy(info)

    async def create_named(self, namespace: str, name: str, binding: Obj, *, dry_run: bool = False) -> tuple[int, Obj]:
        meta = binding.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request("name in URL does not match name in Binding object")
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("namespace in URL does not match namespace in Binding object")
        gr = errors.GroupResource("", "pods/binding")

        def bind(pod: Obj) -> Obj:
            if not pod:
                raise storage_errors.KeyNotFound(self.info.key(namespace, name))
            field_errors = apply_binding(pod, binding, now_rfc3339())
            if field_errors:
                raise errors.invalid("Binding", "", name, field_errors)
            return pod

        key = self.info.key(namespace, name)
        try:
            if dry_run:
                bind(await self.storage.get(key))
            else:
                await self.storage.guaranteed_update(key, bind)
        except BindingConflict as e:
            raise errors.conflict(gr, name, str(e)) from e
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, errors.GroupResource("", "pods"), name) from e
        return 201, errors.success(201)


class EvictionREST:
    """``POST pods/{name}/eviction``: delete a pod politely (``kubectl drain``), honouring its grace period."""

    def __init__(self, info: ResourceInfo, pods: Registry) -> None:
        self.info = info
        self.pods = pods
        self.strategy = Strategy(info)

    async def create_named(self, namespace: str, name: str, eviction: Obj, *, dry_run: bool = False) -> tuple[int, Obj]:
        meta = eviction.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request("name in URL does not match name in Eviction object")
        options = DeleteOptions.parse(eviction.get("deleteOptions") or {}, {})
        options.dry_run = options.dry_run or dry_run
        await self.pods.delete(namespace, name, options)
        return 201, errors.success(201)
