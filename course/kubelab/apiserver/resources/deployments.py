"""Deployments: defaults, validation, the ``kubectl get deployments`` table.

Mirrors ``pkg/registry/apps/deployment/strategy.go``, ``pkg/apis/apps/v1/defaults.go``
(``SetDefaults_Deployment``) and ``ValidateDeploymentSpec`` / ``printDeployment``.
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
from kubelab.apiserver.resources.workloads import (
    WorkloadStrategy,
    go_int_or_string,
    int_or_percent,
    is_zero,
    not_more_than_100_percent,
)

Obj = dict[str, Any]
STRATEGY_TYPES = ["Recreate", "RollingUpdate"]


class DeploymentStrategy(WorkloadStrategy):
    kind_name = "deployment"

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = child(obj, "spec")
        set_default(spec, "replicas", 1)
        strategy = child(spec, "strategy")
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            rolling = child(strategy, "rollingUpdate")
            set_default(rolling, "maxUnavailable", "25%")
            set_default(rolling, "maxSurge", "25%")
        set_default(spec, "revisionHistoryLimit", 10)
        set_default(spec, "progressDeadlineSeconds", 600)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs
        errs += _validate_strategy(spec.get("strategy") or {}, "spec.strategy")
        deadline = spec.get("progressDeadlineSeconds")
        if isinstance(deadline, int):
            errs += non_negative(deadline, "spec.progressDeadlineSeconds")
            if deadline <= (spec.get("minReadySeconds") or 0):
                errs.append(field.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
        return errs

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        status = obj.get("status") or {}
        errs: list[FieldError] = []
        for key in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                    "unavailableReplicas", "terminatingReplicas", "collisionCount"):
            errs += non_negative(status.get(key), f"status.{key}")
        replicas = status.get("replicas") or 0
        for key in ("availableReplicas", "readyReplicas"):
            if (status.get(key) or 0) > replicas:
                errs.append(field.invalid(f"status.{key}", status[key], "cannot be greater than status.replicas"))
        if (status.get("availableReplicas") or 0) > (status.get("readyReplicas") or 0):
            errs.append(field.invalid("status.availableReplicas", status["availableReplicas"], "cannot be greater than readyReplicas"))
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Ready", "Number of the pod with ready state"),
            column("Up-to-date", doc("V1DeploymentStatus", "updatedReplicas")),
            column("Available", doc("V1DeploymentStatus", "availableReplicas")),
            age_column(),
            *containers_columns(),
            column("Selector", doc("V1DeploymentSpec", "selector"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        selector = format_label_selector(spec.get("selector"))
        return [
            name_of(obj),
            f"{status.get('readyReplicas') or 0}/{spec.get('replicas') or 0}",
            status.get("updatedReplicas") or 0,
            status.get("availableReplicas") or 0,
            age_of(obj, now),
            *container_cells((spec.get("template") or {}).get("spec")),
            "" if selector == "<none>" else selector,
        ]


def _validate_strategy(strategy: Obj, path: str) -> list[FieldError]:
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [field.forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind != "RollingUpdate":
        return [field.not_supported(f"{path}.type", kind or "", STRATEGY_TYPES)]
    if not isinstance(rolling, dict):
        return [field.required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
    at = f"{path}.rollingUpdate"
    errs = int_or_percent(rolling.get("maxUnavailable"), f"{at}.maxUnavailable")
    errs += int_or_percent(rolling.get("maxSurge"), f"{at}.maxSurge")
    if is_zero(rolling.get("maxUnavailable")) and is_zero(rolling.get("maxSurge")):
        errs.append(field.FieldError(
            "FieldValueInvalid", f"{at}.maxUnavailable",
            f"{go_int_or_string(rolling.get('maxUnavailable'))}: may not be 0 when `maxSurge` is 0",
        ))
    return errs + not_more_than_100_percent(rolling.get("maxUnavailable"), f"{at}.maxUnavailable")
