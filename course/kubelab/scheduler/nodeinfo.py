"""What the scheduler knows about a node and the pods on it (``NodeInfo``, ``PodInfo``, ``Resource``).

Mirrors ``pkg/scheduler/framework/types.go``. Pods and nodes stay the plain dicts the API
server sends; a :class:`PodInfo` adds what scheduling needs again and again (the pod's
resource requests, its parsed affinity terms, its host ports), computed once when the
pod is seen. A :class:`NodeInfo` adds up the requests of every pod on the node, assumed
ones included, so a filter compares two numbers instead of walking the pods.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from kubelab.api.quantity import QuantityError, parse_quantity
from kubelab.api.selectors import LabelSelector, SelectorError

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "AffinityTerm",
    "NodeInfo",
    "PodInfo",
    "Resource",
    "WeightedAffinityTerm",
    "pod_requests",
]

DEFAULT_MILLI_CPU_REQUEST = 100
"""CPU counted for a container without a CPU request, when spreading load (``schedutil``)."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""Memory counted for a container without a memory request, when spreading load."""

NON_ZERO_DEFAULTS: dict[str, int] = {"cpu": DEFAULT_MILLI_CPU_REQUEST, "memory": DEFAULT_MEMORY_REQUEST}

LABEL_HOSTNAME = "kubernetes.io/hostname"


@functools.lru_cache(maxsize=4096)
def _amount(name: str, quantity: str | int | float) -> int:
    """A resource amount in the scheduler's units: millicores for ``cpu``, whole units otherwise."""
    try:
        q = parse_quantity(quantity)
    except QuantityError:
        return 0
    return q.milli_value() if name == "cpu" else q.value()


def amounts(resource_list: Mapping[str, Any] | None) -> dict[str, int]:
    """``{"cpu": "500m", "memory": "1Gi"}`` → ``{"cpu": 500, "memory": 1073741824}``."""
    if not resource_list:
        return {}
    return {name: _amount(name, q) for name, q in resource_list.items()}


def _add(total: dict[str, int], more: Mapping[str, int]) -> None:
    for name, amount in more.items():
        total[name] = total.get(name, 0) + amount


def _max(total: dict[str, int], other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        if amount > total.get(name, 0):
            total[name] = amount


def pod_requests(pod: Mapping[str, Any], defaults: Mapping[str, int] | None = None) -> dict[str, int]:
    """What a pod asks for (``resourcehelper.PodRequests``), in millicores and bytes.

    Regular containers run together, so their requests add up; init containers run one
    at a time before them, so the pod needs the largest of the two. Sidecars (init
    containers with ``restartPolicy: Always``) keep running, so they add to both. The
    pod's ``overhead`` comes on top. ``defaults`` fills in what a container leaves out.
    """
    spec = pod.get("spec") or {}

    def container_requests(container: Mapping[str, Any]) -> dict[str, int]:
        requests = amounts((container.get("resources") or {}).get("requests"))
        if defaults:
            for name, amount in defaults.items():
                requests.setdefault(name, amount)
        return requests

    total: dict[str, int] = {}
    for container in spec.get("containers") or ():
        _add(total, container_requests(container))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        requests = container_requests(container)
        if container.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            running = dict(sidecars)
        else:
            running = dict(requests)
            _add(running, sidecars)
        _max(init_peak, running)
    _max(total, init_peak)
    _add(total, amounts(spec.get("overhead")))
    return total


class Resource:
    """Amounts of compute resources: millicores, bytes, a pod count, and any extended resources."""

    __slots__ = ("allowed_pod_number", "ephemeral_storage", "memory", "milli_cpu", "scalar")

    def __init__(self, milli_cpu: int = 0, memory: int = 0, ephemeral_storage: int = 0,
                 allowed_pod_number: int = 0, scalar: dict[str, int] | None = None) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral_storage = ephemeral_storage
        self.allowed_pod_number = allowed_pod_number
        self.scalar: dict[str, int] = scalar or {}

    @classmethod
    def from_amounts(cls, values: Mapping[str, int]) -> Resource:
        r = cls()
        for name, amount in values.items():
            if name == "cpu":
                r.milli_cpu = amount
            elif name == "memory":
                r.memory = amount
            elif name == "pods":
                r.allowed_pod_number = amount
            elif name == "ephemeral-storage":
                r.ephemeral_storage = amount
            elif _is_scalar_resource(name):
                r.scalar[name] = amount
        return r

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * amount

    def clone(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pod_number,
                        dict(self.scalar) if self.scalar else None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resource) and (
            self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pod_number, self.scalar
        ) == (other.milli_cpu, other.memory, other.ephemeral_storage, other.allowed_pod_number, other.scalar)

    def __repr__(self) -> str:
        return (f"Resource(milli_cpu={self.milli_cpu}, memory={self.memory}, "
                f"pods={self.allowed_pod_number}, scalar={self.scalar})")


def _is_scalar_resource(name: str) -> bool:
    """Extended (``example.com/gpu``), hugepages and attachable-volume resources (``IsScalarResourceName``)."""
    return name.startswith(("hugepages-", "attachable-volumes-")) or (
        "/" in name and not name.startswith("requests.")
    )


class AffinityTerm:
    """A parsed pod (anti-)affinity term: which pods it selects, and over what topology."""

    __slots__ = ("namespace_selector", "namespaces", "selector", "topology_key")

    def __init__(self, namespaces: frozenset[str], selector: LabelSelector, topology_key: str,
                 namespace_selector: LabelSelector) -> None:
        self.namespaces = namespaces
        self.selector = selector
        self.topology_key = topology_key
        self.namespace_selector = namespace_selector

    @classmethod
    def parse(cls, pod_namespace: str, term: Mapping[str, Any]) -> AffinityTerm:
        """``getNamespacesFromPodAffinityTerm`` + selectors; raises :class:`SelectorError`.

        No namespaces and no namespace selector means the pod's own namespace.
        """
        namespaces = term.get("namespaces") or []
        ns_selector = term.get("namespaceSelector")
        if not namespaces and ns_selector is None:
            namespaces = [pod_namespace]
        return cls(frozenset(namespaces), LabelSelector.from_label_selector(term.get("labelSelector")),
                   term.get("topologyKey") or "", LabelSelector.from_label_selector(ns_selector))

    def matches(self, pod: PodInfo, namespace_labels: Mapping[str, str] | None) -> bool:
        """Whether ``pod`` is one of the pods this term selects (``AffinityTerm.Matches``)."""
        if pod.namespace in self.namespaces or self.namespace_selector.matches(namespace_labels):
            return self.selector.matches(pod.labels)
        return False


class WeightedAffinityTerm:
    __slots__ = ("term", "weight")

    def __init__(self, term: AffinityTerm, weight: int) -> None:
        self.term = term
        self.weight = weight


class PodInfo:
    """A pod (the API's dict, never modified) and what scheduling derives from it."""

    __slots__ = (
        "host_ports", "labels", "name", "namespace", "node_name", "non0_cpu", "non0_mem", "parse_error",
        "pod", "preferred_affinity_terms", "preferred_anti_affinity_terms", "priority",
        "required_affinity_terms", "required_anti_affinity_terms", "requests", "uid",
    )

    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.name: str = meta.get("name", "")
        self.namespace: str = meta.get("namespace", "")
        self.uid: str = meta.get("uid") or f"{self.namespace}/{self.name}"
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.node_name: str = spec.get("nodeName") or ""
        self.priority: int = spec.get("priority") or 0
        requests = pod_requests(pod)
        self.requests = Resource.from_amounts(requests)
        missing = {k: v for k, v in NON_ZERO_DEFAULTS.items() if k not in requests}
        non0 = pod_requests(pod, missing) if missing else requests
        self.non0_cpu: int = non0.get("cpu", 0)
        self.non0_mem: int = non0.get("memory", 0)
        self.host_ports: list[tuple[str, str, int]] = [
            (port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", port["hostPort"])
            for container in spec.get("containers") or ()
            for port in container.get("ports") or ()
            if port.get("hostPort")
        ]
        self.parse_error = ""
        self.required_affinity_terms: list[AffinityTerm] = []
        self.required_anti_affinity_terms: list[AffinityTerm] = []
        self.preferred_affinity_terms: list[WeightedAffinityTerm] = []
        self.preferred_anti_affinity_terms: list[WeightedAffinityTerm] = []
        affinity = spec.get("affinity") or {}
        if affinity.get("podAffinity") or affinity.get("podAntiAffinity"):
            self._parse_affinity(affinity)

    def _parse_affinity(self, affinity: Mapping[str, Any]) -> None:
        # Bad terms are dropped and remembered, as upstream's NewPodInfo does: existing pods
        # keep counting, and InterPodAffinity refuses to place a pod whose own terms are bad.
        ns = self.namespace
        errors: list[str] = []

        def parse(terms: Any, what: str) -> list[AffinityTerm]:
            parsed = []
            for term in terms or ():
                try:
                    parsed.append(AffinityTerm.parse(ns, term))
                except SelectorError as e:
                    errors.append(f"{what}: {e}")
            return parsed

        def parse_weighted(terms: Any, what: str) -> list[WeightedAffinityTerm]:
            parsed = []
            for weighted in terms or ():
                try:
                    term = AffinityTerm.parse(ns, weighted.get("podAffinityTerm") or {})
                except SelectorError as e:
                    errors.append(f"{what}: {e}")
                    continue
                parsed.append(WeightedAffinityTerm(term, weighted.get("weight") or 0))
            return parsed

        pod_affinity = affinity.get("podAffinity") or {}
        anti = affinity.get("podAntiAffinity") or {}
        self.required_affinity_terms = parse(
            pod_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"), "requiredAffinityTerms")
        self.required_anti_affinity_terms = parse(
            anti.get("requiredDuringSchedulingIgnoredDuringExecution"), "requiredAntiAffinityTerms")
        self.preferred_affinity_terms = parse_weighted(
            pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"), "preferredAffinityTerms")
        self.preferred_anti_affinity_terms = parse_weighted(
            anti.get("preferredDuringSchedulingIgnoredDuringExecution"), "preferredAntiAffinityTerms")
        self.parse_error = "; ".join(errors)

    def assumed_on(self, node_name: str) -> PodInfo:
        """A copy of this pod info placed on ``node_name``, as the scheduler assumes it before binding."""
        copy = PodInfo.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy.pod = {**self.pod, "spec": {**self.spec, "nodeName": node_name}}
        copy.node_name = node_name
        return copy

    @property
    def spec(self) -> dict[str, Any]:
        return self.pod.get("spec") or {}

    @property
    def has_affinity(self) -> bool:
        """Whether the pod has any pod affinity or anti-affinity term."""
        return bool(self.required_affinity_terms or self.required_anti_affinity_terms
                    or self.preferred_affinity_terms or self.preferred_anti_affinity_terms)

    @property
    def terminating(self) -> bool:
        return bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    def __repr__(self) -> str:
        return f"PodInfo({self.namespace}/{self.name})"


class NodeInfo:
    """A node and the pods on it, with their requests added up (``framework.NodeInfo``).

    ``node`` is None while the scheduler knows of pods on a node it has not seen yet.
    """

    __slots__ = (
        "allocatable", "generation", "labels", "name", "node", "non_zero_requested", "pods",
        "pods_with_affinity", "pods_with_required_anti_affinity", "requested", "taints",
        "unschedulable", "used_ports",
    )

    def __init__(self, node: dict[str, Any] | None = None, pods: list[PodInfo] | None = None) -> None:
        self.node: dict[str, Any] | None = None
        self.name = ""
        self.labels: dict[str, str] = {}
        self.taints: list[dict[str, Any]] = []
        self.unschedulable = False
        self.allocatable = Resource()
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.requested = Resource()
        self.non_zero_requested = Resource()
        self.used_ports: set[tuple[str, str, int]] = set()
        self.generation = 0
        if node is not None:
            self.set_node(node)
        for pod in pods or ():
            self.add_pod(pod)

    def set_node(self, node: dict[str, Any]) -> None:
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.node = node
        self.name = meta.get("name", "")
        self.labels = meta.get("labels") or {}
        self.taints = spec.get("taints") or []
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = Resource.from_amounts(amounts((node.get("status") or {}).get("allocatable")))

    def add_pod(self, pod: PodInfo) -> None:
        self.pods.append(pod)
        if pod.has_affinity:
            self.pods_with_affinity.append(pod)
        if pod.required_anti_affinity_terms:
            self.pods_with_required_anti_affinity.append(pod)
        self._update(pod, 1)

    def remove_pod(self, pod: PodInfo) -> bool:
        """Take the pod (matched by uid) off the node; False if it was not there."""
        uid = pod.uid
        for i, existing in enumerate(self.pods):
            if existing.uid == uid:
                del self.pods[i]
                self.pods_with_affinity = [p for p in self.pods_with_affinity if p.uid != uid]
                self.pods_with_required_anti_affinity = [
                    p for p in self.pods_with_required_anti_affinity if p.uid != uid
                ]
                self._update(existing, -1)
                return True
        return False

    def _update(self, pod: PodInfo, sign: int) -> None:
        self.requested.add(pod.requests, sign)
        self.non_zero_requested.milli_cpu += sign * pod.non0_cpu
        self.non_zero_requested.memory += sign * pod.non0_mem
        for port in pod.host_ports:
            if sign > 0:
                self.used_ports.add(port)
            else:
                self.used_ports.discard(port)

    def clone(self) -> NodeInfo:
        """A copy that shares pods and node but not the lists and sums, for the snapshot."""
        copy = NodeInfo.__new__(NodeInfo)
        copy.copy_from(self)
        return copy

    def copy_from(self, other: NodeInfo) -> None:
        self.node = other.node
        self.name = other.name
        self.labels = other.labels
        self.taints = other.taints
        self.unschedulable = other.unschedulable
        self.allocatable = other.allocatable
        self.pods = list(other.pods)
        self.pods_with_affinity = list(other.pods_with_affinity)
        self.pods_with_required_anti_affinity = list(other.pods_with_required_anti_affinity)
        self.requested = other.requested.clone()
        self.non_zero_requested = other.non_zero_requested.clone()
        self.used_ports = set(other.used_ports)
        self.generation = other.generation

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)}, requested={self.requested!r})"
