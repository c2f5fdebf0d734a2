"""The Service registry: ClusterIPs and NodePorts handed out as Services are created and changed.

Mirrors ``pkg/registry/core/service/storage`` (the allocating REST around the generic store).
What is free is worked out from the Services stored (:func:`~kubelab.apiserver.resources.services.assign_addresses`
does the choosing); writes are serialized so two Services never get the same address.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import errors
from kubelab.apiserver.registry import Store, UpdatedObject, ValidateObject
from kubelab.apiserver.resources.allocators import ClusterIPAllocator
from kubelab.apiserver.resources.services import assign_addresses
from kubelab.apiserver.strategy import Strategy
from kubelab.store import errors as storage_errors
from kubelab.store.storage import Storage

Obj = dict[str, Any]


class ServiceStore(Store):
    """Services; a delete answers with the deleted Service, which frees its addresses."""

    return_deleted_object = True

    def __init__(self, info: ResourceInfo, storage: Storage, strategy: Strategy, *, service_cidr: str, **kw: Any) -> None:
        super().__init__(info, storage, strategy, **kw)
        self.cluster_ips = ClusterIPAllocator(service_cidr)
        self._lock = asyncio.Lock()

    async def _in_use(self, except_key: str) -> tuple[set[str], set[int]]:
        """The ClusterIPs and NodePorts held by every stored Service but the one at ``except_key``."""
        try:
            result = await self.storage.get_list(self.info.list_prefix())
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr) from e
        ips: set[str] = set()
        ports: set[int] = set()
        for svc in result.items:
            meta = svc.get("metadata") or {}
            if self.info.key(meta.get("namespace", ""), meta.get("name", "")) == except_key:
                continue
            spec = svc.get("spec") or {}
            ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None")
            ports.update(p["nodePort"] for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort"))
        return ips, ports

    def _allocating(self, key: str, validate: ValidateObject | None) -> ValidateObject:
        async def allocate(obj: Obj, old: Obj | None) -> None:
            ips, ports = await self._in_use(key)
            field_errors = assign_addresses(obj, old, ips, ports, cluster_ips=self.cluster_ips)
            if field_errors:
                raise errors.invalid(self.info.kind, self.info.group, obj["metadata"].get("name", ""), field_errors)
            if validate is not None:
                await validate(obj, old)

        return allocate

    async def create(
        self, namespace: str, obj: Obj, *, validate: ValidateObject | None = None, dry_run: bool = False
    ) -> Obj:
        name = (obj.get("metadata") or {}).get("name") or ""
        async with self._lock:
            return await super().create(
                namespace, obj, validate=self._allocating(self.info.key(namespace, name), validate), dry_run=dry_run
            )

    async def update(
        self, namespace: str, name: str, updated: UpdatedObject, *,
        validate: ValidateObject | None = None, create_if_missing: bool = False, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        async with self._lock:
            return await super().update(
                namespace, name, updated, validate=self._allocating(self.info.key(namespace, name), validate),
                create_if_missing=create_if_missing, dry_run=dry_run,
            )
