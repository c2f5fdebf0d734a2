"""Ingresses: validation of rules, paths and backends, the ``kubectl get ingress`` table.

Mirrors ``pkg/registry/networking/ingress/strategy.go``, ``ValidateIngress`` /
``validateIngressBackend`` (``pkg/apis/networking/validation``) and ``printIngress``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy, items
from kubelab.apiserver.resources.columns import age_column, age_of, column, name_column, name_of

Obj = dict[str, Any]
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]


class IngressStrategy(ResourceStrategy):
    has_status = True
    tracks_generation = True

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec") or {}
        errs: list[FieldError] = []
        rules = items(spec, "rules")
        if not rules and spec.get("defaultBackend") is None:
            errs.append(field.invalid("spec", "", "either `defaultBackend` or `rules` must be specified"))
        if spec.get("defaultBackend") is not None:
            errs += validate_backend(spec["defaultBackend"], "spec.defaultBackend")
        class_name = spec.get("ingressClassName")
        if class_name:
            errs += [field.invalid("spec.ingressClassName", class_name, m) for m in validation.is_dns1123_subdomain(str(class_name))]
        for i, rule in enumerate(rules):
            errs += _validate_rule(rule, f"spec.rules[{i}]")
        for i, tls in enumerate(items(spec, "tls")):
            for j, host in enumerate(tls.get("hosts") or []):
                check = validation.is_wildcard_dns1123_subdomain if str(host).startswith("*") else validation.is_dns1123_subdomain
                errs += [field.invalid(f"spec.tls[{i}].hosts[{j}]", host, m) for m in check(str(host))]
        return errs

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, entry in enumerate(items(((obj.get("status") or {}).get("loadBalancer") or {}), "ingress")):
            if entry.get("ip"):
                errs += [field.invalid(f"status.loadBalancer.ingress[{i}].ip", entry["ip"], m)
                         for m in validation.is_valid_ip(str(entry["ip"]))]
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Class", "The name of the IngressClass resource that should be used for additional configuration"),
            column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
            column("Address", "Address is a list containing ingress points for the load-balancer"),
            column("Ports", "Ports of TLS configurations that open"),
            age_column(),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec = obj.get("spec") or {}
        addresses: list[str] = []
        for entry in items(((obj.get("status") or {}).get("loadBalancer") or {}), "ingress"):
            address = entry.get("ip") or entry.get("hostname")
            if address and address not in addresses:
                addresses.append(address)
        return [
            name_of(obj), spec.get("ingressClassName") or "<none>", format_hosts(items(spec, "rules")),
            ",".join(addresses), "80, 443" if spec.get("tls") else "80", age_of(obj, now),
        ]


def _validate_rule(rule: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    host = rule.get("host")
    if host:
        if str(host).startswith("*"):
            errs += [field.invalid(f"{path}.host", host, m) for m in validation.is_wildcard_dns1123_subdomain(str(host))]
        else:
            errs += [field.invalid(f"{path}.host", host, m) for m in validation.is_dns1123_subdomain(str(host))]
    http = rule.get("http")
    if http is None:
        return errs
    paths = items(http, "paths")
    if not paths:
        errs.append(field.required(f"{path}.http.paths", ""))
    for i, entry in enumerate(paths):
        at = f"{path}.http.paths[{i}]"
        kind = entry.get("pathType")
        value = entry.get("path") or ""
        if not kind:
            errs.append(field.required(f"{at}.pathType", "pathType must be specified"))
        elif kind not in PATH_TYPES:
            errs.append(field.not_supported(f"{at}.pathType", kind, PATH_TYPES))
        elif kind in ("Exact", "Prefix"):
            if not str(value).startswith("/"):
                errs.append(field.invalid(f"{at}.path", value, "must be an absolute path"))
            elif "//" in str(value):
                errs.append(field.invalid(f"{at}.path", value, "must not contain '//'"))
        elif value and not str(value).startswith("/"):
            errs.append(field.invalid(f"{at}.path", value, "must be an absolute path"))
        errs += validate_backend(entry.get("backend"), f"{at}.backend")
    return errs


def validate_backend(backend: Any, path: str) -> list[FieldError]:
    """A backend names exactly one of a Service (with a port name or number) or a resource."""
    if not isinstance(backend, dict):
        return [field.required(path, "")]
    service, resource = backend.get("service"), backend.get("resource")
    if service is None and resource is None:
        return [field.invalid(path, "", "one backend type must be specified")]
    if service is not None and resource is not None:
        return [field.invalid(path, "", "cannot set both resource and service backends")]
    if isinstance(resource, dict):
        errs = []
        if not resource.get("kind"):
            errs.append(field.required(f"{path}.resource.kind", ""))
        if not resource.get("name"):
            errs.append(field.required(f"{path}.resource.name", ""))
        return errs
    if not isinstance(service, dict):
        return []
    errs = []
    name = str(service.get("name") or "")
    if not name:
        errs.append(field.required(f"{path}.service.name", ""))
    else:
        errs += [field.invalid(f"{path}.service.name", name, m) for m in validation.is_dns1035_label(name)]
    port = service.get("port") or {}
    has_name, has_number = bool(port.get("name")), bool(port.get("number"))
    if has_name and has_number:
        errs.append(field.invalid(f"{path}.service.port", port, "cannot set both port name & port number"))
    elif has_name:
        errs += [field.invalid(f"{path}.service.port.name", port["name"], m) for m in validation.is_valid_port_name(str(port["name"]))]
    elif has_number:
        number = port["number"]
        errs += [field.invalid(f"{path}.service.port.number", number, m)
                 for m in validation.is_valid_port_num(number if isinstance(number, int) else 0)]
    else:
        errs.append(field.required(f"{path}.service.port", "port name or number is required"))
    return errs


def format_hosts(rules: list[Obj], maximum: int = 3) -> str:
    """The HOSTS cell: up to three hosts, ``*`` when no rule names one."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == maximum:
            more = True
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - maximum} more..." if more else text
