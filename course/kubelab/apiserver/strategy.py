"""Per-resource behaviour that the generic registry calls: the strategy.

Mirrors ``k8s.io/apiserver/pkg/registry/rest`` (``RESTCreateStrategy``, ``RESTUpdateStrategy``,
``RESTDeleteStrategy``) and each resource's ``pkg/registry/<group>/<resource>/strategy.go``.
The generic registry (:mod:`kubelab.apiserver.registry`) does the rest — names, uid,
timestamps, resourceVersion, preconditions, finalizers — the same way for every resource.

A strategy never touches storage or HTTP: it takes and changes plain dicts, and returns
:class:`~kubelab.api.field.FieldError` lists. One subclass per resource lives in
:mod:`kubelab.apiserver.resources`; the ``status`` subresource has its own strategy whose
``prepare_for_update`` keeps everything but ``status`` from the old object.
"""

from __future__ import annotations

from typing import Any

from kubelab.api.field import FieldError
from kubelab.api.resources import ResourceInfo

Obj = dict[str, Any]


class Strategy:
    """Defaults for a resource with no special rules; subclasses override what differs."""

    has_status: bool = False
    """Whether the resource has a ``status`` that only the ``/status`` subresource may write."""

    tracks_generation: bool = False
    """Whether ``metadata.generation`` counts changes to the spec (workloads do, ConfigMaps don't)."""

    def __init__(self, info: ResourceInfo) -> None:
        self.info = info

    def default(self, obj: Obj) -> None:
        """Fill in defaulted fields (``SetDefaults_*``): run on every create and update body."""

    def prepare_for_create(self, obj: Obj) -> None:
        """Clear what a client may not set on create (``status`` when ``has_status``)."""

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        """Carry over what a client may not change on update (``status`` when ``has_status``)."""

    def validate(self, obj: Obj) -> list[FieldError]:
        """Field errors of a new object (metadata is validated by the registry)."""
        return []

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        """Field errors of an update, e.g. a change to an immutable field."""
        return self.validate(obj)

    def canonicalize(self, obj: Obj) -> None:
        """Put the object in canonical form just before it is stored."""

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        """The fields a field selector may use (``GetAttrs``): metadata.name/namespace and more."""
        meta = obj.get("metadata", {})
        fields = {"metadata.name": meta.get("name", "")}
        if self.info.namespaced:
            fields["metadata.namespace"] = meta.get("namespace", "")
        return fields

    def table_columns(self) -> list[dict[str, Any]]:
        """``columnDefinitions`` of the Table that ``kubectl get`` prints (Name and Age by default)."""
        return [
            {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0},
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        """One Table row's cells for ``obj``, matching :meth:`table_columns`; ``now`` is epoch seconds."""
        from kubelab.api.meta import age

        meta = obj.get("metadata", {})
        return [meta.get("name", ""), age(meta.get("creationTimestamp"), now)]
