"""ServiceAccounts: validation of the secrets they list, the ``kubectl get serviceaccounts`` table.

Mirrors ``pkg/registry/core/serviceaccount/strategy.go`` and ``printServiceAccount``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy, items
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of
from kubelab.apiserver.resources.podspec_validation import dns_subdomain

Obj = dict[str, Any]


class ServiceAccountStrategy(ResourceStrategy):
    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for key in ("secrets", "imagePullSecrets"):
            for i, ref in enumerate(items(obj, key)):
                if not ref.get("name"):
                    errs.append(field.required(f"{key}[{i}].name", ""))
                else:
                    errs += dns_subdomain(ref["name"], f"{key}[{i}].name")
        return errs

    def table_columns(self) -> list[Obj]:
        return [name_column(), column("Secrets", doc("V1ServiceAccount", "secrets")), age_column()]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return [name_of(obj), len(obj.get("secrets") or []), age_of(obj, now)]
