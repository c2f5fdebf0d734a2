"""Namespaces: the ``kubernetes`` finalizer, the ``kubernetes.io/metadata.name`` label, status, table.

Mirrors ``pkg/registry/core/namespace/strategy.go`` (including the finalize strategy) and
``SetDefaults_Namespace``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy, child
from kubelab.apiserver.resources.columns import age_column, age_of, column, name_column, name_of

Obj = dict[str, Any]
NAME_LABEL = "kubernetes.io/metadata.name"
STANDARD_FINALIZERS = ("kubernetes",)


class NamespaceStrategy(ResourceStrategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        meta = child(obj, "metadata")
        if meta.get("name"):
            child(meta, "labels")[NAME_LABEL] = meta["name"]
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Active"

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Active"}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        spec = child(obj, "spec")
        finalizers = list(spec.get("finalizers") or [])
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")
        spec["finalizers"] = finalizers

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        child(obj, "spec")["finalizers"] = copy.deepcopy((old.get("spec") or {}).get("finalizers") or [])
        if not obj["spec"]["finalizers"]:
            del obj["spec"]["finalizers"]

    def canonicalize(self, obj: Obj) -> None:
        meta = child(obj, "metadata")
        if meta.get("name"):
            child(meta, "labels")[NAME_LABEL] = meta["name"]

    def validate(self, obj: Obj) -> list[FieldError]:
        return validate_finalizers((obj.get("spec") or {}).get("finalizers"), "spec.finalizers")

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        phase = (obj.get("status") or {}).get("phase")
        if phase not in (None, "Active", "Terminating"):
            return [field.not_supported("status.phase", phase, ["Active", "Terminating"])]
        return []

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["status.phase"] = (obj.get("status") or {}).get("phase") or ""
        fields["name"] = fields["metadata.name"]
        return fields

    def table_columns(self) -> list[Obj]:
        return [name_column(), column("Status", "The status of the namespace"), age_column()]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return [name_of(obj), (obj.get("status") or {}).get("phase") or "", age_of(obj, now)]


class NamespaceFinalizeStrategy(NamespaceStrategy):
    """``namespaces/{name}/finalize``: only ``spec.finalizers`` may change."""

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        finalizers = (obj.get("spec") or {}).get("finalizers")
        obj.clear()
        obj.update(copy.deepcopy(old))
        spec = child(obj, "spec")
        if finalizers:
            spec["finalizers"] = list(finalizers)
        else:
            spec.pop("finalizers", None)

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        return self.validate(obj)


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    """Each finalizer a qualified name, and standard (``kubernetes``) unless domain-qualified."""
    errs: list[FieldError] = []
    for value in finalizers if isinstance(finalizers, list) else []:
        messages = validation.is_qualified_name(str(value))
        errs += [field.invalid(path, value, msg) for msg in messages]
        if not messages and "/" not in str(value) and value not in STANDARD_FINALIZERS:
            errs.append(field.invalid(path, value, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs
