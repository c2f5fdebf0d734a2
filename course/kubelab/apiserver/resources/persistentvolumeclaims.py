"""PersistentVolumeClaims: defaults, validation (what may change once created), the table.

Mirrors ``pkg/registry/core/persistentvolumeclaim/strategy.go``,
``SetDefaults_PersistentVolumeClaim(Spec)``, ``ValidatePersistentVolumeClaim(Update)`` and
``printPersistentVolumeClaim``.
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
from kubelab.apiserver.resources.podspec_validation import quantity

Obj = dict[str, Any]
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
_SHORT_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


class PersistentVolumeClaimStrategy(ResourceStrategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        set_default(child(obj, "spec"), "volumeMode", "Filesystem")
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Pending"

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending"}

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec") or {}
        errs = validate_access_modes(spec.get("accessModes"), "spec.accessModes")
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None:
            errs.append(field.required("spec.resources[storage]", ""))
        else:
            amount = quantity(storage)
            if amount is None or amount.nanos <= 0:
                errs.append(field.invalid("spec.resources[storage]", str(storage), "must be greater than zero"))
        mode = spec.get("volumeMode")
        if mode not in (None, "Block", "Filesystem"):
            errs.append(field.not_supported("spec.volumeMode", mode, ["Block", "Filesystem"]))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        fixed = {k: v for k, v in spec.items() if k not in ("resources", "volumeAttributesClassName", "volumeName")}
        old_fixed = {k: v for k, v in old_spec.items() if k not in ("resources", "volumeAttributesClassName", "volumeName")}
        if old_spec.get("volumeName") and spec.get("volumeName") != old_spec["volumeName"]:
            fixed["volumeName"] = spec.get("volumeName")
            old_fixed["volumeName"] = old_spec["volumeName"]
        if fixed != old_fixed:
            errs.append(field.forbidden(
                "spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ))
        new_size = quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
        old_size = quantity(((old_spec.get("resources") or {}).get("requests") or {}).get("storage"))
        if new_size is not None and old_size is not None and new_size != old_size:
            if not old_spec.get("volumeName"):
                errs.append(field.forbidden(
                    "spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ))
            elif new_size < old_size:
                errs.append(field.forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Status", doc("V1PersistentVolumeClaimStatus", "phase")),
            column("Volume", doc("V1PersistentVolumeClaimSpec", "volumeName")),
            column("Capacity", doc("V1PersistentVolumeClaimStatus", "capacity")),
            column("Access Modes", doc("V1PersistentVolumeClaimStatus", "accessModes")),
            column("StorageClass", "StorageClass of the pvc"),
            column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
            age_column(),
            column("VolumeMode", doc("V1PersistentVolumeClaimSpec", "volumeMode"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        phase = "Terminating" if deleting(obj) else status.get("phase") or ""
        capacity = modes = ""
        if spec.get("volumeName"):
            modes = access_modes_text(status.get("accessModes"))
            capacity = str((status.get("capacity") or {}).get("storage") or "0")
        storage_class = ((obj.get("metadata") or {}).get("annotations") or {}).get(STORAGE_CLASS_ANNOTATION)
        return [
            name_of(obj), phase, spec.get("volumeName") or "", capacity, modes,
            storage_class if storage_class is not None else spec.get("storageClassName") or "",
            spec.get("volumeAttributesClassName") or "<unset>", age_of(obj, now), spec.get("volumeMode") or "<unset>",
        ]


def validate_access_modes(modes: Any, path: str) -> list[FieldError]:
    if not modes:
        return [field.required(path, "at least 1 access mode is required")]
    errs = [field.not_supported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(field.forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def access_modes_text(modes: Any) -> str:
    """``GetAccessModesAsString``: ``RWO,ROX,RWX,RWOP`` in that order, for the modes present."""
    present = set(modes or [])
    return ",".join(short for mode, short in _SHORT_MODES if mode in present)
