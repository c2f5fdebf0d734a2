"""PodTopologySpread: spread matching pods evenly over nodes, zones... (``plugins/podtopologyspread``).

A constraint counts the pods its selector matches in each *domain* (each value of its
topology key). The *skew* of a domain is its count minus the smallest count. With
``whenUnsatisfiable: DoNotSchedule`` a node is rejected if placing the pod there would
make its domain's skew exceed ``maxSkew``; with ``ScheduleAnyway`` less crowded domains
just score higher.

Pods without constraints of their own get the cluster defaults when they belong to a
Service, ReplicaSet, ReplicationController or StatefulSet: spread by hostname (max skew
3) and by zone (max skew 5), scoring only. That is why a Deployment's replicas land on
different nodes without asking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from kubelab.api.meta import controller_of
from kubelab.api.selectors import LabelSelector, Requirement, SelectorError
from kubelab.scheduler.cache import Snapshot
from kubelab.scheduler.framework import MAX_NODE_SCORE, SKIP, ClusterEvent, CycleState, Status
from kubelab.scheduler.handle import Handle
from kubelab.scheduler.nodeinfo import LABEL_HOSTNAME, NodeInfo, PodInfo
from kubelab.scheduler.plugins.helper import find_matching_untolerated_taint
from kubelab.scheduler.plugins.node_affinity import RequiredNodeAffinity

__all__ = [
    "ERR_REASON_CONSTRAINTS_NOT_MATCH",
    "ERR_REASON_NODE_LABEL_NOT_MATCH",
    "SYSTEM_DEFAULT_CONSTRAINTS",
    "PodTopologySpread",
]

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
LABEL_ZONE = "topology.kubernetes.io/zone"
SYSTEM_DEFAULT_CONSTRAINTS: list[dict[str, Any]] = [
    {"maxSkew": 3, "topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway"},
    {"maxSkew": 5, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": "ScheduleAnyway"},
]
PRE_FILTER_KEY = "PreFilterPodTopologySpread"
PRE_SCORE_KEY = "PreScorePodTopologySpread"


class Constraint:
    """One parsed ``topologySpreadConstraints`` entry (``topologySpreadConstraint``)."""

    __slots__ = ("max_skew", "min_domains", "node_affinity_policy", "node_taints_policy", "selector",
                 "topology_key")

    def __init__(self, spec: Mapping[str, Any], selector: LabelSelector) -> None:
        self.max_skew: int = spec.get("maxSkew") or 1
        self.topology_key: str = spec.get("topologyKey") or ""
        self.selector = selector
        self.min_domains: int = spec.get("minDomains") or 1
        self.node_affinity_policy: str = spec.get("nodeAffinityPolicy") or "Honor"
        self.node_taints_policy: str = spec.get("nodeTaintsPolicy") or "Ignore"

    def includes(self, pod: PodInfo, node: NodeInfo, required: RequiredNodeAffinity) -> bool:
        """Whether the node's domain counts at all, under the node inclusion policies."""
        if self.node_affinity_policy == "Honor" and not required.matches(node):
            return False
        return not (self.node_taints_policy == "Honor" and node.taints
                    and find_matching_untolerated_taint(node.taints, pod.spec.get("tolerations") or ()))


def count_matching(pods: list[PodInfo], selector: LabelSelector, namespace: str) -> int:
    """Pods of ``namespace`` the selector matches, not counting terminating ones (``countPodsMatchSelector``)."""
    return sum(1 for p in pods if p.namespace == namespace and not p.terminating and selector.matches(p.labels))


def _has_all_keys(node: NodeInfo, constraints: list[Constraint]) -> bool:
    return all(c.topology_key in node.labels for c in constraints)


class _PreFilterState:
    __slots__ = ("constraints", "counts", "minimums")

    def __init__(self, constraints: list[Constraint], counts: list[dict[str, int]]) -> None:
        self.constraints = constraints
        self.counts = counts
        self.minimums = [min(c.values(), default=0) for c in counts]

    def clone(self) -> _PreFilterState:
        return _PreFilterState(self.constraints, [dict(c) for c in self.counts])

    def update_with_pod(self, pod: PodInfo, incoming: PodInfo, node: NodeInfo, delta: int) -> None:
        if pod.namespace != incoming.namespace or not _has_all_keys(node, self.constraints):
            return
        required = RequiredNodeAffinity(incoming.pod)
        for i, c in enumerate(self.constraints):
            if not c.selector.matches(pod.labels) or not c.includes(incoming, node, required):
                continue
            value = node.labels[c.topology_key]
            self.counts[i][value] = self.counts[i].get(value, 0) + delta
            self.minimums[i] = min(self.counts[i].values())


class _PreScoreState:
    __slots__ = ("constraints", "ignored", "topology_counts", "weights")

    def __init__(self) -> None:
        self.constraints: list[Constraint] = []
        self.ignored: set[str] = set()
        self.topology_counts: list[dict[str, int]] = []
        self.weights: list[float] = []


class PodTopologySpread:
    """Filter: ``DoNotSchedule`` constraints. Score: ``ScheduleAnyway`` constraints, or the defaults."""

    name = "PodTopologySpread"

    def __init__(self, default_constraints: list[dict[str, Any]] | None = None) -> None:
        self.default_constraints = SYSTEM_DEFAULT_CONSTRAINTS if default_constraints is None else default_constraints
        self.system_defaulted = default_constraints is None
        self.handle = Handle(Snapshot())

    def setup(self, handle: Handle) -> None:
        self.handle = handle

    # -- constraints -----------------------------------------------------------------------

    def constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        """The pod's constraints with ``whenUnsatisfiable: action``, or the defaults if it has none."""
        own = pod.spec.get("topologySpreadConstraints")
        if own:
            return self._parse(own, pod.labels, action)
        constraints = self._parse(self.default_constraints, pod.labels, action, with_selectors=False)
        if not constraints:
            return []
        selector = self.default_selector(pod)
        if selector.empty:
            return []
        for c in constraints:
            c.selector = selector
        return constraints

    @staticmethod
    def _parse(specs: list[dict[str, Any]], pod_labels: Mapping[str, str], action: str,
               with_selectors: bool = True) -> list[Constraint]:
        result = []
        for spec in specs:
            if spec.get("whenUnsatisfiable") != action:
                continue
            selector = LabelSelector.nothing()
            if with_selectors:
                selector = LabelSelector.from_label_selector(spec.get("labelSelector"))
                keys = [k for k in spec.get("matchLabelKeys") or () if k in pod_labels]
                if keys:
                    selector = selector.add(*(Requirement(k, "=", (pod_labels[k],)) for k in keys))
            result.append(Constraint(spec, selector))
        return result

    def default_selector(self, pod: PodInfo) -> LabelSelector:
        """The selectors of the Services, and the controller, owning this pod, ANDed (``helper.DefaultSelector``)."""
        objects = self.handle.objects
        labels: dict[str, str] = {}
        for service in objects.list("services", pod.namespace):
            selector = (service.get("spec") or {}).get("selector")
            if selector and LabelSelector.from_set(selector).matches(pod.labels):
                labels.update(selector)
        selector = LabelSelector.from_set(labels)
        owner = controller_of(pod.pod)
        if owner is None:
            return selector
        kind, api_version = owner.get("kind"), owner.get("apiVersion")
        if (kind, api_version) == ("ReplicationController", "v1"):
            rc = objects.get("replicationcontrollers", pod.namespace, owner.get("name", ""))
            if rc is not None:
                labels.update((rc.get("spec") or {}).get("selector") or {})
                selector = LabelSelector.from_set(labels)
        elif (kind, api_version) in (("ReplicaSet", "apps/v1"), ("StatefulSet", "apps/v1")):
            resource = "replicasets" if kind == "ReplicaSet" else "statefulsets"
            owner_obj = objects.get(resource, pod.namespace, owner.get("name", ""))
            if owner_obj is not None:
                try:
                    other = LabelSelector.from_label_selector((owner_obj.get("spec") or {}).get("selector"))
                except SelectorError:
                    return selector
                if not other.matches_nothing:
                    selector = selector.add(*other.requirements)
        return selector

    # -- filtering -------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        try:
            constraints = self.constraints(pod, "DoNotSchedule")
        except SelectorError as e:
            return Status.error(f"obtaining pod's hard topology spread constraints: {e}")
        if not constraints:
            return SKIP
        required = RequiredNodeAffinity(pod.pod)
        counts: list[dict[str, int]] = [{} for _ in constraints]
        for node in nodes:
            if not _has_all_keys(node, constraints):
                continue
            for i, c in enumerate(constraints):
                if not c.includes(pod, node, required):
                    continue
                value = node.labels[c.topology_key]
                counts[i][value] = counts[i].get(value, 0) + count_matching(node.pods, c.selector, pod.namespace)
        state.write(PRE_FILTER_KEY, _PreFilterState(constraints, counts))
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> None:
        s = state.get(PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(to_add, pod, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> None:
        s = state.get(PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(to_remove, pod, node, -1)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState = state.read(PRE_FILTER_KEY)
        for i, c in enumerate(s.constraints):
            value = node.labels.get(c.topology_key)
            if value is None:
                return Status.unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH)
            counts = s.counts[i]
            # Fewer eligible domains than minDomains: the global minimum counts as 0.
            minimum = s.minimums[i] if len(counts) >= c.min_domains else 0
            self_match = 1 if c.selector.matches(pod.labels) else 0
            if counts.get(value, 0) + self_match - minimum > c.max_skew:
                return Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return None

    # -- scoring ---------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        all_nodes = self.handle.snapshot.node_infos
        if not all_nodes:
            return SKIP
        try:
            constraints = self.constraints(pod, "ScheduleAnyway")
        except SelectorError as e:
            return Status.error(f"obtaining pod's soft topology spread constraints: {e}")
        if not constraints:
            return SKIP
        # Only the defaults let nodes without a zone label still spread by hostname.
        require_all = bool(pod.spec.get("topologySpreadConstraints")) or not self.system_defaulted
        s = _PreScoreState()
        s.constraints = constraints
        s.topology_counts = [{} for _ in constraints]
        for node in nodes:
            if require_all and not _has_all_keys(node, constraints):
                s.ignored.add(node.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key != LABEL_HOSTNAME:
                    s.topology_counts[i].setdefault(node.labels.get(c.topology_key, ""), 0)
        for i, c in enumerate(constraints):
            size = len(nodes) - len(s.ignored) if c.topology_key == LABEL_HOSTNAME else len(s.topology_counts[i])
            s.weights.append(math.log(size + 2))
        required = RequiredNodeAffinity(pod.pod)
        for node in all_nodes:
            if require_all and not _has_all_keys(node, constraints):
                continue
            for i, c in enumerate(constraints):
                counts = s.topology_counts[i]
                value = node.labels.get(c.topology_key, "")
                if value not in counts or not c.includes(pod, node, required):
                    continue
                counts[value] += count_matching(node.pods, c.selector, pod.namespace)
        state.write(PRE_SCORE_KEY, s)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        s: _PreScoreState = state.read(PRE_SCORE_KEY)
        if node.name in s.ignored:
            return 0
        total = 0.0
        for i, c in enumerate(s.constraints):
            value = node.labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                count = count_matching(node.pods, c.selector, pod.namespace)
            else:
                count = s.topology_counts[i].get(value, 0)
            total += count * s.weights[i] + (c.max_skew - 1)
        return math.floor(total + 0.5)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        """Fewest matching pods scores 100: ``100 * (max + min - score) / max``."""
        s: _PreScoreState = state.read(PRE_SCORE_KEY)
        counted = [v for name, v in scores.items() if name not in s.ignored]
        low, high = min(counted, default=0), max(counted, default=0)
        for name, score in scores.items():
            if name in s.ignored:
                scores[name] = 0
            elif high == 0:
                scores[name] = MAX_NODE_SCORE
            else:
                scores[name] = MAX_NODE_SCORE * (high + low - score) // high

    def events_to_register(self) -> list[ClusterEvent]:
        return [
            ClusterEvent("Pod", "Add"),
            ClusterEvent("Pod", "UpdatePodLabel"),
            ClusterEvent("Pod", "Delete"),
            ClusterEvent("Node", "Add"),
            ClusterEvent("Node", "Delete"),
            ClusterEvent("Node", "UpdateNodeLabel"),
            ClusterEvent("Node", "UpdateNodeTaint"),
        ]
