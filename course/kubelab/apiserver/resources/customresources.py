"""Custom resources: the strategy of objects whose kind a CRD defines.

The CRD's version schema prunes unknown fields, fills in defaults and validates the object;
its ``additionalPrinterColumns`` are the ``kubectl get`` columns (``NAME`` and ``AGE`` when
there are none); ``subresources.status`` moves the status behind ``/status``. Mirrors
``k8s.io/apiextensions-apiserver/pkg/registry/customresource`` (``strategy.go``,
``tableconvertor``).
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.api.meta import age, parse_time
from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import crd_schema
from kubelab.apiserver.resources import jsonpath
from kubelab.apiserver.resources.base import ResourceStrategy, items
from kubelab.apiserver.resources.columns import column, doc, name_column, name_of

Obj = dict[str, Any]


class CustomResourceStrategy(ResourceStrategy):
    """One served version of a CRD's kind."""

    tracks_generation = True

    def __init__(self, info: ResourceInfo, crd: Obj) -> None:
        super().__init__(info)
        self.crd = crd
        self.version: Obj = next(
            (v for v in items(crd.get("spec"), "versions") if v.get("name") == info.version), {},
        )
        self.schema = crd_schema.version_schema(self.version)
        self.has_status = (self.version.get("subresources") or {}).get("status") is not None

    def default(self, obj: Obj) -> None:
        crd_schema.prune(obj, self.schema)
        crd_schema.apply_defaults(obj, self.schema)

    def prepare_for_create(self, obj: Obj) -> None:
        if self.has_status:
            obj.pop("status", None)
        obj.setdefault("metadata", {})["generation"] = 1

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        if self.has_status:
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)
        ignored = ("metadata", "status") if self.has_status else ("metadata",)
        changed = {k: v for k, v in obj.items() if k not in ignored} != {k: v for k, v in old.items() if k not in ignored}
        generation = (old.get("metadata") or {}).get("generation", 1)
        obj.setdefault("metadata", {})["generation"] = generation + 1 if changed else generation

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        expected = f"{self.info.group}/{self.info.version}"
        if obj.get("apiVersion") not in (None, expected):
            errs.append(field.invalid("apiVersion", obj.get("apiVersion"), f"must be {expected}"))
        if obj.get("kind") not in (None, self.info.kind):
            errs.append(field.invalid("kind", obj.get("kind"), f"must be {self.info.kind}"))
        return errs + crd_schema.validate(obj, self.schema)

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        return crd_schema.validate(obj, self.schema)

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        for selectable in items(self.version, "selectableFields"):
            path = str(selectable.get("jsonPath") or "")
            found = jsonpath.find(obj, path) if path else []
            fields[path.lstrip(".")] = jsonpath.text(found[0]) if found else ""
        return fields

    def _columns(self) -> list[Obj]:
        columns = items(self.version, "additionalPrinterColumns")
        if columns:
            return columns
        return [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                 "description": doc("V1ObjectMeta", "creationTimestamp")}]

    def table_columns(self) -> list[Obj]:
        return [name_column()] + [
            column(
                str(c.get("name", "")),
                c.get("description") or f"Custom resource definition column (in JSONPath format): {c.get('jsonPath', '')}",
                type=str(c.get("type", "string")), priority=int(c.get("priority") or 0), format=str(c.get("format") or ""),
            )
            for c in self._columns()
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        cells: list[Any] = [name_of(obj)]
        for col in self._columns():
            try:
                found = jsonpath.find(obj, str(col.get("jsonPath", "")))
            except jsonpath.JSONPathError:
                found = []
            cells.append(_cell(str(col.get("type", "string")), found[0] if found else None, now))
        return cells


def _cell(kind: str, value: Any, now: float) -> Any:
    """A printer column's cell, as ``cellForJSONValue`` types it; None when the value does not fit."""
    if value is None:
        return None
    if kind == "string":
        return jsonpath.text(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        try:
            parse_time(value)
        except ValueError:
            return "<invalid>"
        return age(value, now)
    return None
