"""Secrets: type Opaque by default, stringData folded into data, per-type required keys, table.

Mirrors ``pkg/registry/core/secret/strategy.go``, ``SetDefaults_Secret``, the v1 conversion
of ``stringData``, ``ValidateSecret`` / ``ValidateSecretUpdate`` and ``printSecret``.
"""

from __future__ import annotations

import base64
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of
from kubelab.apiserver.resources.configmaps import MAX_SIZE, validate_immutable_data

Obj = dict[str, Any]
REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


class SecretStrategy(ResourceStrategy):
    def default(self, obj: Obj) -> None:
        if not obj.get("type"):
            obj["type"] = "Opaque"
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data")
            if not isinstance(data, dict):
                data = obj["data"] = {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        data = obj.get("data") or {}
        size = 0
        for key, value in data.items():
            errs += [field.invalid(f"data[{key}]", key, m) for m in validation.is_config_map_key(key)]
            try:
                size += len(base64.b64decode(str(value), validate=True))
            except ValueError:  # binascii.Error, or non-ASCII text
                errs.append(field.invalid(f"data[{key}]", "<secret contents redacted>", "illegal base64 data"))
        if size > MAX_SIZE:
            errs.append(field.too_long("data", "", MAX_SIZE))
        kind = obj.get("type")
        for key in REQUIRED_KEYS.get(str(kind), ()):
            if key not in data:
                errs.append(field.required(f"data[{key}]", ""))
        if kind == "kubernetes.io/service-account-token":
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            if not annotations.get("kubernetes.io/service-account.name"):
                errs.append(field.required("metadata.annotations[kubernetes.io/service-account.name]", ""))
        if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
            errs.append(field.required("data[username]", ""))
            errs.append(field.required("data[password]", ""))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        if obj.get("type") != old.get("type"):
            errs.append(field.invalid("type", obj.get("type"), validation.FIELD_IMMUTABLE_ERROR_MSG))
        return errs + validate_immutable_data(obj, old, ("data",))

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["type"] = obj.get("type") or ""
        return fields

    def table_columns(self) -> list[Obj]:
        return [name_column(), column("Type", doc("V1Secret", "type")), column("Data", doc("V1Secret", "data")), age_column()]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return [name_of(obj), obj.get("type") or "", len(obj.get("data") or {}), age_of(obj, now)]
