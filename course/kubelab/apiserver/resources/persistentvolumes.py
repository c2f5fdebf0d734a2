"""PersistentVolumes: defaults, validation, the ``kubectl get persistentvolumes`` table.

Mirrors ``pkg/registry/core/persistentvolume/strategy.go``, ``SetDefaults_PersistentVolume``,
``ValidatePersistentVolume`` and ``printPersistentVolume``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy, child, set_default
from kubelab.apiserver.resources.columns import (
    age_column,
    age_of,
    column,
    deleting,
    doc,
    name_column,
    name_of,
)
from kubelab.apiserver.resources.persistentvolumeclaims import access_modes_text, validate_access_modes
from kubelab.apiserver.resources.podspec_validation import quantity

Obj = dict[str, Any]
SOURCES = (
    "hostPath", "local", "nfs", "csi", "iscsi", "fc", "gcePersistentDisk", "awsElasticBlockStore", "azureDisk",
    "azureFile", "cephfs", "cinder", "flexVolume", "flocker", "glusterfs", "photonPersistentDisk", "portworxVolume",
    "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume",
)
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


class PersistentVolumeStrategy(ResourceStrategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        spec = child(obj, "spec")
        if not spec.get("persistentVolumeReclaimPolicy"):
            spec["persistentVolumeReclaimPolicy"] = "Retain"
        set_default(spec, "volumeMode", "Filesystem")
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Pending"

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending"}

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec") or {}
        errs = validate_access_modes(spec.get("accessModes"), "spec.accessModes")
        capacity = spec.get("capacity") or {}
        if "storage" not in capacity:
            errs.append(field.required("spec.capacity", ""))
        else:
            amount = quantity(capacity["storage"])
            if amount is None or amount.nanos <= 0:
                errs.append(field.invalid("spec.capacity[storage]", str(capacity["storage"]), "must be greater than zero"))
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy not in RECLAIM_POLICIES:
            errs.append(field.not_supported("spec.persistentVolumeReclaimPolicy", policy or "", RECLAIM_POLICIES))
        sources = [s for s in SOURCES if spec.get(s) is not None]
        if not sources:
            errs.append(field.required("spec", "must specify a volume type"))
        elif len(sources) > 1:
            errs.append(field.forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type"))
        elif sources[0] == "hostPath" and not (spec["hostPath"] or {}).get("path"):
            errs.append(field.required("spec.hostPath.path", ""))
        elif sources[0] == "local" and not (spec["local"] or {}).get("path"):
            errs.append(field.required("spec.local.path", ""))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        if spec.get("volumeMode") != old_spec.get("volumeMode"):
            errs.append(field.invalid("spec.volumeMode", spec.get("volumeMode"), "field is immutable"))
        for source in SOURCES:
            if old_spec.get(source) is not None and spec.get(source) != old_spec.get(source):
                errs.append(field.forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
                break
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Capacity", doc("V1PersistentVolumeSpec", "capacity")),
            column("Access Modes", doc("V1PersistentVolumeSpec", "accessModes")),
            column("Reclaim Policy", doc("V1PersistentVolumeSpec", "persistentVolumeReclaimPolicy")),
            column("Status", doc("V1PersistentVolumeStatus", "phase")),
            column("Claim", doc("V1PersistentVolumeSpec", "claimRef")),
            column("StorageClass", "StorageClass of the pv"),
            column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
            column("Reason", doc("V1PersistentVolumeStatus", "reason")),
            age_column(),
            column("VolumeMode", doc("V1PersistentVolumeSpec", "volumeMode"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        claim = spec.get("claimRef")
        claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if isinstance(claim, dict) else ""
        storage_class = ((obj.get("metadata") or {}).get("annotations") or {}).get(STORAGE_CLASS_ANNOTATION)
        return [
            name_of(obj), str((spec.get("capacity") or {}).get("storage") or "0"), access_modes_text(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy") or "", "Terminating" if deleting(obj) else status.get("phase") or "",
            claim_text, storage_class if storage_class is not None else spec.get("storageClassName") or "",
            spec.get("volumeAttributesClassName") or "<unset>", status.get("reason") or "", age_of(obj, now),
            spec.get("volumeMode") or "<unset>",
        ]
