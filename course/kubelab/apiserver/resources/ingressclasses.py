"""IngressClasses: the controller name and parameters, the ``kubectl get ingressclass`` table.

Mirrors ``pkg/registry/networking/ingressclass/strategy.go``, ``ValidateIngressClass`` and
``printIngressClass``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy
from kubelab.apiserver.resources.columns import age_column, age_of, column, name_column, name_of

Obj = dict[str, Any]
MAX_CONTROLLER_LENGTH = 250


class IngressClassStrategy(ResourceStrategy):
    tracks_generation = True

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec") or {}
        controller = str(spec.get("controller") or "")
        errs: list[FieldError] = []
        if not controller:
            errs.append(field.required("spec.controller", ""))
        elif len(controller) > MAX_CONTROLLER_LENGTH:
            errs.append(field.too_long("spec.controller", "", MAX_CONTROLLER_LENGTH))
        else:
            domain, slash, rest = controller.partition("/")
            if not slash or not rest or validation.is_dns1123_subdomain(domain):
                errs.append(field.invalid("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")'))
        params = spec.get("parameters")
        if isinstance(params, dict):
            for key in ("kind", "name"):
                if not params.get(key):
                    errs.append(field.required(f"spec.parameters.{key}", ""))
            scope = params.get("scope")
            if scope not in (None, "Cluster", "Namespace"):
                errs.append(field.not_supported("spec.parameters.scope", scope, ["Cluster", "Namespace"]))
            if scope == "Namespace" and not params.get("namespace"):
                errs.append(field.required("spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'"))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        new, prev = (obj.get("spec") or {}).get("controller"), (old.get("spec") or {}).get("controller")
        if new != prev:
            errs.append(field.invalid("spec.controller", new, validation.FIELD_IMMUTABLE_ERROR_MSG))
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Controller", "Controller that is responsible for handling this class"),
            column("Parameters", "A reference to a resource with additional parameters"),
            age_column(),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec = obj.get("spec") or {}
        params = spec.get("parameters")
        text = "<none>"
        if isinstance(params, dict):
            text = str(params.get("kind") or "")
            if params.get("apiGroup"):
                text += "." + str(params["apiGroup"])
            text += "/" + str(params.get("name") or "")
        return [name_of(obj), spec.get("controller") or "", text, age_of(obj, now)]
