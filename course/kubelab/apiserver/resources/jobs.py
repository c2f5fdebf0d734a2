"""Jobs: defaults, the generated selector, validation, the ``kubectl get jobs`` table.

Mirrors ``pkg/registry/batch/job/strategy.go`` (``generateSelector``),
``pkg/apis/batch/v1/defaults.go``, ``ValidateJob`` / ``ValidateJobSpecUpdate`` and ``printJob``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.api.meta import human_duration, parse_time
from kubelab.apiserver.resources import podspec_validation
from kubelab.apiserver.resources.base import ResourceStrategy, child, items, set_default
from kubelab.apiserver.resources.columns import (
    age_column,
    age_of,
    column,
    container_cells,
    containers_columns,
    deleting,
    doc,
    format_label_selector,
    name_column,
    name_of,
)
from kubelab.apiserver.resources.podspec import default_pod_template
from kubelab.apiserver.resources.podspec_validation import non_negative
from kubelab.apiserver.resources.selectors import immutable_selector, selector_matches

Obj = dict[str, Any]
MAX_INT32 = 2**31 - 1
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
_SUSPENDED_MUTABLE = ("nodeSelector", "tolerations", "affinity", "schedulingGates")
_LEGACY_LABELS = {"controller-uid": CONTROLLER_UID_LABEL, "job-name": JOB_NAME_LABEL}


class JobStrategy(ResourceStrategy):
    has_status = True
    tracks_generation = True

    def default(self, obj: Obj) -> None:
        spec = child(obj, "spec")
        default_pod_template(spec.get("template"))
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
            spec["parallelism"] = 1
        set_default(spec, "parallelism", 1)
        set_default(spec, "backoffLimit", MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        meta = child(obj, "metadata")
        if template_labels and not meta.get("labels"):
            meta["labels"] = copy.deepcopy(template_labels)
        set_default(spec, "completionMode", "NonIndexed")
        set_default(spec, "suspend", False)
        set_default(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
        for rule in items(spec.get("podFailurePolicy"), "rules"):
            for condition in items(rule, "onPodConditions"):
                set_default(condition, "status", "True")

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        if not (obj.get("spec") or {}).get("manualSelector"):
            generate_selector(obj)

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [field.required("spec", "")]
        errs: list[FieldError] = []
        for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
            errs += non_negative(spec.get(key), f"spec.{key}")
        deadline = spec.get("activeDeadlineSeconds")
        if isinstance(deadline, int) and deadline == 0:
            errs.append(field.invalid("spec.activeDeadlineSeconds", deadline, "must be greater than 0"))
        mode = spec.get("completionMode")
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(field.not_supported("spec.completionMode", mode or "", ["NonIndexed", "Indexed"]))
        elif mode == "Indexed" and spec.get("completions") is None:
            errs.append(field.required("spec.completions", "when completion mode is Indexed"))
        selector = spec.get("selector")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if selector is None:
            errs.append(field.required("spec.selector", ""))
        else:
            errs += validation.validate_label_selector(selector, "spec.selector")
            if not selector_matches(selector, labels):
                errs.append(field.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
        if not spec.get("manualSelector"):
            uid = (obj.get("metadata") or {}).get("uid")
            if uid and labels.get(CONTROLLER_UID_LABEL) != uid:
                errs.append(field.invalid("spec.template.metadata.labels", labels, "`selector` not auto-generated"))
        template = spec.get("template")
        errs += podspec_validation.validate_pod_template(template, "spec.template")
        policy = ((template or {}).get("spec") or {}).get("restartPolicy") if isinstance(template, dict) else None
        if policy and policy not in ("OnFailure", "Never"):
            errs.append(field.not_supported("spec.template.spec.restartPolicy", policy, ["OnFailure", "Never"]))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        errs += immutable_selector(spec, old_spec)
        for key in ("completions", "completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
            if spec.get(key) != old_spec.get(key):
                errs.append(field.invalid(f"spec.{key}", spec.get(key), "field is immutable"))
        if spec.get("template") != old_spec.get("template") and not _may_change_template(spec, old):
            errs.append(field.invalid("spec.template", spec.get("template"), "field is immutable"))
        return errs

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        status = obj.get("status") or {}
        errs: list[FieldError] = []
        for key in ("active", "succeeded", "failed", "ready", "terminating"):
            errs += non_negative(status.get(key), f"status.{key}")
        return errs

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["status.successful"] = str((obj.get("status") or {}).get("succeeded") or 0)
        return fields

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Status", "Status of the job."),
            column("Completions", doc("V1JobStatus", "succeeded")),
            column("Duration", "Time required to complete the job."),
            age_column(),
            *containers_columns(),
            column("Selector", doc("V1JobSpec", "selector"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        succeeded = status.get("succeeded") or 0
        if spec.get("completions") is not None:
            completions = f"{succeeded}/{spec['completions']}"
        elif (spec.get("parallelism") or 0) > 1:
            completions = f"{succeeded}/1 of {spec['parallelism']}"
        else:
            completions = f"{succeeded}/1"
        duration = ""
        if status.get("startTime"):
            end = parse_time(status["completionTime"]) if status.get("completionTime") else now
            duration = human_duration(end - parse_time(status["startTime"]))
        return [
            name_of(obj), job_status(obj), completions, duration, age_of(obj, now),
            *container_cells((spec.get("template") or {}).get("spec")),
            format_label_selector(spec.get("selector")),
        ]


def _may_change_template(spec: Obj, old: Obj) -> bool:
    """A suspended Job that never started may change its template's scheduling directives."""
    old_spec = old.get("spec") or {}
    if not (old_spec.get("suspend") and spec.get("suspend")) or (old.get("status") or {}).get("startTime"):
        return False
    return _fixed_part(spec.get("template")) == _fixed_part(old_spec.get("template"))


def _fixed_part(template: Obj | None) -> Obj:
    template = template or {}
    spec = {k: v for k, v in (template.get("spec") or {}).items() if k not in _SUSPENDED_MUTABLE}
    meta = {k: v for k, v in (template.get("metadata") or {}).items() if k not in ("labels", "annotations")}
    return {**template, "spec": spec, "metadata": meta}


def generate_selector(job: Obj) -> None:
    """Label the template with the job's name and uid, and select on the uid (``generateSelector``)."""
    meta = job.get("metadata") or {}
    spec = child(job, "spec")
    labels = child(child(child(spec, "template"), "metadata"), "labels")
    for legacy, label in _LEGACY_LABELS.items():
        value = meta.get("name", "") if label == JOB_NAME_LABEL else meta.get("uid", "")
        labels.setdefault(legacy, value)
        labels.setdefault(label, value)
    selector = child(spec, "selector")
    child(selector, "matchLabels").setdefault(CONTROLLER_UID_LABEL, meta.get("uid", ""))


def _condition(obj: Obj, kind: str) -> bool:
    for cond in items(obj.get("status"), "conditions"):
        if cond.get("type") == kind:
            return cond.get("status") == "True"
    return False


def job_status(job: Obj) -> str:
    """The STATUS cell: Complete, Failed, Terminating, Suspended, FailureTarget or Running."""
    if _condition(job, "Complete"):
        return "Complete"
    if _condition(job, "Failed"):
        return "Failed"
    if deleting(job):
        return "Terminating"
    if _condition(job, "Suspended"):
        return "Suspended"
    if _condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"
