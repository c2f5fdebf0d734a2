"""Services: defaults, validation, address assignment, the ``kubectl get services`` table.

Mirrors ``pkg/registry/core/service/strategy.go`` and ``storage/alloc.go`` (which addresses
a Service gets, which it keeps on update), ``SetDefaults_Service``, ``ValidateService`` /
``ValidateServiceUpdate`` and ``printService``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Collection
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.apiserver.resources.allocators import AllocationError, ClusterIPAllocator, NodePortAllocator
from kubelab.apiserver.resources.base import ResourceStrategy, child, items, set_default
from kubelab.apiserver.resources.columns import (
    age_column,
    age_of,
    column,
    doc,
    format_labels,
    name_column,
    name_of,
)
from kubelab.apiserver.resources.podspec_validation import PROTOCOLS, dns_label, port_num_or_name

Obj = dict[str, Any]
TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
LOAD_BALANCER_WIDTH = 16


class ServiceStrategy(ResourceStrategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        spec = child(obj, "spec")
        if not spec.get("sessionAffinity"):
            spec["sessionAffinity"] = "None"
        if spec["sessionAffinity"] == "None":
            spec.pop("sessionAffinityConfig", None)
        elif spec["sessionAffinity"] == "ClientIP":
            client_ip = child(child(spec, "sessionAffinityConfig"), "clientIP")
            set_default(client_ip, "timeoutSeconds", 10800)
        if not spec.get("type"):
            spec["type"] = "ClusterIP"
        for port in items(spec, "ports"):
            if not port.get("protocol"):
                port["protocol"] = "TCP"
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
        kind = spec["type"]
        externally_accessible = kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.get("externalIPs"))
        if externally_accessible and not spec.get("externalTrafficPolicy"):
            spec["externalTrafficPolicy"] = "Cluster"
        if kind in ("NodePort", "LoadBalancer", "ClusterIP"):
            set_default(spec, "internalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            set_default(spec, "allocateLoadBalancerNodePorts", True)
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif spec.get("clusterIPs") and not spec.get("clusterIP"):
            spec["clusterIP"] = spec["clusterIPs"][0]

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"loadBalancer": {}}
        _default_ip_families(child(obj, "spec"))

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        spec, old_spec = child(obj, "spec"), old.get("spec") or {}
        _keep_allocated(spec, old_spec)
        _default_ip_families(spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [field.required("spec", "")]
        return validate_service_spec(spec)

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        if "ExternalName" not in (spec.get("type"), old_spec.get("type")):
            old_ips, new_ips = old_spec.get("clusterIPs") or [], spec.get("clusterIPs") or []
            if old_ips and new_ips:
                for i, ip in enumerate(old_ips[: len(new_ips)]):
                    if new_ips[i] != ip:
                        errs.append(field.invalid(f"spec.clusterIPs[{i}]", new_ips, "may not change once set"))
        return errs

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        ingress = items((obj.get("status") or {}).get("loadBalancer"), "ingress")
        for i, entry in enumerate(ingress):
            if entry.get("ip"):
                errs += [field.invalid(f"status.loadBalancer.ingress[{i}].ip", entry["ip"], m)
                         for m in validation.is_valid_ip(str(entry["ip"]))]
        return errs

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        spec = obj.get("spec") or {}
        fields["spec.clusterIP"] = spec.get("clusterIP") or ""
        fields["spec.type"] = spec.get("type") or ""
        return fields

    def table_columns(self) -> list[Obj]:
        return [
            name_column(),
            column("Type", doc("V1ServiceSpec", "type")),
            column("Cluster-IP", doc("V1ServiceSpec", "clusterIP")),
            column("External-IP", doc("V1ServiceSpec", "externalIPs")),
            column("Port(s)", doc("V1ServiceSpec", "ports")),
            age_column(),
            column("Selector", doc("V1ServiceSpec", "selector"), priority=1),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        spec = obj.get("spec") or {}
        ips = spec.get("clusterIPs") or []
        return [
            name_of(obj), spec.get("type") or "", ips[0] if ips else "<none>", external_ip(obj, wide=True),
            port_string(spec) or "<none>", age_of(obj, now), format_labels(spec.get("selector")),
        ]


def _default_ip_families(spec: Obj) -> None:
    """What the service REST sets: single-stack IPv4, or require-dual-stack for selectorless headless."""
    if spec.get("type") == "ExternalName":
        return
    headless = spec.get("clusterIP") == "None"
    if not spec.get("ipFamilyPolicy"):
        spec["ipFamilyPolicy"] = "RequireDualStack" if headless and not spec.get("selector") else "SingleStack"
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv4"]


def _keep_allocated(spec: Obj, old: Obj) -> None:
    """An update that leaves out the allocated ClusterIP or NodePorts keeps the old ones (``patchAllocatedValues``)."""
    if _needs_cluster_ip(old) and _needs_cluster_ip(spec):
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old.get("clusterIP")
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = copy.deepcopy(old.get("clusterIPs"))
    if _needs_node_port(old) and _needs_node_port(spec):
        by_port = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in items(old, "ports")}
        for port in items(spec, "ports"):
            if not port.get("nodePort") and by_port.get((port.get("port"), port.get("protocol"))):
                port["nodePort"] = by_port[(port.get("port"), port.get("protocol"))]
        if not spec.get("healthCheckNodePort") and old.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old["healthCheckNodePort"]


def _needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_port(spec: Obj) -> bool:
    if spec.get("type") == "NodePort":
        return True
    return spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def validate_service_spec(spec: Obj) -> list[FieldError]:
    """``ValidateService``'s spec rules: type, ports, clusterIP(s), selector, affinity, policies."""
    errs: list[FieldError] = []
    kind = spec.get("type")
    if kind not in TYPES:
        errs.append(field.not_supported("spec.type", kind or "", TYPES))
    headless = spec.get("clusterIP") == "None"
    ports = items(spec, "ports")
    if not ports and not headless and kind != "ExternalName":
        errs.append(field.required("spec.ports", ""))
    if kind == "ExternalName":
        name = str(spec.get("externalName") or "")
        if not name:
            errs.append(field.required("spec.externalName", ""))
        else:
            errs += [field.invalid("spec.externalName", name, m) for m in validation.is_dns1123_subdomain(name.removesuffix("."))]
        if spec.get("clusterIP") and not headless:
            errs.append(field.forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        errs += _validate_port(port, f"spec.ports[{i}]", len(ports) > 1, names, kind)
        key = (port.get("port"), port.get("protocol"))
        if key in keys:
            errs.append(FieldError(
                "FieldValueDuplicate", f"spec.ports[{i}]",
                f"core.ServicePort{{Name:\"\", Protocol:{field.go_quote(str(key[1]))}, AppProtocol:(*string)(nil), "
                f"Port:{key[0]}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
            ))
        keys.add(key)
    errs += _validate_cluster_ips(spec)
    errs += validation.validate_labels(spec.get("selector"), "spec.selector")
    affinity = spec.get("sessionAffinity")
    if affinity not in ("ClientIP", "None"):
        errs.append(field.not_supported("spec.sessionAffinity", affinity or "", ["ClientIP", "None"]))
    elif affinity == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
        if not isinstance(timeout, int) or not 0 < timeout <= 86400:
            errs.append(field.invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout, "must be greater than 0 and less than 86400",
            ))
    for i, ip in enumerate(spec.get("externalIPs") or []):
        errs += [field.invalid(f"spec.externalIPs[{i}]", ip, m) for m in validation.is_valid_ip(str(ip))]
    policy = spec.get("externalTrafficPolicy")
    if policy and kind not in ("NodePort", "LoadBalancer") and not spec.get("externalIPs"):
        errs.append(field.invalid(
            "spec.externalTrafficPolicy", policy, "may only be set for externally-accessible services",
        ))
    elif policy and policy not in ("Cluster", "Local"):
        errs.append(field.not_supported("spec.externalTrafficPolicy", policy, ["Cluster", "Local"]))
    internal = spec.get("internalTrafficPolicy")
    if internal and internal not in ("Cluster", "Local"):
        errs.append(field.not_supported("spec.internalTrafficPolicy", internal, ["Cluster", "Local"]))
    if spec.get("loadBalancerIP") and kind != "LoadBalancer":
        errs.append(field.forbidden("spec.loadBalancerIP", "may only be used when `type` is 'LoadBalancer'"))
    return errs


def _validate_port(port: Obj, path: str, multiple: bool, names: set[str], kind: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name")
    if multiple and not name:
        errs.append(field.required(f"{path}.name", ""))
    elif name:
        errs += dns_label(name, f"{path}.name")
        if name in names:
            errs.append(field.duplicate(f"{path}.name", name))
        names.add(name)
    number = port.get("port")
    if not isinstance(number, int) or isinstance(number, bool):
        errs.append(field.required(f"{path}.port", "") if number is None else field.invalid(f"{path}.port", number, "must be an integer"))
    else:
        errs += [field.invalid(f"{path}.port", number, m) for m in validation.is_valid_port_num(number)]
    protocol = port.get("protocol")
    if not protocol:
        errs.append(field.required(f"{path}.protocol", ""))
    elif protocol not in PROTOCOLS:
        errs.append(field.not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    errs += port_num_or_name(port.get("targetPort"), f"{path}.targetPort")
    node_port = port.get("nodePort")
    if node_port:
        if kind == "ClusterIP":
            errs.append(field.forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        elif kind == "ExternalName":
            errs.append(field.forbidden(f"{path}.nodePort", "may not be used when `type` is 'ExternalName'"))
        elif isinstance(node_port, int):
            errs += [field.invalid(f"{path}.nodePort", node_port, m) for m in validation.is_valid_port_num(node_port)]
    app_protocol = port.get("appProtocol")
    if app_protocol:
        errs += [field.invalid(f"{path}.appProtocol", app_protocol, m) for m in validation.is_qualified_name(str(app_protocol))]
    return errs


def _validate_cluster_ips(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    ips = spec.get("clusterIPs") or []
    cluster_ip = spec.get("clusterIP") or ""
    if ips and cluster_ip != ips[0]:
        errs.append(field.invalid("spec.clusterIP", cluster_ip, "must match first value in clusterIPs"))
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                errs.append(field.invalid("spec.clusterIPs", ips, "'None' must be the first and only value"))
            continue
        errs += [field.invalid(f"spec.clusterIPs[{i}]", ip, m) for m in validation.is_valid_ip(str(ip))]
    if cluster_ip == "None" and spec.get("type") in ("NodePort", "LoadBalancer"):
        errs.append(field.invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {spec['type']} services"))
    return errs


def assign_addresses(
    svc: Obj,
    old: Obj | None,
    ips_in_use: Collection[str],
    ports_in_use: Collection[int],
    *,
    cluster_ips: ClusterIPAllocator | None = None,
    node_ports: NodePortAllocator | None = None,
    rng: random.Random | None = None,
) -> list[FieldError]:
    """Give a validated Service its ClusterIP and NodePorts, in place (``alloc.go``).

    ``ips_in_use`` / ``ports_in_use`` are those of every *other* stored Service; on update,
    ``old`` is the stored object and addresses it already holds are kept. A requested
    address that is taken or out of range is a field error, as upstream reports it.
    """
    cluster_ips = cluster_ips or ClusterIPAllocator()
    node_ports = node_ports or NodePortAllocator()
    spec = child(svc, "spec")
    old_spec = (old or {}).get("spec") or {}
    errs: list[FieldError] = []
    if not _needs_cluster_ip(spec):
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    elif spec.get("clusterIP") != "None":
        requested = spec.get("clusterIP")
        try:
            if not requested:
                spec["clusterIP"] = cluster_ips.allocate(ips_in_use, rng)
            elif requested != old_spec.get("clusterIP"):
                cluster_ips.allocate_specific(requested, ips_in_use)
        except AllocationError as err:
            return [field.invalid("spec.clusterIPs", spec.get("clusterIPs") or [requested], str(err))]
        spec["clusterIPs"] = [spec["clusterIP"]]
    else:
        spec["clusterIPs"] = ["None"]
    if not _needs_node_port(spec):
        if spec.get("type") in ("ClusterIP", "ExternalName"):
            for port in items(spec, "ports"):
                port.pop("nodePort", None)
        return errs
    taken = set(ports_in_use)
    old_ports = {p.get("nodePort") for p in items(old_spec, "ports") if p.get("nodePort")}
    for i, port in enumerate(items(spec, "ports")):
        wanted = port.get("nodePort")
        try:
            if not wanted:
                port["nodePort"] = node_ports.allocate(taken, rng)
            elif wanted not in old_ports:
                node_ports.allocate_specific(wanted, taken)
        except AllocationError as err:
            errs.append(field.invalid(f"spec.ports[{i}].nodePort", wanted, str(err)))
            continue
        taken.add(port["nodePort"])
    return errs


def external_ip(svc: Obj, wide: bool = False) -> str:
    """The EXTERNAL-IP cell: ``<none>``, ``<pending>`` for a LoadBalancer without address, or the addresses."""
    spec = svc.get("spec") or {}
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    kind = spec.get("type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        addresses: list[str] = []
        for entry in items(((svc.get("status") or {}).get("loadBalancer") or {}), "ingress"):
            address = entry.get("ip") or entry.get("hostname")
            if address and address not in addresses:
                addresses.append(address)
        balancer = ",".join(addresses)
        if not wide and len(balancer) > LOAD_BALANCER_WIDTH:
            balancer = balancer[: LOAD_BALANCER_WIDTH - 3] + "..."
        if external:
            return ",".join(([*balancer.split(",")] if balancer else []) + external)
        return balancer or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def port_string(spec: Obj) -> str:
    """The PORT(S) cell: ``80/TCP``, ``80:30080/TCP``, comma-separated."""
    pieces = []
    for port in items(spec, "ports"):
        if port.get("nodePort"):
            pieces.append(f"{port.get('port')}:{port['nodePort']}/{port.get('protocol', '')}")
        else:
            pieces.append(f"{port.get('port')}/{port.get('protocol', '')}")
    return ",".join(pieces)
