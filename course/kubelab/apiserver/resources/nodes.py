"""Nodes: defaults, taints, the ``kubernetes`` node table with STATUS and ROLES.

Mirrors ``pkg/registry/core/node/strategy.go``, ``SetDefaults_NodeStatus``, ``ValidateNode``
and ``printNode``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy, items
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of
from kubelab.apiserver.resources.podspec_validation import TAINT_EFFECTS

Obj = dict[str, Any]
ROLE_PREFIX = "node-role.kubernetes.io/"
ROLE_LABEL = "kubernetes.io/role"


class NodeStrategy(ResourceStrategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        status = obj.get("status")
        if isinstance(status, dict) and status.get("allocatable") is None and status.get("capacity") is not None:
            status["allocatable"] = copy.deepcopy(status["capacity"])

    def prepare_for_create(self, obj: Obj) -> None:
        """A kubelet registers its node with its status already filled in: keep it."""

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec") or {}
        errs: list[FieldError] = []
        for key in ("podCIDR",):
            if spec.get(key):
                errs += [field.invalid(f"spec.{key}", spec[key], m) for m in validation.is_valid_cidr(spec[key])]
        for i, cidr in enumerate(spec.get("podCIDRs") or []):
            errs += [field.invalid(f"spec.podCIDRs[{i}]", cidr, m) for m in validation.is_valid_cidr(str(cidr))]
        errs += validate_taints(spec.get("taints"), "spec.taints")
        return errs + self.validate_status_update(obj, obj)

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, address in enumerate(items(obj.get("status"), "addresses")):
            kind = address.get("type")
            supported = ["ExternalDNS", "ExternalIP", "Hostname", "InternalDNS", "InternalIP"]
            if kind not in supported:
                errs.append(field.not_supported(f"status.addresses[{i}].type", kind or "", supported))
        return errs

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["spec.unschedulable"] = "true" if (obj.get("spec") or {}).get("unschedulable") else "false"
        return fields

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Status", "The status of the node"),
            column("Roles", "The roles of the node"),
            age_column(),
            column("Version", doc("V1NodeSystemInfo", "kubeletVersion")),
            column("Internal-IP", doc("V1NodeStatus", "addresses"), priority=1),
            column("External-IP", doc("V1NodeStatus", "addresses"), priority=1),
            column("OS-Image", doc("V1NodeSystemInfo", "osImage"), priority=1),
            column("Kernel-Version", doc("V1NodeSystemInfo", "kernelVersion"), priority=1),
            column("Container-Runtime", doc("V1NodeSystemInfo", "containerRuntimeVersion"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        status = obj.get("status") or {}
        info = status.get("nodeInfo") or {}
        return [
            name_of(obj), node_status(obj), ",".join(node_roles(obj)) or "<none>", age_of(obj, now),
            info.get("kubeletVersion") or "",
            _address(obj, "InternalIP"), _address(obj, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>",
        ]


def node_status(node: Obj) -> str:
    """The STATUS cell: ``Ready``, ``NotReady``, ``Unknown``, with ``,SchedulingDisabled`` when cordoned."""
    parts = []
    for cond in items(node.get("status"), "conditions"):
        if cond.get("type") == "Ready":
            parts = ["Ready" if cond.get("status") == "True" else "NotReady"]
    parts = parts or ["Unknown"]
    if (node.get("spec") or {}).get("unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: Obj) -> list[str]:
    """Roles from ``node-role.kubernetes.io/<role>`` labels and the ``kubernetes.io/role`` label, sorted."""
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith(ROLE_PREFIX) and key[len(ROLE_PREFIX):]:
            roles.add(key[len(ROLE_PREFIX):])
        elif key == ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _address(node: Obj, kind: str) -> str:
    for address in items(node.get("status"), "addresses"):
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def validate_taints(taints: Any, path: str) -> list[FieldError]:
    """Each taint: a qualified key, a label-valid value, a supported effect, no duplicate key+effect."""
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints if isinstance(taints, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(taint, dict):
            continue
        key, effect = str(taint.get("key") or ""), taint.get("effect")
        errs += [field.invalid(f"{at}.key", key, m) for m in validation.is_qualified_name(key)]
        value = str(taint.get("value") or "")
        errs += [field.invalid(f"{at}.value", value, m) for m in validation.is_valid_label_value(value)]
        if not effect:
            errs.append(field.required(f"{at}.effect", ""))
        elif effect not in TAINT_EFFECTS:
            errs.append(field.not_supported(f"{at}.effect", effect, TAINT_EFFECTS))
        if (key, str(effect)) in seen:
            errs.append(field.duplicate(at, taint))
        seen.add((key, str(effect)))
    return errs
