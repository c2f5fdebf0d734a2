"""Endpoints: port defaults, address and port validation, the ``kubectl get endpoints`` table.

Mirrors ``pkg/registry/core/endpoint/strategy.go``, ``SetDefaults_Endpoints``,
``ValidateEndpoints`` and ``printEndpoints``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy, items
from kubelab.apiserver.resources.columns import age_column, age_of, column, doc, name_column, name_of
from kubelab.apiserver.resources.podspec_validation import PROTOCOLS, dns_label

Obj = dict[str, Any]


class EndpointsStrategy(ResourceStrategy):
    def default(self, obj: Obj) -> None:
        for subset in items(obj, "subsets"):
            for port in items(subset, "ports"):
                if not port.get("protocol"):
                    port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, subset in enumerate(items(obj, "subsets")):
            at = f"subsets[{i}]"
            addresses, not_ready = items(subset, "addresses"), items(subset, "notReadyAddresses")
            if not addresses and not not_ready:
                errs.append(field.required(at, "must specify `addresses` or `notReadyAddresses`"))
            for key, entries in (("addresses", addresses), ("notReadyAddresses", not_ready)):
                for j, address in enumerate(entries):
                    ip = str(address.get("ip") or "")
                    errs += [field.invalid(f"{at}.{key}[{j}].ip", ip, m) for m in validation.is_valid_ip(ip)]
                    if address.get("hostname"):
                        errs += dns_label(address["hostname"], f"{at}.{key}[{j}].hostname")
            ports = items(subset, "ports")
            for j, port in enumerate(ports):
                errs += _validate_port(port, f"{at}.ports[{j}]", len(ports) > 1)
        return errs

    def table_columns(self) -> list[Obj]:
        return [name_column(), column("Endpoints", doc("V1Endpoints", "subsets")), age_column()]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return [name_of(obj), format_endpoints(obj), age_of(obj, now)]


def _validate_port(port: Obj, path: str, multiple: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name")
    if multiple and not name:
        errs.append(field.required(f"{path}.name", ""))
    elif name:
        errs += dns_label(name, f"{path}.name")
    number = port.get("port")
    errs += [field.invalid(f"{path}.port", number, m) for m in validation.is_valid_port_num(number if isinstance(number, int) else 0)]
    protocol = port.get("protocol")
    if not protocol:
        errs.append(field.required(f"{path}.protocol", ""))
    elif protocol not in PROTOCOLS:
        errs.append(field.not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    return errs


def format_endpoints(endpoints: Obj, maximum: int = 3) -> str:
    """The ENDPOINTS cell: ``10.0.0.1:80,10.0.0.2:80 + 3 more...``, ``<none>`` without subsets."""
    subsets = items(endpoints, "subsets")
    if not subsets:
        return "<none>"
    listed: list[str] = []
    count = 0
    for subset in subsets:
        addresses = items(subset, "addresses")
        ports = items(subset, "ports")
        if not ports:
            count += len(addresses)
            listed += [str(a.get("ip", "")) for a in addresses]
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                ip = str(address.get("ip", ""))
                host = f"[{ip}]" if ":" in ip else ip
                listed.append(f"{host}:{port.get('port')}")
    text = ",".join(listed[:maximum])
    if count > maximum:
        return f"{text} + {count - maximum} more..."
    return text
