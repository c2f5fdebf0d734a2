"""What the Endpoints and EndpointSlice controllers both decide about Services and their pods.

Mirrors ``k8s.io/endpointslice/util`` (``ShouldPodBeInEndpoints``, ``ShouldSetHostname``,
``GetServicesToUpdateOnPodChange``) and ``FindPort`` of ``pkg/api/v1/pod/util.go``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from kubelab.api.selectors import LabelSelector
from kubelab.controllers.podutil import is_pod_ready

Obj = Mapping[str, Any]

HEADLESS_LABEL = "service.kubernetes.io/headless"


def selector_of(service: Obj) -> LabelSelector | None:
    """The Service's pod selector, or None for a Service without one (its endpoints are managed by hand)."""
    selector = (service.get("spec") or {}).get("selector")
    return LabelSelector.from_set(selector) if selector else None


def is_headless(service: Obj) -> bool:
    """Whether the Service has no cluster IP (``clusterIP: None``)."""
    return (service.get("spec") or {}).get("clusterIP") in ("None", "", None)


def manages_endpoints(service: Obj) -> bool:
    """Whether the controllers compute this Service's endpoints: it selects pods and is not an ExternalName."""
    return (service.get("spec") or {}).get("type") != "ExternalName" and selector_of(service) is not None


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Whether a pod is an endpoint at all: it has an IP, has not finished for good, and (unless asked) is not going."""
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    if not include_terminating and (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    phase = status.get("phase")
    restart_policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if restart_policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if restart_policy == "OnFailure":
        return phase != "Succeeded"
    return True


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """Whether the endpoint carries the pod's hostname: the pod says it belongs to this Service (``subdomain``)."""
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == service["metadata"]["name"] \
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")


def ip_family(service: Obj) -> str:
    """``IPv4`` or ``IPv6``: the Service's first IP family."""
    families = (service.get("spec") or {}).get("ipFamilies") or ()
    if families:
        return str(families[0])
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    if cluster_ip and cluster_ip != "None" and ipaddress.ip_address(cluster_ip).version == 6:
        return "IPv6"
    return "IPv4"


def pod_ips(pod: Obj, family: str) -> list[str]:
    """The pod's IPs of one family, in the order the kubelet reported them."""
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or ()] or [status.get("podIP")]
    want = 6 if family == "IPv6" else 4
    return [ip for ip in ips if ip and ipaddress.ip_address(ip).version == want]


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port a Service port sends to (``FindPort``): a number as is, a name looked up in the containers.

    A named ``targetPort`` resolves per pod, so pods of different versions may serve it on
    different numbers. None when this pod has no port of that name and protocol.
    """
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or ()), *sidecars]:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def services_for_pod(services: Iterable[Obj], labels: Mapping[str, str] | None) -> list[Obj]:
    """The Services (of the pod's namespace) whose selector matches these pod labels."""
    matching = []
    for service in services:
        selector = selector_of(service)
        if selector is not None and selector.matches(labels):
            matching.append(service)
    return matching


def pod_endpoints_changed(old: Obj, new: Obj) -> tuple[bool, bool]:
    """``(endpoint changed, labels changed)``: whether an update of a pod can change any endpoint."""
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    labels_changed = (old_meta.get("labels") or {}) != (new_meta.get("labels") or {})
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    changed = (
        bool(old_meta.get("deletionTimestamp")) != bool(new_meta.get("deletionTimestamp"))
        or is_pod_ready(old) != is_pod_ready(new)
        or old_status.get("podIP") != new_status.get("podIP")
        or old_status.get("podIPs") != new_status.get("podIPs")
        or old_status.get("phase") != new_status.get("phase")
        or old_spec.get("nodeName") != new_spec.get("nodeName")
        or old_spec.get("hostname") != new_spec.get("hostname")
        or old_spec.get("subdomain") != new_spec.get("subdomain")
        or old_spec.get("containers") != new_spec.get("containers")
    )
    return changed, labels_changed


def target_ref(pod: Obj) -> dict[str, Any]:
    """An ObjectReference to the pod behind an endpoint."""
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid")}
