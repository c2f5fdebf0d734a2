"""InterPodAffinity: place pods near, or away from, other pods (``plugins/interpodaffinity``).

A term selects pods (by labels, in some namespaces) and names a topology key: "same
``kubernetes.io/hostname``" means same node, "same ``topology.kubernetes.io/zone``" means
same zone. PreFilter counts, per topology value, the existing pods each term matches;
then Filter only looks the node's own values up in those counts.
"""

from __future__ import annotations

import math
from collections import defaultdict

from kubelab.api.selectors import LabelSelector
from kubelab.scheduler.cache import Snapshot
from kubelab.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    ClusterEvent,
    CycleState,
    Status,
)
from kubelab.scheduler.handle import Handle
from kubelab.scheduler.nodeinfo import AffinityTerm, NodeInfo, PodInfo, WeightedAffinityTerm

__all__ = [
    "ERR_REASON_AFFINITY_RULES_NOT_MATCH",
    "ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH",
    "ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH",
    "InterPodAffinity",
]

ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY_RULES_NOT_MATCH = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH = "node(s) didn't match pod anti-affinity rules"
PRE_FILTER_KEY = "PreFilterInterPodAffinity"
PRE_SCORE_KEY = "PreScoreInterPodAffinity"
HARD_POD_AFFINITY_WEIGHT = 1
"""How much an existing pod's *required* affinity to the incoming pod counts when scoring."""

TopologyPair = tuple[str, str]
_NOTHING = LabelSelector.nothing()


class _PreFilterState:
    __slots__ = ("affinity_counts", "affinity_terms", "anti_affinity_counts", "anti_affinity_terms",
                 "existing_anti_affinity_counts", "pod")

    def __init__(self, pod: PodInfo, affinity_terms: list[AffinityTerm], anti_affinity_terms: list[AffinityTerm],
                 existing: dict[TopologyPair, int], affinity: dict[TopologyPair, int],
                 anti_affinity: dict[TopologyPair, int]) -> None:
        self.pod = pod
        self.affinity_terms = affinity_terms
        self.anti_affinity_terms = anti_affinity_terms
        self.existing_anti_affinity_counts = existing
        self.affinity_counts = affinity
        self.anti_affinity_counts = anti_affinity

    def clone(self) -> _PreFilterState:
        return _PreFilterState(self.pod, self.affinity_terms, self.anti_affinity_terms,
                               dict(self.existing_anti_affinity_counts), dict(self.affinity_counts),
                               dict(self.anti_affinity_counts))

    def update_with_pod(self, pod: PodInfo, node: NodeInfo, delta: int, namespace_labels: dict[str, str]) -> None:
        """Count ``pod`` in (delta=1) or out (delta=-1) of the node, as if it were added or removed."""
        for term in pod.required_anti_affinity_terms:
            if term.matches(self.pod, namespace_labels):
                _bump(self.existing_anti_affinity_counts, node, term.topology_key, delta)
        if self.affinity_terms and all(t.matches(pod, None) for t in self.affinity_terms):
            for term in self.affinity_terms:
                _bump(self.affinity_counts, node, term.topology_key, delta)
        for term in self.anti_affinity_terms:
            if term.matches(pod, None):
                _bump(self.anti_affinity_counts, node, term.topology_key, delta)


def _bump(counts: dict[TopologyPair, int], node: NodeInfo, key: str, delta: int) -> None:
    value = node.labels.get(key)
    if value is None:
        return
    pair = (key, value)
    total = counts.get(pair, 0) + delta
    if total:
        counts[pair] = total
    else:
        counts.pop(pair, None)


class InterPodAffinity:
    """Filter: required pod affinity and anti-affinity, the pod's own and existing pods'.

    Score: preferred terms (the pod's and existing pods'), plus existing pods' required
    affinity to this pod, summed per topology value and scaled to 0–100.
    """

    name = "InterPodAffinity"

    def __init__(self) -> None:
        self.handle = Handle(Snapshot())

    def setup(self, handle: Handle) -> None:
        self.handle = handle

    # -- filtering -----------------------------------------------------------------------

    def _with_namespaces(self, term: AffinityTerm) -> AffinityTerm:
        """Resolve a non-empty namespace selector into namespace names (``mergeAffinityTermNamespacesIfNotEmpty``)."""
        if term.namespace_selector.empty:
            return term
        names = {
            (ns.get("metadata") or {}).get("name", "")
            for ns in self.handle.objects.list("namespaces")
            if term.namespace_selector.matches((ns.get("metadata") or {}).get("labels"))
        }
        return AffinityTerm(term.namespaces | names, term.selector, term.topology_key, _NOTHING)

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if pod.parse_error:
            return Status.unresolvable(f"parsing pod: {pod.parse_error}")
        affinity_terms = [self._with_namespaces(t) for t in pod.required_affinity_terms]
        anti_terms = [self._with_namespaces(t) for t in pod.required_anti_affinity_terms]
        namespace_labels = self.handle.namespace_labels(pod.namespace)
        s = _PreFilterState(pod, affinity_terms, anti_terms, {}, {}, {})
        for node in self.handle.snapshot.have_pods_with_required_anti_affinity:
            for existing in node.pods_with_required_anti_affinity:
                for term in existing.required_anti_affinity_terms:
                    if term.matches(pod, namespace_labels):
                        _bump(s.existing_anti_affinity_counts, node, term.topology_key, 1)
        if affinity_terms or anti_terms:
            for node in nodes:
                for existing in node.pods:
                    if affinity_terms and all(t.matches(existing, None) for t in affinity_terms):
                        for term in affinity_terms:
                            _bump(s.affinity_counts, node, term.topology_key, 1)
                    for term in anti_terms:
                        if term.matches(existing, None):
                            _bump(s.anti_affinity_counts, node, term.topology_key, 1)
        if not s.existing_anti_affinity_counts and not affinity_terms and not anti_terms:
            return SKIP
        state.write(PRE_FILTER_KEY, s)
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo) -> None:
        """PreFilter extension: count ``to_add`` as running on ``node`` (used by preemption)."""
        s = state.get(PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(to_add, node, 1, self.handle.namespace_labels(pod.namespace))

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo) -> None:
        """PreFilter extension: stop counting ``to_remove`` on ``node`` (used by preemption)."""
        s = state.get(PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(to_remove, node, -1, self.handle.namespace_labels(pod.namespace))

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _PreFilterState = state.read(PRE_FILTER_KEY)
        if not _satisfies_pod_affinity(s, node):
            return Status.unresolvable(ERR_REASON_AFFINITY_RULES_NOT_MATCH)
        if not _satisfies_pod_anti_affinity(s, node):
            return Status.unschedulable(ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH)
        if s.existing_anti_affinity_counts and any(
            s.existing_anti_affinity_counts.get(pair, 0) > 0 for pair in node.labels.items()
        ):
            return Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH)
        return None

    # -- scoring -------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not nodes:
            return None
        has_constraints = bool(pod.preferred_affinity_terms or pod.preferred_anti_affinity_terms)
        snapshot = self.handle.snapshot
        # Without preferred terms of its own, only nodes running pods with affinity can matter.
        candidates = snapshot.node_infos if has_constraints else snapshot.have_pods_with_affinity
        preferred = [WeightedAffinityTerm(self._with_namespaces(w.term), w.weight)
                     for w in pod.preferred_affinity_terms]
        preferred_anti = [WeightedAffinityTerm(self._with_namespaces(w.term), w.weight)
                          for w in pod.preferred_anti_affinity_terms]
        namespace_labels = self.handle.namespace_labels(pod.namespace)
        topology_score: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

        def add(term: AffinityTerm, weight: int, target: PodInfo, labels: dict[str, str] | None,
                node: NodeInfo) -> None:
            if term.matches(target, labels):
                value = node.labels.get(term.topology_key)
                if value is not None:
                    topology_score[term.topology_key][value] += weight

        for node in candidates:
            if not node.labels:
                continue
            for existing in node.pods if has_constraints else node.pods_with_affinity:
                for w in preferred:
                    add(w.term, w.weight, existing, None, node)
                for w in preferred_anti:
                    add(w.term, -w.weight, existing, None, node)
                for term in existing.required_affinity_terms:
                    add(term, HARD_POD_AFFINITY_WEIGHT, pod, namespace_labels, node)
                for w in existing.preferred_affinity_terms:
                    add(w.term, w.weight, pod, namespace_labels, node)
                for w in existing.preferred_anti_affinity_terms:
                    add(w.term, -w.weight, pod, namespace_labels, node)
        if not topology_score:
            return SKIP
        state.write(PRE_SCORE_KEY, topology_score)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        topology_score = state.read(PRE_SCORE_KEY)
        total = 0
        for key, values in topology_score.items():
            value = node.labels.get(key)
            if value is not None:
                total += values.get(value, 0)
        return total

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        if not scores:
            return
        low, high = min(scores.values()), max(scores.values())
        spread = high - low
        for name, score in scores.items():
            scores[name] = math.trunc(MAX_NODE_SCORE * (score - low) / spread) if spread > 0 else 0

    def events_to_register(self) -> list[ClusterEvent]:
        return [
            ClusterEvent("Pod", "Add"),
            ClusterEvent("Pod", "UpdatePodLabel"),
            ClusterEvent("Pod", "Delete"),
            ClusterEvent("Node", "Add"),
            ClusterEvent("Node", "UpdateNodeLabel"),
        ]


def _satisfies_pod_affinity(s: _PreFilterState, node: NodeInfo) -> bool:
    pods_exist = True
    for term in s.affinity_terms:
        value = node.labels.get(term.topology_key)
        if value is None:
            return False  # every topology key must exist on the node
        if s.affinity_counts.get((term.topology_key, value), 0) <= 0:
            pods_exist = False
    if pods_exist:
        return True
    # The first pod of a group with affinity to itself: nothing matches anywhere yet, so
    # let it in if it matches its own terms, or it (and its group) would wait forever.
    return not s.affinity_counts and all(t.matches(s.pod, None) for t in s.affinity_terms)


def _satisfies_pod_anti_affinity(s: _PreFilterState, node: NodeInfo) -> bool:
    if not s.anti_affinity_counts:
        return True
    for term in s.anti_affinity_terms:
        value = node.labels.get(term.topology_key)
        if value is not None and s.anti_affinity_counts.get((term.topology_key, value), 0) > 0:
            return False
    return True
