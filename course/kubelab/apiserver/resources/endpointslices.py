"""EndpointSlices: port defaults, address validation, the ``kubectl get endpointslices`` table.

Mirrors ``pkg/registry/discovery/endpointslice/strategy.go``, ``SetDefaults_EndpointPort``,
``ValidateEndpointSlice`` and ``printEndpointSlice``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.base import ResourceStrategy, items
from kubelab.apiserver.resources.columns import (
    age_column,
    age_of,
    column,
    doc,
    name_column,
    name_of,
    with_more,
)
from kubelab.apiserver.resources.podspec_validation import PROTOCOLS

Obj = dict[str, Any]
ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
MAX_ENDPOINTS = 1000
MAX_PORTS = 100


class EndpointSliceStrategy(ResourceStrategy):
    def default(self, obj: Obj) -> None:
        for port in items(obj, "ports"):
            if port.get("name") is None:
                port["name"] = ""
            if port.get("protocol") is None:
                port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        kind = obj.get("addressType")
        if not kind:
            errs.append(field.required("addressType", ""))
        elif kind not in ADDRESS_TYPES:
            errs.append(field.not_supported("addressType", kind, ADDRESS_TYPES))
        endpoints = items(obj, "endpoints")
        if len(endpoints) > MAX_ENDPOINTS:
            errs.append(field.too_many("endpoints", len(endpoints), MAX_ENDPOINTS))
        for i, endpoint in enumerate(endpoints):
            addresses = endpoint.get("addresses") or []
            if not addresses:
                errs.append(field.required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
            elif len(addresses) > 1:
                errs.append(field.too_many(f"endpoints[{i}].addresses", len(addresses), 1))
            for j, address in enumerate(addresses):
                at = f"endpoints[{i}].addresses[{j}]"
                if kind == "IPv4":
                    errs += [field.invalid(at, address, m) for m in validation.is_valid_ipv4_address(str(address))]
                elif kind == "IPv6":
                    errs += [field.invalid(at, address, m) for m in validation.is_valid_ipv6_address(str(address))]
                elif kind == "FQDN":
                    errs += [field.invalid(at, address, m) for m in validation.is_dns1123_subdomain(str(address))]
            if endpoint.get("nodeName"):
                errs += [field.invalid(f"endpoints[{i}].nodeName", endpoint["nodeName"], m)
                         for m in validation.is_dns1123_subdomain(str(endpoint["nodeName"]))]
        ports = items(obj, "ports")
        if len(ports) > MAX_PORTS:
            errs.append(field.too_many("ports", len(ports), MAX_PORTS))
        names: set[str] = set()
        for i, port in enumerate(ports):
            name = port.get("name") or ""
            if name:
                errs += [field.invalid(f"ports[{i}].name", name, m) for m in validation.is_dns1123_label(name)]
            if name in names:
                errs.append(field.duplicate(f"ports[{i}].name", name))
            names.add(name)
            protocol = port.get("protocol")
            if protocol not in PROTOCOLS:
                errs.append(field.not_supported(f"ports[{i}].protocol", protocol or "", PROTOCOLS))
            number = port.get("port")
            if number is not None:
                errs += [field.invalid(f"ports[{i}].port", number, m)
                         for m in validation.is_valid_port_num(number if isinstance(number, int) else 0)]
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        if obj.get("addressType") != old.get("addressType"):
            errs.append(field.invalid("addressType", obj.get("addressType"), validation.FIELD_IMMUTABLE_ERROR_MSG))
        return errs

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("AddressType", doc("V1EndpointSlice", "addressType")),
            column("Ports", doc("V1EndpointSlice", "ports")),
            column("Endpoints", doc("V1EndpointSlice", "endpoints")),
            age_column(),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        ports = [
            str(p["port"]) if p.get("port") is not None else (p.get("name") or "*") for p in items(obj, "ports")
        ]
        addresses = [str(a) for e in items(obj, "endpoints") for a in e.get("addresses") or []]
        return [name_of(obj), obj.get("addressType") or "", with_more(ports), with_more(addresses), age_of(obj, now)]
