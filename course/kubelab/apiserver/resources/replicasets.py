"""ReplicaSets: defaults, validation, the ``kubectl get replicasets`` table.

Mirrors ``pkg/registry/apps/replicaset/strategy.go`` and ``printReplicaSet``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import child, set_default
from kubelab.apiserver.resources.columns import (
    age_column,
    age_of,
    column,
    container_cells,
    containers_columns,
    doc,
    format_label_selector,
    name_column,
    name_of,
)
from kubelab.apiserver.resources.podspec_validation import non_negative
from kubelab.apiserver.resources.workloads import WorkloadStrategy

Obj = dict[str, Any]


class ReplicaSetStrategy(WorkloadStrategy):
    kind_name = "deployment"  # upstream's ReplicaSet message says "deployment" too

    def default(self, obj: Obj) -> None:
        super().default(obj)
        set_default(child(obj, "spec"), "replicas", 1)

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        status = obj.get("status") or {}
        errs: list[FieldError] = []
        for key in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "terminatingReplicas",
                    "observedGeneration"):
            errs += non_negative(status.get(key), f"status.{key}")
        replicas = status.get("replicas") or 0
        for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            if (status.get(key) or 0) > replicas:
                errs.append(field.invalid(f"status.{key}", status[key], "cannot be greater than status.replicas"))
        if (status.get("availableReplicas") or 0) > (status.get("readyReplicas") or 0):
            errs.append(field.invalid("status.availableReplicas", status["availableReplicas"], "cannot be greater than readyReplicas"))
        return errs

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["status.replicas"] = str((obj.get("status") or {}).get("replicas") or 0)
        return fields

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Desired", doc("V1ReplicaSetSpec", "replicas"), type="integer"),
            column("Current", doc("V1ReplicaSetStatus", "replicas"), type="integer"),
            column("Ready", doc("V1ReplicaSetStatus", "readyReplicas"), type="integer"),
            age_column(),
            *containers_columns(),
            column("Selector", doc("V1ReplicaSetSpec", "selector"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return [
            name_of(obj),
            spec.get("replicas") or 0,
            status.get("replicas") or 0,
            status.get("readyReplicas") or 0,
            age_of(obj, now),
            *container_cells((spec.get("template") or {}).get("spec")),
            format_label_selector(spec.get("selector")),
        ]
