"""What every pod-template workload shares: generation, template checks, the scale numbers.

Mirrors ``ValidatePodTemplateSpecForReplicaSet`` (``pkg/apis/apps/validation``) and the
common shape of the apps strategies: ``generation`` counts spec changes, the status is
written only through ``/status``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources import podspec_validation
from kubelab.apiserver.resources.base import ResourceStrategy
from kubelab.apiserver.resources.podspec import default_pod_template
from kubelab.apiserver.resources.podspec_validation import non_negative
from kubelab.apiserver.resources.selectors import immutable_selector, validate_workload_selector

Obj = dict[str, Any]


class WorkloadStrategy(ResourceStrategy):
    """A controller of pods from a template: Deployment, ReplicaSet, StatefulSet, DaemonSet."""

    has_status = True
    tracks_generation = True
    kind_name = "workload"
    """How upstream names the kind in ``empty selector is invalid for <kind>``."""

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            default_pod_template(spec.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [field.required("spec", "")]
        errs = non_negative(spec.get("replicas"), "spec.replicas")
        errs += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        errs += non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        errs += validate_workload_selector(spec, self.kind_name)
        errs += validate_template_for_controller(spec.get("template"), "spec.template")
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        return self.validate(obj) + immutable_selector(obj.get("spec") or {}, old.get("spec") or {})


def validate_template_for_controller(template: Any, path: str) -> list[FieldError]:
    """The pod template of a long-running controller: valid, restartPolicy Always, no deadline."""
    errs = podspec_validation.validate_pod_template(template, path)
    spec = (template or {}).get("spec") if isinstance(template, dict) else None
    if isinstance(spec, dict):
        policy = spec.get("restartPolicy")
        if policy and policy != "Always":
            errs.append(field.not_supported(f"{path}.spec.restartPolicy", policy, ["Always"]))
        if spec.get("activeDeadlineSeconds") is not None:
            errs.append(field.forbidden(
                f"{path}.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported",
            ))
    return errs


def int_or_percent(value: Any, path: str) -> list[FieldError]:
    """``ValidatePositiveIntOrPercent``: a non-negative integer or a percentage such as ``25%``."""
    if isinstance(value, str):
        return [field.invalid(path, value, msg) for msg in validation.is_valid_percent(value)]
    if isinstance(value, int) and not isinstance(value, bool):
        return non_negative(value, path)
    return [field.invalid(path, value, "must be an integer or percentage (e.g '5%')")]


def not_more_than_100_percent(value: Any, path: str) -> list[FieldError]:
    """``IsNotMoreThan100Percent``: a percentage above 100% is refused."""
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit() and int(value[:-1]) > 100:
        return [field.invalid(path, value, "must not be greater than 100%")]
    return []


def go_int_or_string(value: Any) -> str:
    """An ``intstr.IntOrString`` as Go's ``%#v`` prints it in upstream messages."""
    if isinstance(value, str):
        return f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{field.go_quote(value)}}}"
    return f"intstr.IntOrString{{Type:0, IntVal:{value or 0}, StrVal:\"\"}}"


def is_zero(value: Any) -> bool:
    """Whether an int-or-percent is zero (``0`` or ``0%``); None counts as zero."""
    return value in (None, 0, "0%")
