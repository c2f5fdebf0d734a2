"""Pods, nodes and snapshots for scheduler tests, as plain API dicts."""

from __future__ import annotations

import itertools
from typing import Any

from kubelab.scheduler import (
    Cache,
    Handle,
    NodeInfo,
    PodInfo,
    Profile,
    Snapshot,
    StaticObjects,
    default_plugins,
)
from kubelab.scheduler.plugins import DEFAULT_WEIGHTS

_uids = itertools.count(1)


def pod(
    name: str = "p",
    namespace: str = "default",
    *,
    cpu: str | None = None,
    memory: str | None = None,
    labels: dict[str, str] | None = None,
    node_name: str | None = None,
    priority: int | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A pod with one container requesting ``cpu``/``memory``; extra keyword arguments go in ``spec``."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{next(_uids)}", "labels": labels or {}},
        "spec": {"containers": [container], "schedulerName": "default-scheduler", **spec},
        "status": {"phase": "Pending"},
    }
    if node_name:
        body["spec"]["nodeName"] = node_name
    if priority is not None:
        body["spec"]["priority"] = priority
    return body


def node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": allocatable, "allocatable": allocatable},
    }


def node_info(node_obj: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    return NodeInfo(node_obj, [PodInfo(p) for p in pods])


def snapshot(nodes: list[dict[str, Any]], pods: list[dict[str, Any]] = ()) -> Snapshot:  # type: ignore[assignment]
    """A snapshot as the cache would build it from these nodes and assigned pods."""
    cache = Cache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        cache.add_pod(PodInfo(p))
    snap = Snapshot()
    cache.update_snapshot(snap)
    return snap


def default_profile(snap: Snapshot, objects: dict[str, list[dict[str, Any]]] | None = None,
                    plugins: list[Any] | None = None) -> Profile:
    """The default profile, its plugins set up with a handle on ``snap`` (no API client)."""
    plugins = default_plugins() if plugins is None else plugins
    names = {p.name for p in plugins}
    profile = Profile(plugins, {k: v for k, v in DEFAULT_WEIGHTS.items() if k in names})
    handle = Handle(snap, StaticObjects(objects), profile=profile)
    for p in plugins:
        if hasattr(p, "setup"):
            p.setup(handle)
    return profile
