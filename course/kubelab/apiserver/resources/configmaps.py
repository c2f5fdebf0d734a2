"""ConfigMaps: key validation, the 1 MiB limit, ``immutable``, the ``kubectl get configmaps`` table.

Mirrors ``pkg/registry/core/configmap/strategy.go``, ``ValidateConfigMap`` /
``ValidateConfigMapUpdate`` and ``printConfigMap``.
"""

from __future__ import annotations

import base64
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of

Obj = dict[str, Any]
MAX_SIZE = 1024 * 1024
IMMUTABLE_MESSAGE = "field is immutable when `immutable` is set"


class ConfigMapStrategy(ResourceStrategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
        size = 0
        for key, value in data.items():
            errs += [field.invalid(f"data[{key}]", key, m) for m in validation.is_config_map_key(key)]
            size += len(str(value).encode())
        for key, value in binary.items():
            errs += [field.invalid(f"binaryData[{key}]", key, m) for m in validation.is_config_map_key(key)]
            if key in data:
                errs.append(field.invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
            try:
                size += len(base64.b64decode(str(value), validate=True))
            except ValueError:  # binascii.Error, or non-ASCII text
                errs.append(field.invalid(f"binaryData[{key}]", "<binary data>", "illegal base64 data"))
        if size > MAX_SIZE:
            errs.append(field.too_long("", "", MAX_SIZE))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        return self.validate(obj) + validate_immutable_data(obj, old, ("data", "binaryData"))

    def table_columns(self) -> list[Obj]:
        return [name_column(), column("Data", doc("V1ConfigMap", "data")), age_column()]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
        return [name_of(obj), count, age_of(obj, now)]


def validate_immutable_data(obj: Obj, old: Obj, keys: tuple[str, ...]) -> list[FieldError]:
    """Once ``immutable: true``, neither the data nor the flag may change."""
    if not old.get("immutable"):
        return []
    errs = []
    if not obj.get("immutable"):
        errs.append(field.forbidden("immutable", IMMUTABLE_MESSAGE))
    for key in keys:
        if (obj.get(key) or {}) != (old.get(key) or {}):
            errs.append(field.forbidden(key, IMMUTABLE_MESSAGE))
    return errs
