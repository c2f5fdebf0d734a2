"""The scheduler's cache of nodes and pods, and the snapshot each scheduling cycle reads.

Mirrors ``pkg/scheduler/backend/cache`` (``cache.go``, ``snapshot.go``, ``node_tree.go``).
Informer handlers add, update and remove nodes and assigned pods. The scheduler itself
*assumes* a pod onto the node it chose before the binding reaches the API server, so the
next pod already sees that node's resources taken; the pod is confirmed when the informer
reports it bound, or forgotten if binding failed.

A cycle must not see the cache change under it, so it reads a :class:`Snapshot`. Only
nodes that changed since the last cycle are copied into it, not the whole cluster.
"""

from __future__ import annotations

import threading
from typing import Any

from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["Cache", "CacheError", "Snapshot"]

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")


class CacheError(RuntimeError):
    """The cache was asked something inconsistent with what it holds (a bug, or a lost event)."""


def zone_key(node: dict[str, Any]) -> str:
    """The node's region and zone as one key, empty without labels (``utilnode.GetZoneKey``)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = next((labels[k] for k in REGION_LABELS if k in labels), "")
    zone = next((labels[k] for k in ZONE_LABELS if k in labels), "")
    return f"{region}:\x00:{zone}" if region or zone else ""


class Snapshot:
    """The nodes as one scheduling cycle sees them (``cache.Snapshot``).

    ``node_infos`` lists the nodes interleaved across zones, so that scanning from any
    point spreads pods over zones; the two shorter lists hold the nodes running pods with
    (required anti-)affinity, which InterPodAffinity walks instead of every node.
    """

    def __init__(self, nodes: list[NodeInfo] | None = None) -> None:
        self.node_info_map: dict[str, NodeInfo] = {}
        self.node_infos: list[NodeInfo] = []
        self.have_pods_with_affinity: list[NodeInfo] = []
        self.have_pods_with_required_anti_affinity: list[NodeInfo] = []
        self.generation = -1
        if nodes:
            for info in nodes:
                self.node_info_map[info.name] = info
            self.node_infos = list(nodes)
            self.rebuild_affinity_lists()

    def get(self, name: str) -> NodeInfo | None:
        return self.node_info_map.get(name)

    def __len__(self) -> int:
        return len(self.node_infos)

    def rebuild_affinity_lists(self) -> None:
        self.have_pods_with_affinity = [n for n in self.node_infos if n.pods_with_affinity]
        self.have_pods_with_required_anti_affinity = [
            n for n in self.node_infos if n.pods_with_required_anti_affinity
        ]


class Cache:
    """Nodes and the pods placed on them, assumed pods included; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, PodInfo] = {}
        self._assumed: set[str] = set()
        self._binding_finished: set[str] = set()
        self._zones: dict[str, list[str]] = {}
        self._node_zone: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._tree_changed = True
        self._generation = 0

    # -- nodes -------------------------------------------------------------------

    def add_node(self, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        with self._lock:
            info = self._nodes.get(name)
            if info is None:
                info = self._nodes[name] = NodeInfo()
            info.set_node(node)
            self._place_in_tree(name, zone_key(node))
            self._touch(name)

    def update_node(self, node: dict[str, Any]) -> None:
        self.add_node(node)

    def remove_node(self, node: dict[str, Any]) -> None:
        """Forget the node; its pods stay counted until they are deleted too (as upstream)."""
        name = node["metadata"]["name"]
        with self._lock:
            info = self._nodes.get(name)
            if info is None:
                return
            info.node = None
            if not info.pods:
                del self._nodes[name]
            zone = self._node_zone.pop(name, None)
            if zone is not None:
                self._zones[zone].remove(name)
                if not self._zones[zone]:
                    del self._zones[zone]
                self._tree_changed = True
            self._touch(name)

    def _place_in_tree(self, name: str, zone: str) -> None:
        current = self._node_zone.get(name)
        if current == zone:
            return
        if current is not None:
            self._zones[current].remove(name)
            if not self._zones[current]:
                del self._zones[current]
        self._zones.setdefault(zone, []).append(name)
        self._node_zone[name] = zone
        self._tree_changed = True

    # -- pods --------------------------------------------------------------------

    def assume_pod(self, pod: PodInfo) -> None:
        """Count ``pod`` (with its ``node_name`` set) on its node before it is bound."""
        with self._lock:
            if pod.uid in self._pods:
                raise CacheError(f"pod {pod.namespace}/{pod.name} is in the cache, so it can't be assumed")
            self._add_pod(pod)
            self._assumed.add(pod.uid)

    def finish_binding(self, pod: PodInfo) -> None:
        """The binding request succeeded; the informer's update will confirm the pod."""
        with self._lock:
            if pod.uid in self._assumed:
                self._binding_finished.add(pod.uid)

    def forget_pod(self, pod: PodInfo) -> None:
        """Undo :meth:`assume_pod` (binding failed)."""
        with self._lock:
            current = self._pods.get(pod.uid)
            if current is None or pod.uid not in self._assumed:
                return
            if current.node_name != pod.node_name:
                raise CacheError(
                    f"pod {pod.namespace}/{pod.name} was assumed on {current.node_name} "
                    f"but is being forgotten on {pod.node_name}"
                )
            self._remove_pod(current)
            self._assumed.discard(pod.uid)
            self._binding_finished.discard(pod.uid)

    def is_assumed(self, uid: str) -> bool:
        with self._lock:
            return uid in self._assumed

    def add_pod(self, pod: PodInfo) -> None:
        """An assigned pod from the informer: confirm it if it was assumed, else add it."""
        with self._lock:
            current = self._pods.get(pod.uid)
            if current is not None and pod.uid in self._assumed:
                self._remove_pod(current)
                self._assumed.discard(pod.uid)
                self._binding_finished.discard(pod.uid)
            elif current is not None:
                self._remove_pod(current)
            self._add_pod(pod)

    def update_pod(self, pod: PodInfo) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: PodInfo) -> None:
        with self._lock:
            current = self._pods.get(pod.uid)
            if current is None:
                return
            self._remove_pod(current)
            self._assumed.discard(pod.uid)
            self._binding_finished.discard(pod.uid)

    def get_pod(self, uid: str) -> PodInfo | None:
        with self._lock:
            return self._pods.get(uid)

    def _add_pod(self, pod: PodInfo) -> None:
        info = self._nodes.get(pod.node_name)
        if info is None:
            info = self._nodes[pod.node_name] = NodeInfo()
        info.add_pod(pod)
        self._pods[pod.uid] = pod
        self._touch(pod.node_name)

    def _remove_pod(self, pod: PodInfo) -> None:
        info = self._nodes.get(pod.node_name)
        if info is not None:
            info.remove_pod(pod)
            if info.node is None and not info.pods:
                del self._nodes[pod.node_name]
            self._touch(pod.node_name)
        del self._pods[pod.uid]

    def _touch(self, node_name: str) -> None:
        self._dirty.add(node_name)
        self._generation += 1
        info = self._nodes.get(node_name)
        if info is not None:
            info.generation = self._generation

    # -- snapshot ----------------------------------------------------------------

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Bring ``snapshot`` up to date, copying only the nodes that changed since its last update."""
        with self._lock:
            if snapshot.generation == self._generation:
                return
            if snapshot.generation < 0:
                self._dirty = set(self._nodes) | set(snapshot.node_info_map)
                self._tree_changed = True
            rebuild_lists = self._tree_changed
            rebuild_affinity = False
            for name in self._dirty:
                info = self._nodes.get(name)
                existing = snapshot.node_info_map.get(name)
                if info is None or info.node is None:
                    if existing is not None:
                        del snapshot.node_info_map[name]
                        rebuild_lists = True
                    continue
                if existing is None:
                    snapshot.node_info_map[name] = info.clone()
                    rebuild_lists = True
                    continue
                had = (bool(existing.pods_with_affinity), bool(existing.pods_with_required_anti_affinity))
                existing.copy_from(info)
                if had != (bool(existing.pods_with_affinity), bool(existing.pods_with_required_anti_affinity)):
                    rebuild_affinity = True
            self._dirty.clear()
            if rebuild_lists:
                snapshot.node_infos = [snapshot.node_info_map[name] for name in self._tree_order()]
                self._tree_changed = False
            if rebuild_lists or rebuild_affinity:
                snapshot.rebuild_affinity_lists()
            snapshot.generation = self._generation

    def _tree_order(self) -> list[str]:
        """Node names taking one from each zone in turn (``nodeTree.list``)."""
        zones = list(self._zones.values())
        order: list[str] = []
        depth = 0
        while True:
            took = False
            for names in zones:
                if depth < len(names):
                    order.append(names[depth])
                    took = True
            if not took:
                return order
            depth += 1
