"""StatefulSets: defaults, validation (what an update may change), the ``kubectl get statefulsets`` table.

Mirrors ``pkg/registry/apps/statefulset/strategy.go``, ``SetDefaults_StatefulSet``,
``ValidateStatefulSetSpec`` / ``ValidateStatefulSetUpdate`` and ``printStatefulSet``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import child, items, set_default
from kubelab.apiserver.resources.columns import (
    age_column,
    age_of,
    column,
    container_cells,
    containers_columns,
    name_column,
    name_of,
)
from kubelab.apiserver.resources.podspec_validation import dns_subdomain, non_negative
from kubelab.apiserver.resources.workloads import WorkloadStrategy

Obj = dict[str, Any]
_UPDATABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)


class StatefulSetStrategy(WorkloadStrategy):
    kind_name = "statefulset"

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = child(obj, "spec")
        if not spec.get("podManagementPolicy"):
            spec["podManagementPolicy"] = "OrderedReady"
        strategy = child(spec, "updateStrategy")
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
            set_default(strategy, "rollingUpdate", {})
        if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
            set_default(strategy["rollingUpdate"], "partition", 0)
        retention = child(spec, "persistentVolumeClaimRetentionPolicy")
        for key in ("whenDeleted", "whenScaled"):
            if not retention.get(key):
                retention[key] = "Retain"
        set_default(spec, "replicas", 1)
        set_default(spec, "revisionHistoryLimit", 10)
        for claim in items(spec, "volumeClaimTemplates"):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            set_default(child(claim, "spec"), "volumeMode", "Filesystem")
            status = child(claim, "status")
            if not status.get("phase"):
                status["phase"] = "Pending"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs
        service = spec.get("serviceName")
        if service:
            errs += dns_subdomain(service, "spec.serviceName")
        policy = spec.get("podManagementPolicy")
        if not policy:
            errs.append(field.required("spec.podManagementPolicy", ""))
        elif policy not in ("OrderedReady", "Parallel"):
            errs.append(field.invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
        strategy = spec.get("updateStrategy") or {}
        kind = strategy.get("type")
        if not kind:
            errs.append(field.required("spec.updateStrategy", ""))
        elif kind == "OnDelete":
            if strategy.get("rollingUpdate") is not None:
                errs.append(field.invalid(
                    "spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"], "only allowed for updateStrategy 'RollingUpdate'",
                ))
        elif kind == "RollingUpdate":
            errs += non_negative((strategy.get("rollingUpdate") or {}).get("partition"), "spec.updateStrategy.rollingUpdate.partition")
        else:
            errs.append(field.invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
        for i, claim in enumerate(items(spec, "volumeClaimTemplates")):
            name = (claim.get("metadata") or {}).get("name")
            if not name:
                errs.append(field.required(f"spec.volumeClaimTemplates[{i}].metadata.name", "name or generateName is required"))
            else:
                errs += dns_subdomain(name, f"spec.volumeClaimTemplates[{i}].metadata.name")
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(obj, old)
        spec, old_spec = copy.deepcopy(obj.get("spec") or {}), old.get("spec") or {}
        for key in (*_UPDATABLE, "revisionHistoryLimit"):
            spec.pop(key, None)
        frozen_old = {k: v for k, v in old_spec.items() if k not in (*_UPDATABLE, "revisionHistoryLimit")}
        if _strip_claim_status(spec) != _strip_claim_status(frozen_old):
            errs.append(field.forbidden("spec", _UPDATE_FORBIDDEN))
        return errs

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        status = obj.get("status") or {}
        errs: list[FieldError] = []
        for key in ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas",
                    "observedGeneration", "collisionCount"):
            errs += non_negative(status.get(key), f"status.{key}")
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Ready", "Number of the pod with ready state"),
            age_column(),
            *containers_columns(),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return [
            name_of(obj),
            f"{status.get('readyReplicas') or 0}/{spec.get('replicas') or 0}",
            age_of(obj, now),
            *container_cells((spec.get("template") or {}).get("spec")),
        ]


def _strip_claim_status(spec: Obj) -> Obj:
    # The claim templates' status is never part of the comparison: only their spec and metadata.
    claims = [{k: v for k, v in c.items() if k != "status"} for c in items(spec, "volumeClaimTemplates")]
    return dict(spec, volumeClaimTemplates=claims) if claims else spec
