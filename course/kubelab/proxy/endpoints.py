"""What kube-proxy makes of EndpointSlices: the endpoints of each Service port, and which to use.

Mirrors ``pkg/proxy/endpointslicecache.go`` (slices → endpoints per port) and
``pkg/proxy/topology.go`` (``CategorizeEndpoints``): traffic goes to *ready* endpoints; only
when a Service has none anywhere does it fall back to endpoints that are terminating but
still serving, so that connections are not dropped during a rollout. ``Local`` traffic
policies narrow the choice to endpoints on this node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubelab.proxy.serviceport import ServicePort, ServicePortName

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Endpoint:
    """One address and port that a Service port can send traffic to."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str = ""
    zone: str = ""

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"

    def is_local(self, node_name: str) -> bool:
        return bool(node_name) and self.node_name == node_name


EndpointsMap = dict[ServicePortName, list[Endpoint]]


def endpoints_map(slices: Iterable[Mapping[str, Any]]) -> EndpointsMap:
    """The endpoints of every Service port named by ``slices``, each list sorted by address.

    A slice belongs to the Service its ``kubernetes.io/service-name`` label names; slices
    without it, and FQDN slices, are ignored. An endpoint listed twice counts once (the
    ready copy wins).
    """
    found: dict[ServicePortName, dict[str, Endpoint]] = {}
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service or slice_.get("addressType", "IPv4") != "IPv4":
            continue
        for port in slice_.get("ports") or []:
            if port.get("port") is None:
                continue
            name = ServicePortName(meta.get("namespace") or "default", service, port.get("name") or "",
                                   port.get("protocol") or "TCP")
            by_address = found.setdefault(name, {})
            for endpoint in slice_.get("endpoints") or []:
                info = _endpoint(endpoint, int(port["port"]))
                if info is None:
                    continue
                known = by_address.get(str(info))
                if known is None or (info.ready and not known.ready):
                    by_address[str(info)] = info
    return {name: sorted(eps.values(), key=_address_order) for name, eps in found.items()}


def _endpoint(endpoint: Mapping[str, Any], port: int) -> Endpoint | None:
    addresses = endpoint.get("addresses") or []
    if not addresses:
        return None
    conditions = endpoint.get("conditions") or {}
    # Unset conditions mean ready and serving, not terminating (the API's own defaults).
    ready = conditions.get("ready") is not False
    serving = conditions.get("serving") if conditions.get("serving") is not None else ready
    return Endpoint(
        ip=addresses[0], port=port, ready=ready, serving=bool(serving),
        terminating=bool(conditions.get("terminating")), node_name=endpoint.get("nodeName") or "",
        zone=endpoint.get("zone") or "",
    )


def _address_order(endpoint: Endpoint) -> tuple[int, int]:
    try:
        return int(ipaddress.ip_address(endpoint.ip)), endpoint.port
    except ValueError:
        return 0, endpoint.port


@dataclass(frozen=True)
class Categorized:
    """The endpoints a Service port uses, by traffic policy (``CategorizeEndpoints``)."""

    cluster: list[Endpoint]
    """Endpoints for ``Cluster`` policy traffic: on any node."""
    local: list[Endpoint]
    """Endpoints for ``Local`` policy traffic: on this node only."""
    reachable: list[Endpoint]
    """Every endpoint either policy may use."""
    has_any: bool
    """Whether the Service has usable endpoints anywhere in the cluster."""


def categorize(endpoints: Iterable[Endpoint], port: ServicePort, node_name: str) -> Categorized:
    """Split a Service port's endpoints by traffic policy, as ``pkg/proxy/topology.go`` does."""
    endpoints = list(endpoints)
    cluster: list[Endpoint] = []
    has_any = False
    if port.uses_cluster_endpoints:
        cluster = [e for e in endpoints if e.ready]
        if not cluster:
            cluster = [e for e in endpoints if e.serving and e.terminating]
        has_any = bool(cluster)
    if not port.uses_local_endpoints:
        return Categorized(cluster, [], cluster, has_any)
    local_ready = [e for e in endpoints if e.ready and e.is_local(node_name)]
    local = local_ready or [e for e in endpoints if e.serving and e.terminating and e.is_local(node_name)]
    has_any = has_any or any(e.ready or (e.serving and e.terminating) for e in endpoints)
    if not port.uses_cluster_endpoints:
        return Categorized([], local, local, has_any)
    reachable = sorted({str(e): e for e in [*cluster, *local]}.values(), key=_address_order)
    return Categorized(cluster, local, reachable, has_any)
