"""The ``scale`` subresource of workloads and custom resources (``autoscaling/v1`` Scale).

Mirrors each workload's ``ScaleREST`` (``pkg/registry/apps/deployment/storage/storage.go``)
and the CRD scale handler: reading gives a Scale made of the replica counts and label
selector; writing a Scale changes only the replica count (``kubectl scale``, the
HorizontalPodAutoscaler). Where those live is :mod:`kubelab.apiserver.resources.scale`'s
business (fixed for Deployments, ReplicaSets and StatefulSets, a CRD's
``subresources.scale`` paths for custom resources).
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.apiserver import errors
from kubelab.apiserver.registry import Registry, UpdatedObject, ValidateObject
from kubelab.apiserver.resources.scale import scale_of, set_replicas
from kubelab.apiserver.strategy import Strategy

Obj = dict[str, Any]


class ScaleREST:
    """Reads and writes a resource's replica count through its Scale; ``paths`` for a custom resource."""

    def __init__(self, parent: Registry, paths: Obj | None = None) -> None:
        self.parent = parent
        self.paths = paths
        self.info = parent.info
        self.strategy = Strategy(parent.info)

    async def get(self, namespace: str, name: str, resource_version: str = "") -> Obj:
        return scale_of(await self.parent.get(namespace, name, resource_version), self.paths)

    async def update(
        self, namespace: str, name: str, updated: UpdatedObject, *,
        validate: ValidateObject | None = None, create_if_missing: bool = False, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        async def scaled(current: Obj) -> Obj:
            scale = await updated(scale_of(current, self.paths))
            new = copy.deepcopy(current)
            field_errors = set_replicas(new, scale, self.paths)
            if field_errors:
                raise errors.invalid("Scale", "autoscaling", name, field_errors)
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv:
                new["metadata"]["resourceVersion"] = rv
            return new

        out, _ = await self.parent.update(namespace, name, scaled, validate=validate, dry_run=dry_run)
        return scale_of(out, self.paths), False
