"""The ``/scale`` subresource: an ``autoscaling/v1`` Scale read from, and written to, a workload.

Deployments, ReplicaSets and StatefulSets keep replicas at ``spec.replicas`` and
``status.replicas``; a custom resource says where in its CRD's ``subresources.scale``
(``specReplicasPath``, ``statusReplicasPath``, ``labelSelectorPath``). Mirrors
``pkg/registry/apps/deployment/storage`` (``scaleFromDeployment``) and the CRD scale handler.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.api.selectors import LabelSelector, SelectorError
from kubelab.apiserver.resources import jsonpath

Obj = dict[str, Any]
BUILTIN_PATHS = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}


def _first(obj: Obj, path: str | None) -> Any:
    found = jsonpath.find(obj, path) if path else []
    return found[0] if found else None


def scale_of(obj: Obj, paths: Obj | None = None) -> Obj:
    """The Scale of ``obj``; ``paths`` is a CRD's ``subresources.scale`` (None for built-in workloads)."""
    meta = obj.get("metadata") or {}
    paths = paths or BUILTIN_PATHS
    status: Obj = {"replicas": _first(obj, paths.get("statusReplicasPath")) or 0}
    if paths is BUILTIN_PATHS:
        selector = (obj.get("spec") or {}).get("selector")
        try:
            text = str(LabelSelector.from_label_selector(selector)) if selector is not None else ""
        except SelectorError:
            text = ""
        if text:
            status["selector"] = text
    else:
        selector_text = _first(obj, paths.get("labelSelectorPath"))
        if isinstance(selector_text, str) and selector_text:
            status["selector"] = selector_text
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
        "spec": {"replicas": _first(obj, paths.get("specReplicasPath")) or 0},
        "status": status,
    }


def set_replicas(obj: Obj, scale: Obj, paths: Obj | None = None) -> list[FieldError]:
    """Write a Scale's ``spec.replicas`` into ``obj`` (in place); field errors of an invalid Scale."""
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        return [field.invalid("spec.replicas", replicas, "must be an integer")]
    if replicas < 0:
        return [field.invalid("spec.replicas", replicas, "must be greater than or equal to 0")]
    path = (paths or BUILTIN_PATHS)["specReplicasPath"]
    steps = [arg for kind, arg in jsonpath.parse(path) if kind == "field"]
    target = obj
    for key in steps[:-1]:
        target = target.setdefault(key, {})
    target[steps[-1]] = replicas
    return []
