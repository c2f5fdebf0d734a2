"""NodeAffinity: ``nodeSelector`` and node affinity, required and preferred (``plugins/nodeaffinity``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelab.api.selectors import LabelSelector, NodeSelector, NodeSelectorTerm
from kubelab.scheduler.framework import SKIP, ClusterEvent, CycleState, PreFilterResult, Status
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo
from kubelab.scheduler.plugins.helper import default_normalize_score

__all__ = ["ERR_REASON_POD", "NodeAffinity", "RequiredNodeAffinity"]

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_CONFLICT = "pod affinity terms conflict"
PRE_FILTER_KEY = "PreFilterNodeAffinity"
PRE_SCORE_KEY = "PreScoreNodeAffinity"


class RequiredNodeAffinity:
    """A pod's ``nodeSelector`` and required node affinity together (``nodeaffinity.RequiredNodeAffinity``)."""

    __slots__ = ("node_selector", "selector")

    def __init__(self, pod: Mapping[str, Any]) -> None:
        spec = pod.get("spec") or {}
        self.selector = LabelSelector.from_set(spec.get("nodeSelector")) if spec.get("nodeSelector") else None
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution")
        self.node_selector = NodeSelector.from_spec(required) if required is not None else None

    def matches(self, node: NodeInfo) -> bool:
        """Whether the node carries every ``nodeSelector`` label and matches one required term."""
        if self.selector is not None and not self.selector.matches(node.labels):
            return False
        return self.node_selector is None or (node.node is not None and self.node_selector.matches(node.node))


def node_names_required(pod: Mapping[str, Any]) -> frozenset[str] | None:
    """The node names the required terms allow through ``metadata.name In``, or None if any node may do."""
    required = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                values = set(field.get("values") or ())
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None  # this term does not pin a name, and terms are ORed
        names |= term_names
    return frozenset(names)


class NodeAffinity:
    """Filter: the node must match the pod's ``nodeSelector`` and required node affinity.

    Score: the sum of the weights of the preferred terms the node matches, scaled to 0–100.
    """

    name = "NodeAffinity"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> PreFilterResult | Status | None:
        spec = pod.spec
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution")
        if required is None and spec.get("nodeSelector") is None:
            return SKIP
        state.write(PRE_FILTER_KEY, RequiredNodeAffinity(pod.pod))
        names = node_names_required(pod.pod)
        if names is None:
            return None
        if not names:
            return Status.unresolvable(ERR_REASON_CONFLICT)
        return PreFilterResult(names)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        required = state.get(PRE_FILTER_KEY) or RequiredNodeAffinity(pod.pod)
        return None if required.matches(node) else Status.unresolvable(ERR_REASON_POD)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        preferred = ((pod.spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "preferredDuringSchedulingIgnoredDuringExecution") or []
        terms: list[tuple[NodeSelectorTerm, int]] = []
        for term in preferred:
            weight = term.get("weight") or 0
            selector = NodeSelector.from_spec({"nodeSelectorTerms": [term.get("preference") or {}]})
            if weight and selector.terms:
                terms.append((selector.terms[0], weight))
        if not terms:
            return SKIP
        state.write(PRE_SCORE_KEY, terms)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if node.node is None:
            return 0
        return sum(weight for term, weight in state.read(PRE_SCORE_KEY) if term.matches(node.node))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize_score(scores)

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeLabel")]
