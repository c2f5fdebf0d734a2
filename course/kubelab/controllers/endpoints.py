"""The Endpoints controller: an Endpoints object per Service, listing the pods it selects.

Mirrors ``pkg/controller/endpoint/endpoints_controller.go`` and ``pkg/api/v1/endpoints``
(``RepackSubsets``). For each Service with a selector, the Endpoints of the same name lists
every selected pod that has an IP:

- ready pods under ``addresses``, the others under ``notReadyAddresses`` (all of them ready
  when the Service says ``publishNotReadyAddresses``); terminating pods are left out;
- each address carries the pod's ``nodeName``, a ``targetRef`` to it, and its ``hostname``
  when the pod names this Service as its ``subdomain`` (what headless DNS records use);
- ports are the Service's, with a named ``targetPort`` looked up in each pod's containers;
  pods that serve the same ports share a subset.

A Service without a selector is left alone (its Endpoints are written by hand), and the
Endpoints of a deleted Service are deleted. More than 1000 addresses are truncated, as
upstream does, with the ``endpoints.kubernetes.io/over-capacity: truncated`` annotation.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.client import Resource
from kubelab.controllers.endpointutil import (
    HEADLESS_LABEL,
    find_port,
    ip_family,
    is_headless,
    manages_endpoints,
    pod_endpoints_changed,
    pod_ips,
    selector_of,
    services_for_pod,
    should_pod_be_in_endpoints,
    should_set_hostname,
    target_ref,
)
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.podutil import is_pod_ready
from kubelab.runtime import (
    Controller,
    EventRecorder,
    Informer,
    ReadOnlyDict,
    Result,
    deep_copy,
    meta_namespace_key,
    split_meta_namespace_key,
)

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
Subset = dict[str, Any]

MAX_CAPACITY = 1000
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"


def _address_key(address: Obj) -> tuple[str, str]:
    return address.get("ip", ""), (address.get("targetRef") or {}).get("uid", "")


def _port_key(port: Obj) -> tuple[Any, ...]:
    return port.get("name", ""), port.get("port", 0), port.get("protocol", ""), port.get("appProtocol", "")


def repack_subsets(subsets: Sequence[Subset]) -> list[Subset]:
    """Regroup subsets so that addresses serving the same ports share one (``RepackSubsets``), sorted.

    An address not ready on any port is not ready on that port; addresses and ports are
    each listed once.
    """
    addresses: dict[tuple[str, str], Obj] = {}
    ready_by_port: dict[tuple[Any, ...], dict[tuple[str, str], bool]] = {}
    ports_by_key: dict[tuple[Any, ...], Obj | None] = {}
    for subset in subsets:
        ports: list[Obj | None] = list(subset.get("ports") or ()) or [None]
        for port in ports:
            pkey = _port_key(port) if port is not None else ("", -1, "", "")
            ports_by_key[pkey] = port
            readiness = ready_by_port.setdefault(pkey, {})
            for is_ready, field in ((True, "addresses"), (False, "notReadyAddresses")):
                for address in subset.get(field) or ():
                    akey = _address_key(address)
                    addresses.setdefault(akey, address)
                    # Not ready on one subset means not ready.
                    readiness[akey] = readiness.get(akey, True) and is_ready
    by_addresses: dict[tuple[tuple[tuple[str, str], bool], ...], list[Obj]] = {}
    for pkey, readiness in ready_by_port.items():
        group = tuple(sorted(readiness.items()))
        ports_of_group = by_addresses.setdefault(group, [])
        port = ports_by_key[pkey]
        if port is not None:
            ports_of_group.append(port)
    repacked = []
    for group, ports_of_group in by_addresses.items():
        packed: Subset = {}
        ready = [addresses[k] for k, r in group if r]
        not_ready = [addresses[k] for k, r in group if not r]
        if ready:
            packed["addresses"] = ready
        if not_ready:
            packed["notReadyAddresses"] = not_ready
        if ports_of_group:
            packed["ports"] = sorted(ports_of_group, key=_port_key)
        repacked.append(packed)
    return sorted(repacked, key=_subset_key)


def _subset_key(subset: Obj) -> tuple[Any, ...]:
    addresses = [*(subset.get("addresses") or ()), *(subset.get("notReadyAddresses") or ())]
    return tuple(_address_key(a) for a in addresses), tuple(_port_key(p) for p in subset.get("ports") or ())


def truncate(subsets: list[Subset]) -> bool:
    """Cut the addresses down to ``MAX_CAPACITY``, not-ready ones first, spread over subsets; True if cut."""
    total_ready = sum(len(s.get("addresses") or ()) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_CAPACITY
    budget = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - total_ready
    total = total_ready if truncate_ready else total_not_ready
    left = budget
    for subset in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        count = len(subset.get(field) or ())
        share = min(math.ceil(count / total * budget), left)
        subset[field] = list(subset.get(field) or ())[:share]
        if truncate_ready:
            subset["notReadyAddresses"] = []
        left -= len(subset[field])
    return True


def strip_resource_versions(subsets: Sequence[Obj]) -> list[Any]:
    """Subsets compared without the pods' resourceVersions (a pod's annotation change is no endpoint change)."""
    def strip(address: Obj) -> Obj:
        ref = address.get("targetRef")
        if not ref:
            return address
        return {**address, "targetRef": {k: v for k, v in ref.items() if k != "resourceVersion"}}
    return [{**s, **{f: [strip(a) for a in s.get(f) or ()] for f in ("addresses", "notReadyAddresses") if s.get(f)}}
            for s in subsets]


class EndpointsController:
    """Keeps each Service's Endpoints listing the pods its selector matches."""

    name = "endpoint"
    component = "endpoint-controller"

    def __init__(self, *, workers: int = 5) -> None:
        self.workers = workers

    def start(self, context: ControllerContext) -> None:
        """Watch Services, pods and Endpoints; start the workers."""
        self.recorder: EventRecorder = context.recorder(self.component)
        self.endpoints_api: Resource = context.client.resource("v1", "endpoints")
        self.services: Informer = context.informers.informer("v1", "services")
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.endpoints: Informer = context.informers.informer("v1", "endpoints")
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        for informer in (self.services, self.pods, self.endpoints):
            self.controller.waits_for(informer)
        self.services.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.pods.add_event_handler(self._add_pod, self._update_pod, self._add_pod)
        self.endpoints.add_event_handler(self._check_leftover, on_delete=self._enqueue)
        self.controller.start()

    def _check_leftover(self, endpoints: Obj) -> None:
        """At start only, look at every Endpoints: one left behind by a Service deleted meanwhile goes.

        Later additions are not looked at: Endpoints written by hand may come before their Service.
        """
        if not self.endpoints.has_synced():
            self._enqueue(endpoints)

    def stop(self) -> None:
        self.controller.stop()

    def _enqueue(self, obj: Obj) -> None:
        self.controller.queue.add(meta_namespace_key(obj))

    def _add_pod(self, pod: ReadOnlyDict) -> None:
        namespace = pod["metadata"].get("namespace")
        for service in services_for_pod(self.services.cache.list(namespace), pod["metadata"].get("labels")):
            self._enqueue(service)

    def _update_pod(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        changed, labels_changed = pod_endpoints_changed(old, new)
        if not changed and not labels_changed:
            return
        self._add_pod(new)
        if labels_changed:
            self._add_pod(old)

    # -- reconcile (syncService) ----------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        """Bring the Endpoints of one Service up to date (delete them if the Service is gone)."""
        namespace, name = split_meta_namespace_key(key)
        service = self.services.cache.get(name, namespace)
        if service is None:
            with contextlib.suppress(errors.NotFound):
                self.endpoints_api.delete(name, namespace)
            return None
        if not manages_endpoints(service):
            return None
        selector = selector_of(service)
        pods = self.pods.cache.list(namespace, selector)
        subsets = repack_subsets(self.subsets_for(service, pods))
        current = self.endpoints.cache.get(name, namespace)
        labels = dict(service["metadata"].get("labels") or {})
        if current is not None:
            current_labels = {k: v for k, v in (current["metadata"].get("labels") or {}).items()
                              if k != HEADLESS_LABEL}
            annotations = current["metadata"].get("annotations") or {}
            over = sum(len(s.get("addresses") or ()) + len(s.get("notReadyAddresses") or ()) for s in subsets)
            capacity_ok = over <= MAX_CAPACITY and OVER_CAPACITY_ANNOTATION not in annotations
            if strip_resource_versions(current.get("subsets") or []) == strip_resource_versions(subsets) \
                    and current_labels == labels and capacity_ok:
                return None
        endpoints: dict[str, Any] = deep_copy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace},
        }
        annotations = dict(endpoints["metadata"].get("annotations") or {})
        if truncate(subsets):
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        if is_headless(service):
            labels[HEADLESS_LABEL] = ""
        endpoints["metadata"]["labels"] = labels
        endpoints["metadata"]["annotations"] = annotations
        endpoints["subsets"] = subsets
        self.write(endpoints, create=current is None, service=service)
        return None

    def subsets_for(self, service: Obj, pods: Sequence[Obj]) -> list[Subset]:
        """One subset per (pod, port): ready or not, before repacking."""
        spec = service.get("spec") or {}
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        family = ip_family(service)
        subsets: list[Subset] = []
        for pod in pods:
            if not should_pod_be_in_endpoints(pod, publish_not_ready):
                continue
            ips = pod_ips(pod, family)
            if not ips:
                continue
            address: dict[str, Any] = {"ip": ips[0], "targetRef": target_ref(pod)}
            if (pod.get("spec") or {}).get("nodeName"):
                address["nodeName"] = pod["spec"]["nodeName"]
            if should_set_hostname(pod, service):
                address["hostname"] = pod["spec"]["hostname"]
            field = "addresses" if publish_not_ready or is_pod_ready(pod) else "notReadyAddresses"
            if not spec.get("ports"):
                if spec.get("clusterIP") == "None":
                    subsets.append({field: [address]})
                continue
            for service_port in spec["ports"]:
                number = find_port(pod, service_port)
                if number is None:
                    continue
                port = {"name": service_port.get("name") or "", "port": number,
                        "protocol": service_port.get("protocol") or "TCP"}
                if service_port.get("appProtocol"):
                    port["appProtocol"] = service_port["appProtocol"]
                if not port["name"]:
                    del port["name"]
                subsets.append({field: [address], "ports": [port]})
        return subsets

    def write(self, endpoints: dict[str, Any], *, create: bool, service: Obj) -> None:
        try:
            if create:
                self.endpoints_api.create(endpoints)
            else:
                self.endpoints_api.update(endpoints)
        except errors.ApiError as e:
            if create and isinstance(e, errors.Forbidden) and any(
                    c.get("reason") == "NamespaceTerminating" for c in e.details.get("causes") or ()):
                return
            meta = service["metadata"]
            if create:
                message = f"Failed to create endpoint for service {meta['namespace']}/{meta['name']}: {e}"
                self.recorder.event(endpoints, "Warning", "FailedToCreateEndpoint", message)
            else:
                message = f"Failed to update endpoint {meta['namespace']}/{meta['name']}: {e}"
                self.recorder.event(endpoints, "Warning", "FailedToUpdateEndpoint", message)
            raise
