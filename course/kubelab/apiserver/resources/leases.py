"""Leases: validation of durations and transitions, the ``kubectl get leases`` table.

Mirrors ``pkg/registry/coordination/lease/strategy.go``, ``ValidateLeaseSpec`` and ``printLease``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of
from kubelab.apiserver.resources.podspec_validation import non_negative

Obj = dict[str, Any]


class LeaseStrategy(ResourceStrategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec") or {}
        errs: list[FieldError] = []
        duration = spec.get("leaseDurationSeconds")
        if isinstance(duration, int) and duration <= 0:
            errs.append(field.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
        errs += non_negative(spec.get("leaseTransitions"), "spec.leaseTransitions")
        return errs

    def table_columns(self) -> list[Obj]:
        return [name_column(), column("Holder", doc("V1LeaseSpec", "holderIdentity")), age_column()]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return [name_of(obj), (obj.get("spec") or {}).get("holderIdentity") or "", age_of(obj, now)]
