"""What exists before anyone asks: the system namespaces and the ``kubernetes`` Service.

Mirrors kube-apiserver's bootstrap controllers (``pkg/controlplane/controller/systemnamespaces``
and ``kubernetesservice``): the namespaces ``default``, ``kube-system``, ``kube-public`` and
``kube-node-lease``; in ``default`` the Service ``kubernetes`` on the first address of the
service CIDR, port 443, with an Endpoints and an EndpointSlice pointing at this server.
Re-run at every start: with etcd the objects survive a restart but the port may change.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from kubelab.apiserver import errors

if TYPE_CHECKING:
    from kubelab.apiserver.server import APIServer

Obj = dict[str, Any]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def kubernetes_service_ip(service_cidr: str) -> str:
    """The first address of the service CIDR: 127.96.0.1 for 127.96.0.0/12."""
    return str(ipaddress.ip_network(service_cidr).network_address + 1)


async def _ensure(server: APIServer, group: str, plural: str, namespace: str, desired: Obj, fields: tuple[str, ...]) -> None:
    """Create ``desired`` if missing; otherwise make ``fields`` of the stored object match it."""
    info = server.resources.get(group, "v1", plural)
    assert info is not None
    registry = server.registry_for(info)
    name = desired["metadata"]["name"]
    try:
        current = await registry.get(namespace, name)
    except errors.StatusError as e:
        if e.code != 404:
            raise
        try:
            await registry.create(namespace, desired)
        except errors.StatusError as exists:
            if exists.code != 409:
                raise
        return
    if all(current.get(f) == desired.get(f) for f in fields):
        return

    async def updated(obj: Obj) -> Obj:
        for f in fields:
            obj[f] = desired[f]
        return obj

    await registry.update(namespace, name, updated)


async def ensure(server: APIServer) -> None:
    """Create (or repair) every bootstrap object."""
    for name in SYSTEM_NAMESPACES:
        await _ensure(server, "", "namespaces", "", {"metadata": {"name": name}}, ())
    host, port = server.config.host, server.port
    service_ip = kubernetes_service_ip(server.config.service_cidr)
    https = {"name": "https", "port": port, "protocol": "TCP"}
    await _ensure(server, "", "services", "default", {
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": service_ip,
            "clusterIPs": [service_ip],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
    }, ("spec",))
    await _ensure(server, "", "endpoints", "default", {
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{"addresses": [{"ip": host}], "ports": [https]}],
    }, ("subsets",))
    await _ensure(server, "discovery.k8s.io", "endpointslices", "default", {
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
        "ports": [https],
    }, ("endpoints", "ports"))
