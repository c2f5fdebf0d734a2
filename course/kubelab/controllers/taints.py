"""Taints on nodes and the tolerations that let pods stay: matching them, and changing a node's taints.

Mirrors ``pkg/util/taints``, ``GetMatchingTolerations`` of ``pkg/apis/core/v1/helper`` and
``AddOrUpdateTaintOnNode`` / ``RemoveTaintOffNode`` of ``pkg/controller/controller_utils.go``.
A taint is identified by its key and effect (``MatchTaint``): its value and ``timeAdded``
may change without it being another taint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.client import Resource
from kubelab.scheduler.plugins.helper import tolerates_taint

Taint = Mapping[str, Any]

UPDATE_RETRIES = 5

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"


def matches(a: Taint, b: Taint) -> bool:
    """Whether two taints are the same taint: same key and effect (``MatchTaint``)."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def taint_exists(taints: Iterable[Taint], taint: Taint) -> bool:
    return any(matches(t, taint) for t in taints)


def node_taints(node: Mapping[str, Any]) -> list[Taint]:
    return list((node.get("spec") or {}).get("taints") or ())


def no_execute_taints(node: Mapping[str, Any] | None) -> list[Taint]:
    """The node's taints that evict pods already running (effect ``NoExecute``)."""
    return [t for t in node_taints(node or {}) if t.get("effect") == "NoExecute"]


def matching_tolerations(taints: Sequence[Taint], tolerations: Sequence[Mapping[str, Any]]) -> tuple[bool, list[Any]]:
    """``(all tolerated, the toleration used for each taint)`` (``GetMatchingTolerations``)."""
    used = []
    for taint in taints:
        toleration = next((t for t in tolerations if tolerates_taint(t, taint)), None)
        if toleration is None:
            return False, []
        used.append(toleration)
    return True, used


def change_node_taints(nodes: Resource, name: str, add: Sequence[Taint] = (), remove: Sequence[Taint] = (),
                       *, time_added: str = "") -> bool:
    """Add (or refresh) and remove taints on node ``name``, read fresh and retried on conflict.

    Added taints get ``timeAdded`` when given. Returns whether the node changed; False if it is gone.
    """
    for attempt in range(UPDATE_RETRIES):
        try:
            node = nodes.get(name)
        except errors.NotFound:
            return False
        current = node_taints(node)
        stamped = [{**t, **({"timeAdded": time_added} if time_added else {})} for t in add]
        wanted: list[Taint] = []
        for taint in current:
            new = next((t for t in stamped if matches(t, taint)), None)
            if new is not None and new.get("value") != taint.get("value"):
                wanted.append(new)
            elif new is not None or not taint_exists(remove, taint):
                wanted.append(taint)
        wanted += [t for t in stamped if not taint_exists(current, t)]
        if wanted == current:
            return False
        node.setdefault("spec", {})["taints"] = wanted
        if not wanted:
            del node["spec"]["taints"]
        try:
            nodes.update(node)
            return True
        except errors.Conflict:
            if attempt == UPDATE_RETRIES - 1:
                raise
        except errors.NotFound:
            return False
    return False
