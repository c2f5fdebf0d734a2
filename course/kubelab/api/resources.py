"""Which resources the cluster serves: group, version, kind, names, scope, subresources, etcd prefix.

The API server builds discovery, routing and storage keys from this table; kubectl's
``api-resources`` prints it back. Custom resources join it when their
CustomResourceDefinition is established (:meth:`ResourceRegistry.add`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "log": ("get",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
    "proxy": ("create", "delete", "get", "patch", "update"),
    "finalize": ("update",),
}
SUBRESOURCE_KINDS = {
    "status": None,  # the resource's own kind
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "log": ("", "v1", "Pod"),
    "exec": ("", "v1", "PodExecOptions"),
    "attach": ("", "v1", "PodAttachOptions"),
    "portforward": ("", "v1", "PodPortForwardOptions"),
    "proxy": ("", "v1", "NodeProxyOptions"),
    "finalize": None,
}


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource, e.g. ``deployments`` in ``apps/v1``."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS
    etcd_prefix: str = ""
    storage_group: str | None = None
    """Another group this resource shares its stored objects with (events.k8s.io events are core events)."""
    crd: bool = field(default=False, compare=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    api_version = group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> str:
        """``deployments.apps``, ``pods``: how Status messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def prefix(self) -> str:
        """The etcd key prefix, e.g. ``/registry/minions`` for nodes."""
        if self.etcd_prefix:
            return self.etcd_prefix
        if self.crd:
            return f"/registry/{self.group}/{self.plural}"
        return f"/registry/{self.plural}"

    def key(self, namespace: str | None, name: str) -> str:
        """The etcd key of one object: ``<prefix>/<namespace>/<name>`` or ``<prefix>/<name>``."""
        if self.namespaced:
            return f"{self.prefix}/{namespace}/{name}"
        return f"{self.prefix}/{name}"

    def list_prefix(self, namespace: str | None = None) -> str:
        """The key prefix that lists every object (in one namespace, or in all)."""
        if self.namespaced and namespace:
            return f"{self.prefix}/{namespace}/"
        return f"{self.prefix}/"


def _core(kind: str, plural: str, namespaced: bool = True, **kw: object) -> ResourceInfo:
    return ResourceInfo("", "v1", kind, plural, kind.lower(), namespaced, **kw)  # type: ignore[arg-type]


def _grouped(group: str, kind: str, plural: str, namespaced: bool = True, **kw: object) -> ResourceInfo:
    return ResourceInfo(group, "v1", kind, plural, kind.lower(), namespaced, **kw)  # type: ignore[arg-type]


BUILTIN: tuple[ResourceInfo, ...] = (
    _core(
        "Namespace", "namespaces", False, short_names=("ns",), subresources=("status", "finalize"),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    _core(
        "Pod", "pods", short_names=("po",), categories=("all",),
        subresources=("status", "binding", "eviction", "log", "exec", "attach", "portforward"),
    ),
    _core(
        "Node", "nodes", False, short_names=("no",), subresources=("status", "proxy"),
        etcd_prefix="/registry/minions",
    ),
    _core(
        "Service", "services", short_names=("svc",), categories=("all",), subresources=("status",),
        etcd_prefix="/registry/services/specs",
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    _core("Endpoints", "endpoints", short_names=("ep",), etcd_prefix="/registry/services/endpoints"),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets"),
    _core("Event", "events", short_names=("ev",)),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",), subresources=("status",)),
    _core("PersistentVolume", "persistentvolumes", False, short_names=("pv",), subresources=("status",)),
    _grouped(
        "apps", "Deployment", "deployments", short_names=("deploy",), categories=("all",),
        subresources=("status", "scale"),
    ),
    _grouped(
        "apps", "ReplicaSet", "replicasets", short_names=("rs",), categories=("all",),
        subresources=("status", "scale"),
    ),
    _grouped(
        "apps", "StatefulSet", "statefulsets", short_names=("sts",), categories=("all",),
        subresources=("status", "scale"),
    ),
    _grouped(
        "apps", "DaemonSet", "daemonsets", short_names=("ds",), categories=("all",), subresources=("status",),
    ),
    _grouped("apps", "ControllerRevision", "controllerrevisions"),
    _grouped("batch", "Job", "jobs", categories=("all",), subresources=("status",)),
    _grouped(
        "networking.k8s.io", "Ingress", "ingresses", short_names=("ing",), subresources=("status",),
        etcd_prefix="/registry/ingress",
    ),
    _grouped("networking.k8s.io", "IngressClass", "ingressclasses", False),
    _grouped("discovery.k8s.io", "EndpointSlice", "endpointslices"),
    _grouped("coordination.k8s.io", "Lease", "leases"),
    _grouped(
        "events.k8s.io", "Event", "events", short_names=("ev",), etcd_prefix="/registry/events",
        storage_group="",
    ),
    _grouped(
        "apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", False,
        short_names=("crd", "crds"), categories=("api-extensions",), subresources=("status",),
        etcd_prefix="/registry/apiextensions.k8s.io/customresourcedefinitions",
    ),
)


class ResourceRegistry:
    """The set of served resources; thread-safe, since CRDs come and go while requests run."""

    def __init__(self, resources: Iterable[ResourceInfo] = BUILTIN) -> None:
        self._lock = threading.Lock()
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        for info in resources:
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        with self._lock:
            self._by_gvr[(info.group, info.version, info.plural)] = info

    def remove(self, group: str, version: str, plural: str) -> None:
        with self._lock:
            self._by_gvr.pop((group, version, plural), None)

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def for_kind(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        for info in self:
            if (info.group, info.version, info.kind) == (group, version, kind):
                return info
        return None

    def __iter__(self) -> Iterator[ResourceInfo]:
        with self._lock:
            return iter(list(self._by_gvr.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """Each served group (``""`` for core) and its versions, preferred first."""
        groups: dict[str, list[str]] = {}
        for info in self:
            versions = groups.setdefault(info.group, [])
            if info.version not in versions:
                versions.append(info.version)
        return groups
