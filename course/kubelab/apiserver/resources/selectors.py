"""Label selectors of workloads: matching a pod template's labels, and the checks every workload shares.

Mirrors ``metav1.LabelSelectorAsSelector(...).Matches`` and the selector part of
``ValidateDeploymentSpec`` / ``ValidateReplicaSetSpec`` / ``ValidateStatefulSetSpec`` / ``ValidateDaemonSetSpec``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.api.selectors import LabelSelector, SelectorError

Obj = dict[str, Any]


def as_decoded(selector: Any) -> Obj | None:
    """A ``LabelSelector`` as Go decodes it: null strings become ``""``, null lists empty."""
    if not isinstance(selector, dict):
        return None
    labels = selector.get("matchLabels")
    expressions = selector.get("matchExpressions")
    return {
        "matchLabels": {str(k): "" if v is None else str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        "matchExpressions": [
            {"key": str(e.get("key") or ""), "operator": str(e.get("operator") or ""),
             "values": ["" if v is None else str(v) for v in e.get("values") or []]}
            for e in expressions if isinstance(e, dict)
        ] if isinstance(expressions, list) else [],
    }


def selector_matches(selector: Obj | None, labels: dict[str, str] | None) -> bool:
    """Whether ``labels`` satisfy a ``LabelSelector``; an unparsable selector matches nothing."""
    try:
        return LabelSelector.from_label_selector(as_decoded(selector)).matches(labels)
    except SelectorError:
        return False


def is_empty(selector: Obj | None) -> bool:
    return not (selector or {}).get("matchLabels") and not (selector or {}).get("matchExpressions")


def go_label_selector(selector: Obj | None) -> str:
    """A selector as Go's ``%#v`` prints a ``v1.LabelSelector``: how upstream messages show it."""
    if selector is None:
        return "null"
    labels = selector.get("matchLabels")
    labels_text = (
        "map[string]string{" + ", ".join(f"{field.go_quote(k)}:{field.go_quote(str(v))}" for k, v in sorted(labels.items())) + "}"
        if labels else "map[string]string(nil)"
    )
    expressions = selector.get("matchExpressions")
    if expressions:
        rendered = []
        for e in expressions:
            values = e.get("values")
            values_text = "[]string{" + ", ".join(field.go_quote(str(v)) for v in values) + "}" if values else "[]string(nil)"
            rendered.append(
                f"v1.LabelSelectorRequirement{{Key:{field.go_quote(str(e.get('key', '')))}, "
                f"Operator:{field.go_quote(str(e.get('operator', '')))}, Values:{values_text}}}"
            )
        expressions_text = "[]v1.LabelSelectorRequirement{" + ", ".join(rendered) + "}"
    else:
        expressions_text = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{labels_text}, MatchExpressions:{expressions_text}}}"


def validate_workload_selector(spec: Obj, kind: str, path: str = "spec") -> list[FieldError]:
    """Selector required and non-empty, valid, and matching ``template.metadata.labels``."""
    selector = spec.get("selector")
    if selector is None:
        return [field.required(f"{path}.selector", "")]
    errs = validation.validate_label_selector(selector, f"{path}.selector")
    if errs:
        return errs
    if is_empty(selector):
        return [FieldError(
            "FieldValueInvalid", f"{path}.selector", f"{go_label_selector(selector)}: empty selector is invalid for {kind}",
        )]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector_matches(selector, labels):
        return [field.invalid(f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`")]
    return []


def immutable_selector(new: Obj, old: Obj, path: str = "spec.selector") -> list[FieldError]:
    """``field is immutable`` for a changed selector, with the selector shown as upstream shows it."""
    if (new.get("selector") or None) != (old.get("selector") or None):
        return [FieldError("FieldValueInvalid", path, f"{go_label_selector(new.get('selector'))}: field is immutable")]
    return []
