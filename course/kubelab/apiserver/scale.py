"""The ``scale`` subresource of Deployments, ReplicaSets and StatefulSets (``autoscaling/v1`` Scale).

Mirrors each workload's ``ScaleREST`` (``pkg/registry/apps/deployment/storage/storage.go``):
reading gives a Scale made of the workload's ``spec.replicas``, ``status.replicas`` and label
selector; writing a Scale changes only the workload's ``spec.replicas`` (``kubectl scale``,
the HorizontalPodAutoscaler).
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field
from kubelab.api.selectors import LabelSelector, SelectorError
from kubelab.apiserver import errors
from kubelab.apiserver.registry import Registry, UpdatedObject, ValidateObject
from kubelab.apiserver.strategy import Strategy

Obj = dict[str, Any]
SCALE_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def to_scale(obj: Obj) -> Obj:
    """The Scale of a workload."""
    meta = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    try:
        selector = str(LabelSelector.from_label_selector(spec.get("selector")))
    except SelectorError:
        selector = ""
    scale_status: Obj = {"replicas": status.get("replicas") or 0}
    if selector:
        scale_status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in SCALE_META if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": scale_status,
    }


class ScaleREST:
    """Reads and writes a workload's replica count through its Scale."""

    def __init__(self, parent: Registry) -> None:
        self.parent = parent
        self.info = parent.info
        self.strategy = Strategy(parent.info)

    async def get(self, namespace: str, name: str, resource_version: str = "") -> Obj:
        return to_scale(await self.parent.get(namespace, name, resource_version))

    async def update(
        self, namespace: str, name: str, updated: UpdatedObject, *,
        validate: ValidateObject | None = None, create_if_missing: bool = False, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        async def scaled(current: Obj) -> Obj:
            scale = await updated(to_scale(current))
            replicas = (scale.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                detail = "must be greater than or equal to 0" if isinstance(replicas, int) else "must be an integer"
                raise errors.invalid("Scale", "autoscaling", name, [field.invalid("spec.replicas", replicas, detail)])
            new = copy.deepcopy(current)
            new.setdefault("spec", {})["replicas"] = replicas
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv:
                new["metadata"]["resourceVersion"] = rv
            return new

        out, _ = await self.parent.update(namespace, name, scaled, validate=validate, dry_run=dry_run)
        return to_scale(out), False
