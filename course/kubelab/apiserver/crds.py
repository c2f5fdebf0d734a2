"""CustomResourceDefinitions: once one is stored, its custom resources are served like built-in ones.

Mirrors ``k8s.io/apiextensions-apiserver``: the CRD registry, the CRD handler that serves
each established CRD's resources (discovery, OpenAPI, storage under
``/registry/<group>/<plural>``), and the finalizer that deletes every custom resource of a
CRD being deleted before the CRD itself goes. Validation, defaults and status of a CRD, and
the schema checks of its custom resources, belong to the resources' strategies
(:mod:`kubelab.apiserver.resources.customresourcedefinitions`,
:mod:`~kubelab.apiserver.resources.customresources`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubelab.api.meta import now_rfc3339
from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import errors
from kubelab.apiserver.registry import DeleteOptions, ListOptions, Store, UpdatedObject, ValidateObject
from kubelab.apiserver.resources.customresourcedefinitions import is_established, resource_infos
from kubelab.apiserver.strategy import Strategy
from kubelab.store import errors as storage_errors

if TYPE_CHECKING:
    from kubelab.apiserver.server import APIServer

Obj = dict[str, Any]


class CustomResourceDefinitions:
    """The CRDs the server serves, kept in step with the stored ones."""

    def __init__(self, server: APIServer, on_change: Callable[[], None]) -> None:
        self.server = server
        self.on_change = on_change
        self._crds: dict[str, Obj] = {}
        self._infos: dict[str, list[ResourceInfo]] = {}

    def crd_for(self, info: ResourceInfo) -> Obj:
        """The CRD that defines ``info``."""
        for name, infos in self._infos.items():
            if info in infos:
                return self._crds[name]
        raise errors.not_found(errors.GroupResource(info.group, info.plural), "")

    async def load(self, info: ResourceInfo) -> None:
        """Serve every established CRD in storage (at start-up: they survive restarts with etcd)."""
        try:
            result = await self.server.storage.get_list(info.list_prefix())
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, errors.GroupResource(info.group, info.plural)) from e
        for crd in result.items:
            self.serve(crd)

    def serve(self, crd: Obj) -> None:
        """Serve ``crd``'s versions as they are now (or stop serving it, if it is not established)."""
        name = crd["metadata"]["name"]
        old = self._infos.pop(name, [])
        for info in old:
            self.server.resources.remove(info.group, info.version, info.plural)
        self._crds.pop(name, None)
        if is_established(crd) and not crd["metadata"].get("deletionTimestamp"):
            infos = resource_infos(crd)
            for info in infos:
                self.server.resources.add(info)
            self._crds[name] = crd
            self._infos[name] = infos
        self.server.openapi.set_custom_resource_definitions(self._crds.values())
        self.on_change()

    def forget(self, name: str) -> None:
        """Stop serving the CRD called ``name``."""
        for info in self._infos.pop(name, []):
            self.server.resources.remove(info.group, info.version, info.plural)
        self._crds.pop(name, None)
        self.server.openapi.set_custom_resource_definitions(self._crds.values())
        self.on_change()


class CRDStore(Store):
    """The registry of CustomResourceDefinitions: every write changes what the server serves."""

    return_deleted_object = True

    def __init__(self, *args: Any, crds: CustomResourceDefinitions, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.crds = crds

    async def create(
        self, namespace: str, obj: Obj, *, validate: ValidateObject | None = None, dry_run: bool = False
    ) -> Obj:
        out = await super().create(namespace, obj, validate=validate, dry_run=dry_run)
        if not dry_run:
            self.crds.serve(out)
        return out

    async def update(
        self, namespace: str, name: str, updated: UpdatedObject, *,
        validate: ValidateObject | None = None, create_if_missing: bool = False, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        out, created = await super().update(
            namespace, name, updated, validate=validate, create_if_missing=create_if_missing, dry_run=dry_run
        )
        if not dry_run:
            self.crds.serve(out)
        return out, created

    async def delete(self, namespace: str, name: str, options: DeleteOptions) -> tuple[Obj, bool]:
        """Mark the CRD Terminating, delete its custom resources, then the CRD (``customresourcecleanup``)."""
        crd = await self.get("", name)
        if options.dry_run:
            return await super().delete(namespace, name, options)
        infos = resource_infos(crd)
        await self._mark_terminating(name)
        self.crds.forget(name)
        remaining = 0
        if infos:
            info = infos[0]
            store = Store(info, self.storage, Strategy(info))
            listed = await store.list("", ListOptions())
            for item in listed["items"]:
                meta = item["metadata"]
                try:
                    _, gone = await store.delete(meta.get("namespace", ""), meta["name"], DeleteOptions())
                except errors.StatusError as e:
                    if e.code != 404:
                        raise
                    gone = True
                remaining += 0 if gone else 1
        if remaining:
            return await self.get("", name), False
        return await super().delete(namespace, name, options)

    async def _mark_terminating(self, name: str) -> None:
        def terminating(existing: Obj) -> Obj:
            if not existing:
                raise storage_errors.KeyNotFound(self.key("", name))
            existing["metadata"].setdefault("deletionTimestamp", now_rfc3339())
            conditions = [
                c for c in (existing.get("status") or {}).get("conditions") or [] if c.get("type") != "Terminating"
            ]
            conditions.append({
                "type": "Terminating", "status": "True", "lastTransitionTime": now_rfc3339(),
                "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress",
            })
            existing.setdefault("status", {})["conditions"] = conditions
            return existing

        try:
            await self.storage.guaranteed_update(self.key("", name), terminating)
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e
