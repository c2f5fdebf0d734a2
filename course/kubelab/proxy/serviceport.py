"""What kube-proxy makes of a Service: one :class:`ServicePort` per entry of ``spec.ports``.

Mirrors ``pkg/proxy/serviceport.go`` and ``servicechangetracker.go``: headless and
ExternalName Services are not proxied; every other port becomes one frontend, reachable on
its ClusterIP, its NodePort, its external IPs and its load-balancer IPs, each with the
Service's traffic policies and session affinity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_STICKY_SECONDS = 10800
"""``sessionAffinityConfig.clientIP.timeoutSeconds`` when not given (3 hours)."""


@dataclass(frozen=True, order=True)
class ServicePortName:
    """One port of one Service, as kube-proxy names it: ``namespace/name:port``."""

    namespace: str
    name: str
    port: str
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class ServicePort:
    """Everything kube-proxy needs to serve one Service port (``BaseServicePortInfo``)."""

    name: ServicePortName
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    sticky_seconds: int = 0
    """Session affinity by client IP for this many seconds; 0 for none."""
    external_policy_local: bool = False
    internal_policy_local: bool = False
    health_check_node_port: int = 0

    @property
    def protocol(self) -> str:
        return self.name.protocol

    @property
    def externally_accessible(self) -> bool:
        """Whether anything but the ClusterIP leads here (a NodePort, external or load-balancer IPs)."""
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)

    @property
    def external_local(self) -> bool:
        """``externalTrafficPolicy: Local`` on a port that is reachable from outside."""
        return self.external_policy_local and self.externally_accessible

    @property
    def uses_cluster_endpoints(self) -> bool:
        """Whether some traffic goes to endpoints on any node (``UsesClusterEndpoints``)."""
        return not self.internal_policy_local or (self.externally_accessible and not self.external_policy_local)

    @property
    def uses_local_endpoints(self) -> bool:
        """Whether some traffic goes only to this node's endpoints (``UsesLocalEndpoints``)."""
        return self.internal_policy_local or self.external_local


def should_skip(service: Mapping[str, Any]) -> bool:
    """Whether kube-proxy ignores ``service``: headless, ExternalName, or no ClusterIP yet."""
    spec = service.get("spec") or {}
    return spec.get("type") == "ExternalName" or spec.get("clusterIP") in (None, "", "None")


def service_ports(service: Mapping[str, Any]) -> list[ServicePort]:
    """The ports of ``service`` kube-proxy serves, in ``spec.ports`` order (none when :func:`should_skip`)."""
    if should_skip(service):
        return []
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    sticky = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        sticky = int(config.get("timeoutSeconds") or DEFAULT_STICKY_SECONDS)
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    # An ipMode of Proxy means the load balancer itself forwards to the nodes: the IP is not ours to serve.
    lb_ips = tuple(i["ip"] for i in ingress if i.get("ip") and i.get("ipMode", "VIP") == "VIP")
    ports = []
    for port in spec.get("ports") or []:
        name = ServicePortName(meta.get("namespace") or "default", meta.get("name") or "", port.get("name") or "",
                               port.get("protocol") or "TCP")
        ports.append(ServicePort(
            name=name,
            cluster_ip=spec["clusterIP"],
            port=int(port["port"]),
            node_port=int(port.get("nodePort") or 0),
            external_ips=tuple(spec.get("externalIPs") or ()),
            load_balancer_ips=lb_ips,
            load_balancer_source_ranges=tuple(spec.get("loadBalancerSourceRanges") or ()) if lb_ips else (),
            sticky_seconds=sticky,
            external_policy_local=spec.get("externalTrafficPolicy") == "Local",
            internal_policy_local=spec.get("internalTrafficPolicy") == "Local",
            health_check_node_port=int(spec.get("healthCheckNodePort") or 0),
        ))
    return ports


def all_service_ports(services: Iterable[Mapping[str, Any]]) -> list[ServicePort]:
    """Every proxied port of every Service, sorted by name (``namespace/name:port``)."""
    ports = [p for service in services for p in service_ports(service)]
    return sorted(ports, key=lambda p: (str(p.name), p.name.protocol))
