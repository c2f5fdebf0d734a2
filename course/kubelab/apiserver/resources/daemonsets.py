"""DaemonSets: defaults, validation, the ``kubectl get daemonsets`` table.

Mirrors ``pkg/registry/apps/daemonset/strategy.go``, ``SetDefaults_DaemonSet``,
``ValidateDaemonSetSpec`` and ``printDaemonSet``.
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
    format_labels,
    name_column,
    name_of,
)
from kubelab.apiserver.resources.podspec_validation import non_negative
from kubelab.apiserver.resources.workloads import (
    WorkloadStrategy,
    go_int_or_string,
    int_or_percent,
    is_zero,
    not_more_than_100_percent,
)

Obj = dict[str, Any]


class DaemonSetStrategy(WorkloadStrategy):
    kind_name = "daemonset"

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = child(obj, "spec")
        strategy = child(spec, "updateStrategy")
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            rolling = child(strategy, "rollingUpdate")
            set_default(rolling, "maxUnavailable", 1)
            set_default(rolling, "maxSurge", 0)
        set_default(spec, "revisionHistoryLimit", 10)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs
        strategy = spec.get("updateStrategy") or {}
        kind = strategy.get("type")
        if kind not in ("OnDelete", "RollingUpdate"):
            errs.append(field.not_supported("spec.updateStrategy.type", kind or "", ["OnDelete", "RollingUpdate"]))
        elif kind == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            at = "spec.updateStrategy.rollingUpdate"
            if not isinstance(rolling, dict):
                errs.append(field.required(at, ""))
            else:
                errs += int_or_percent(rolling.get("maxUnavailable"), f"{at}.maxUnavailable")
                errs += int_or_percent(rolling.get("maxSurge"), f"{at}.maxSurge")
                errs += not_more_than_100_percent(rolling.get("maxUnavailable"), f"{at}.maxUnavailable")
                errs += not_more_than_100_percent(rolling.get("maxSurge"), f"{at}.maxSurge")
                unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
                if is_zero(unavailable) and is_zero(surge):
                    errs.append(FieldError(
                        "FieldValueInvalid", f"{at}.maxUnavailable",
                        f"{go_int_or_string(unavailable)}: may not be 0 when `maxSurge` is 0",
                    ))
                elif not is_zero(unavailable) and not is_zero(surge):
                    errs.append(FieldError(
                        "FieldValueInvalid", f"{at}.maxUnavailable",
                        f"{go_int_or_string(unavailable)}: may not be set when maxSurge is non-zero",
                    ))
        return errs

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        status = obj.get("status") or {}
        errs: list[FieldError] = []
        for key in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
                    "observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
                    "collisionCount"):
            errs += non_negative(status.get(key), f"status.{key}")
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Desired", doc("V1DaemonSetStatus", "desiredNumberScheduled"), type="integer"),
            column("Current", doc("V1DaemonSetStatus", "currentNumberScheduled"), type="integer"),
            column("Ready", doc("V1DaemonSetStatus", "numberReady"), type="integer"),
            column("Up-to-date", doc("V1DaemonSetStatus", "updatedNumberScheduled"), type="integer"),
            column("Available", doc("V1DaemonSetStatus", "numberAvailable"), type="integer"),
            column("Node Selector", doc("V1PodSpec", "nodeSelector")),
            age_column(),
            *containers_columns(),
            column("Selector", doc("V1DaemonSetSpec", "selector"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        return [
            name_of(obj),
            status.get("desiredNumberScheduled") or 0,
            status.get("currentNumberScheduled") or 0,
            status.get("numberReady") or 0,
            status.get("updatedNumberScheduled") or 0,
            status.get("numberAvailable") or 0,
            format_labels(pod_spec.get("nodeSelector")),
            age_of(obj, now),
            *container_cells(pod_spec),
            format_label_selector(spec.get("selector")),
        ]
