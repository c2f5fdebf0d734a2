"""The EndpointSlice controller: a Service's endpoints in slices of at most 100, as kube-proxy reads them.

Mirrors ``pkg/controller/endpointslice`` and its reconciler (``k8s.io/endpointslice``). For
each Service with a selector, every selected pod with an IP becomes an endpoint with three
conditions: ``serving`` (the pod is ready), ``terminating`` (it is being deleted) and
``ready`` (serving and not terminating, or always with ``publishNotReadyAddresses``), plus
its ``nodeName``, ``zone``, a ``targetRef`` and, for a pod that names the Service as its
``subdomain``, a ``hostname``.

Endpoints that resolve the Service's ports to the same numbers share slices. Each slice
is labelled ``kubernetes.io/service-name: <service>`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`` and owned by the
Service (so the garbage collector deletes it with the Service). A reconcile changes as few
slices as it can: endpoints stay in the slice they are in, new ones fill the fullest slice
being rewritten anyway, and a new slice is made only when nothing has room. A Service with
no endpoints has one empty *placeholder* slice. Services without a selector are left alone.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.client import Resource
from kubelab.controllers.endpointutil import (
    HEADLESS_LABEL,
    find_port,
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
from kubelab.controllers.pod_control import pods_prefix
from kubelab.controllers.podutil import is_pod_ready
from kubelab.controllers.ref_manager import controller_ref
from kubelab.runtime import (
    Controller,
    Informer,
    ReadOnlyDict,
    Result,
    deep_copy,
    meta_namespace_key,
    split_meta_namespace_key,
)

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
Slice = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100
ZONE_LABEL = "topology.kubernetes.io/zone"


def address_types(service: Obj) -> list[str]:
    """The slices' address types: one per IP family of the Service."""
    return list((service.get("spec") or {}).get("ipFamilies") or ()) or ["IPv4"]


def endpoint_ports(service: Obj, pod: Obj) -> list[dict[str, Any]]:
    """The Service's ports as this pod serves them (named target ports resolved); ports it lacks are left out."""
    ports = []
    for service_port in (service.get("spec") or {}).get("ports") or ():
        number = find_port(pod, service_port)
        if number is None:
            continue
        port = {"name": service_port.get("name") or "", "port": number, "protocol": service_port.get("protocol") or "TCP"}
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def pod_to_endpoint(service: Obj, pod: Obj, address_type: str, node: Obj | None) -> dict[str, Any] | None:
    """The endpoint a pod makes for a Service, or None if it has no IP of that type (``podToEndpoint``)."""
    addresses = pod_ips(pod, address_type)
    if not addresses:
        return None
    serving = is_pod_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    # For compatibility with Endpoints, a terminating pod is never ready unless the Service publishes all.
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    endpoint: dict[str, Any] = {
        "addresses": addresses,
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": target_ref(pod),
    }
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = ((node or {}).get("metadata") or {}).get("labels", {}).get(ZONE_LABEL)
    if zone:
        endpoint["zone"] = zone
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    return endpoint


def endpoint_key(endpoint: Obj) -> tuple[str, str]:
    """Who an endpoint is, across versions of it: its pod's uid, else its first address."""
    return (endpoint.get("targetRef") or {}).get("uid", ""), (endpoint.get("addresses") or [""])[0]


def port_mapping_key(ports: Sequence[Obj]) -> tuple[tuple[Any, ...], ...]:
    return tuple(sorted((p.get("name", ""), p.get("port"), p.get("protocol", ""), p.get("appProtocol", ""))
                        for p in ports))


def slice_labels(service: Obj) -> dict[str, str]:
    """A slice's labels: the Service's, the headless marker, and the two the controllers select by."""
    labels = {k: v for k, v in (service["metadata"].get("labels") or {}).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)}
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = service["metadata"]["name"]
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def new_slice(service: Obj, address_type: str, ports: Sequence[Obj]) -> Slice:
    meta = service["metadata"]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": pods_prefix(meta["name"]),
            "namespace": meta["namespace"],
            "labels": slice_labels(service),
            "ownerReferences": [controller_ref({"apiVersion": "v1", "kind": "Service", "metadata": meta})],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": [deep_copy(p) for p in ports],
    }


def reconcile_port_mapping(
    existing: Sequence[Obj], desired: dict[tuple[str, str], dict[str, Any]], labels: Mapping[str, str],
    make_slice: Callable[[], Slice], max_per_slice: int,
) -> tuple[list[Slice], list[Slice], list[Obj]]:
    """``(to create, to update, to delete)`` for the slices of one port mapping (``reconcileByPortMapping``).

    ``desired`` maps endpoint keys to endpoints; it is consumed.
    """
    by_name: dict[str, Slice] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[Obj] = []
    # 1. Keep the endpoints still wanted where they are, at their new versions.
    for current in existing:
        name = current["metadata"]["name"]
        kept, updated = [], False
        for endpoint in current.get("endpoints") or ():
            want = desired.pop(endpoint_key(endpoint), None)
            if want is not None:
                kept.append(want)
                updated = updated or want != endpoint
        labels_changed = dict(current["metadata"].get("labels") or {}) != dict(labels)
        if updated or len(kept) != len(current.get("endpoints") or ()):
            if not kept:
                to_delete.append(current)
                continue
            copy = deep_copy(current)
            copy["endpoints"] = kept
            copy["metadata"]["labels"] = dict(labels)
            by_name[name] = copy
            to_update.append(name)
        elif labels_changed:
            copy = deep_copy(current)
            copy["metadata"]["labels"] = dict(labels)
            by_name[name] = copy
            to_update.append(name)
        else:
            by_name[name] = deep_copy(current)
            unchanged.append(name)
    remaining = [desired[k] for k in sorted(desired)]
    # 2. Fill the slices being rewritten anyway, fullest first.
    for name in sorted(to_update, key=lambda n: -len(by_name[n]["endpoints"])):
        room = max_per_slice - len(by_name[name]["endpoints"])
        by_name[name]["endpoints"] += remaining[:room]
        remaining = remaining[room:]
    # 3. Put what is left in one unchanged slice with room for all of it, else in new slices.
    to_create: list[Slice] = []
    while remaining:
        target = None
        if len(remaining) < max_per_slice:
            fits = [n for n in unchanged if max_per_slice - len(by_name[n]["endpoints"]) >= len(remaining)]
            if fits:
                target = max(fits, key=lambda n: len(by_name[n]["endpoints"]))
                unchanged.remove(target)
                to_update.append(target)
        slice_ = by_name[target] if target is not None else make_slice()
        room = max_per_slice - len(slice_["endpoints"])
        slice_["endpoints"] += remaining[:room]
        remaining = remaining[room:]
        if target is None:
            to_create.append(slice_)
    return to_create, [by_name[n] for n in to_update], to_delete


class EndpointSliceTracker:
    """What this controller wrote and its cache has not shown yet, so a lagging cache is not trusted.

    Acting on a cache that has not seen the slices created a moment ago would create them
    again (upstream's ``EndpointSliceTracker``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[tuple[str, str, str]]] = {}

    def wrote(self, service_key: str, kind: str, name: str, version: str) -> None:
        """Record a write: ``created`` (name), ``updated`` (name, resourceVersion before) or ``deleted`` (uid)."""
        with self._lock:
            self._pending.setdefault(service_key, []).append((kind, name, version))

    def stale(self, service_key: str, slices: Sequence[Obj]) -> bool:
        """Whether the cached ``slices`` of a Service still miss one of this controller's writes."""
        by_name = {s["metadata"]["name"]: s for s in slices}
        uids = {s["metadata"].get("uid") for s in slices}
        with self._lock:
            pending = [(kind, name, version) for kind, name, version in self._pending.get(service_key, ())
                       if (kind == "created" and name not in by_name)
                       or (kind == "updated" and name in by_name
                           and by_name[name]["metadata"].get("resourceVersion") == version)
                       or (kind == "deleted" and version in uids)]
            if pending:
                self._pending[service_key] = pending
            else:
                self._pending.pop(service_key, None)
            return bool(pending)

    def forget(self, service_key: str) -> None:
        with self._lock:
            self._pending.pop(service_key, None)


class EndpointSliceController:
    """Keeps each Service's EndpointSlices listing the pods its selector matches."""

    name = "endpointslice"
    component = "endpoint-slice-controller"

    def __init__(self, *, workers: int = 5, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        self.workers = workers
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self.tracker = EndpointSliceTracker()

    def start(self, context: ControllerContext) -> None:
        """Watch Services, pods, nodes and EndpointSlices; start the workers."""
        self.slices_api: Resource = context.client.resource("discovery.k8s.io/v1", "endpointslices")
        self.services: Informer = context.informers.informer("v1", "services")
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.nodes: Informer = context.informers.informer("v1", "nodes")
        self.slices: Informer = context.informers.informer("discovery.k8s.io/v1", "endpointslices")
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        for informer in (self.services, self.pods, self.nodes, self.slices):
            self.controller.waits_for(informer)
        self.services.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.pods.add_event_handler(self._add_pod, self._update_pod, self._add_pod)
        self.slices.add_event_handler(self._slice_changed, lambda old, new: self._slice_changed(new),
                                      self._slice_changed)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def _enqueue(self, service: Obj) -> None:
        self.controller.queue.add(meta_namespace_key(service))

    def _slice_changed(self, slice_: Obj) -> None:
        labels = slice_["metadata"].get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) == CONTROLLER_NAME and labels.get(SERVICE_NAME_LABEL):
            self.controller.queue.add(f"{slice_['metadata']['namespace']}/{labels[SERVICE_NAME_LABEL]}")

    def _add_pod(self, pod: ReadOnlyDict) -> None:
        namespace = pod["metadata"].get("namespace")
        for service in services_for_pod(self.services.cache.list(namespace), pod["metadata"].get("labels")):
            self._enqueue(service)

    def _update_pod(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        changed, labels_changed = pod_endpoints_changed(old, new)
        if changed or labels_changed:
            self._add_pod(new)
        if labels_changed:
            self._add_pod(old)

    # -- reconcile (syncService + reconciler.Reconcile) --------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        """Bring one Service's EndpointSlices up to date."""
        namespace, name = split_meta_namespace_key(key)
        service = self.services.cache.get(name, namespace)
        if service is None:
            # The slices are the Service's dependents: the garbage collector deletes them.
            self.tracker.forget(key)
            return None
        if not manages_endpoints(service):
            return None
        existing = [s for s in self.slices.cache.list(namespace, {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: CONTROLLER_NAME})
                    if any(r.get("uid") == service["metadata"].get("uid") for r in s["metadata"].get("ownerReferences") or ())]
        if self.tracker.stale(key, existing):
            return Result(requeue_after=0.1)
        pods = self.pods.cache.list(namespace, selector_of(service))
        to_create, to_update, to_delete = self.plan(service, pods, existing)
        self.apply(key, to_create, to_update, to_delete)
        return None

    def plan(self, service: Obj, pods: Sequence[Obj], existing: Sequence[Obj]) -> tuple[list[Slice], list[Slice], list[Obj]]:
        """``(to create, to update, to delete)`` to make ``existing`` slices list ``pods``."""
        types = address_types(service)
        to_create: list[Slice] = []
        to_update: list[Slice] = []
        to_delete: list[Obj] = [s for s in existing if s.get("addressType") not in types]
        labels = slice_labels(service)
        for address_type in types:
            desired: dict[Any, dict[Any, dict[str, Any]]] = {}
            ports_of: dict[Any, list[dict[str, Any]]] = {}
            for pod in pods:
                if not should_pod_be_in_endpoints(pod, True):
                    continue
                node = self.nodes.cache.get(pod["spec"].get("nodeName") or "") if pod["spec"].get("nodeName") else None
                endpoint = pod_to_endpoint(service, pod, address_type, node)
                if endpoint is None:
                    continue
                ports = endpoint_ports(service, pod)
                mapping = port_mapping_key(ports)
                ports_of[mapping] = ports
                desired.setdefault(mapping, {})[endpoint_key(endpoint)] = endpoint
            current_by_mapping: dict[Any, list[Obj]] = {}
            of_type = [s for s in existing if s.get("addressType") == address_type]
            for slice_ in of_type:
                current_by_mapping.setdefault(port_mapping_key(slice_.get("ports") or ()), []).append(slice_)
            for mapping, current in current_by_mapping.items():
                if mapping not in desired:
                    to_delete.extend(current)
            created_here: list[Slice] = []
            for mapping, endpoints in desired.items():
                create, update, delete = reconcile_port_mapping(
                    current_by_mapping.get(mapping, []), endpoints, labels,
                    functools.partial(new_slice, service, address_type, ports_of[mapping]), self.max_endpoints_per_slice)
                created_here += create
                to_update += update
                to_delete += delete
            for slice_ in created_here:
                slice_["endpoints"].sort(key=endpoint_key)
            to_create += created_here
            deleted_of_type = [s for s in to_delete if s.get("addressType") == address_type]
            if len(of_type) == len(deleted_of_type) and not created_here:
                # Nothing would be left: keep (or make) one empty placeholder slice.
                placeholder = new_slice(service, address_type, [])
                if len(deleted_of_type) == 1 and is_placeholder(deleted_of_type[0], placeholder):
                    to_delete.remove(deleted_of_type[0])
                else:
                    to_create.append(placeholder)
        return reuse_deleted(to_create, to_update, to_delete)

    def apply(self, key: str, to_create: list[Slice], to_update: list[Slice], to_delete: list[Obj]) -> None:
        """Write the plan: creations first, so a Service's traffic never sees fewer endpoints than it has."""
        for slice_ in to_create:
            try:
                created = self.slices_api.create(slice_)
            except errors.Forbidden as e:
                if any(c.get("reason") == "NamespaceTerminating" for c in e.details.get("causes") or ()):
                    return
                raise
            self.tracker.wrote(key, "created", created["metadata"]["name"], "")
        for changed in to_update:
            version = changed["metadata"].get("resourceVersion", "")
            self.slices_api.update(changed)
            self.tracker.wrote(key, "updated", changed["metadata"]["name"], version)
        for gone in to_delete:
            try:
                self.slices_api.delete(gone["metadata"]["name"], gone["metadata"]["namespace"])
            except errors.NotFound:
                continue
            self.tracker.wrote(key, "deleted", gone["metadata"]["name"], gone["metadata"].get("uid", ""))


def is_placeholder(slice_: Obj, placeholder: Obj) -> bool:
    """Whether a slice is an empty placeholder like ``placeholder`` (same type, labels, no ports or endpoints)."""
    return (not slice_.get("endpoints") and not slice_.get("ports")
            and slice_.get("addressType") == placeholder["addressType"]
            and dict(slice_["metadata"].get("labels") or {}) == placeholder["metadata"]["labels"])


def reuse_deleted(to_create: list[Slice], to_update: list[Slice], to_delete: list[Obj]) -> tuple[list[Slice], list[Slice], list[Obj]]:
    """Turn a creation plus a deletion into one update of the slice that was to go (less churn for watchers)."""
    to_create, to_delete = list(to_create), list(to_delete)
    while to_create and to_delete:
        new, old = to_create.pop(), to_delete.pop()
        if new["addressType"] != old.get("addressType"):
            to_create.append(new)
            to_delete.append(old)
            break
        reused = deep_copy(old)
        reused["endpoints"], reused["ports"] = new["endpoints"], new["ports"]
        reused["metadata"]["labels"] = new["metadata"]["labels"]
        to_update.append(reused)
    return to_create, to_update, to_delete
