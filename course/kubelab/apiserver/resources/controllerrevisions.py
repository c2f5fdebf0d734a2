"""ControllerRevisions: validation and the ``kubectl get controllerrevisions`` table.

Mirrors ``pkg/registry/apps/controllerrevision/strategy.go``, ``ValidateControllerRevision``
and ``printControllerRevision``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.api.meta import controller_of
from kubelab.apiserver.resources.base import ResourceStrategy
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of
from kubelab.apiserver.resources.podspec_validation import non_negative

Obj = dict[str, Any]


class ControllerRevisionStrategy(ResourceStrategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        errs = non_negative(obj.get("revision"), "revision")
        if obj.get("data") is None:
            errs.append(field.required("data", "data is mandatory"))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        if obj.get("data") != old.get("data"):
            errs.append(field.invalid("data", obj.get("data"), "field is immutable"))
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Controller", "Controller of the object"),
            column("Revision", doc("V1ControllerRevision", "revision")),
            age_column(),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        owner = controller_of(obj)
        controller = "<none>"
        if owner:
            group = owner.get("apiVersion", "").rpartition("/")[0]
            kind = owner.get("kind", "").lower()
            controller = f"{kind}.{group}/{owner.get('name', '')}" if group else f"{kind}/{owner.get('name', '')}"
        return [name_of(obj), controller, obj.get("revision") or 0, age_of(obj, now)]
