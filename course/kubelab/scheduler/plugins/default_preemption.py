"""DefaultPreemption: when no node fits, evict lower-priority pods to make room (``plugins/defaultpreemption``).

It runs only after every node was rejected. For each node where preemption might help
(not one rejected for a taint or a label), it removes every pod of lower priority, checks
that the pod would then fit, and puts back as many of the removed pods as still leave
room, most important first: those left out are the *victims*. Among the nodes with
victims it picks the one where the damage is least, deletes its victims, and nominates
that node for the pod (``status.nominatedNodeName``), which is tried first next time.

When it cannot help, it says why, and that becomes the end of the FailedScheduling
message: ``preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.``
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kubelab import errors
from kubelab.api.meta import now_rfc3339, parse_time
from kubelab.scheduler.cache import Snapshot
from kubelab.scheduler.framework import (
    Code,
    CycleState,
    Diagnosis,
    FitError,
    NodeToStatus,
    Status,
)
from kubelab.scheduler.handle import Handle
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo

__all__ = ["Candidate", "DefaultPreemption", "more_important_pod"]

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100


@dataclass
class Candidate:
    """A node where evicting ``victims`` would let the pod fit."""

    node_name: str
    victims: list[PodInfo]


def _start_time(pod: PodInfo) -> str:
    status = pod.pod.get("status") or {}
    return status.get("startTime") or (pod.pod.get("metadata") or {}).get("creationTimestamp") or ""


def more_important_pod(a: PodInfo, b: PodInfo) -> bool:
    """Higher priority first; between equals, the one that started earlier (``util.MoreImportantPod``)."""
    if a.priority != b.priority:
        return a.priority > b.priority
    return _start_time(a) < _start_time(b)


class DefaultPreemption:
    """PostFilter: find victims of lower priority whose eviction lets the pod fit, and evict them."""

    name = "DefaultPreemption"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.handle = Handle(Snapshot())
        self.rng = rng or random.Random()

    def setup(self, handle: Handle) -> None:
        self.handle = handle

    def post_filter(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus) -> tuple[str | None, Status]:
        nominated, status = self.preempt(state, pod, statuses)
        if status.message:
            return nominated, Status(status.code, (f"preemption: {status.message}",))
        return nominated, status

    def preempt(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus) -> tuple[str | None, Status]:
        """Find candidates, pick one, evict its victims (``Evaluator.Preempt``)."""
        snapshot = self.handle.snapshot
        eligible, reason = self.pod_eligible_to_preempt_others(pod, statuses)
        if not eligible:
            return None, Status.unschedulable(reason)
        all_nodes = snapshot.node_infos
        candidates, node_statuses = self.find_candidates(state, pod, all_nodes, statuses)
        if not candidates:
            diagnosis = Diagnosis(node_to_status=node_statuses)
            node_statuses.absent = Status.unresolvable(NOT_HELPFUL)
            # "": clear any earlier nomination, this pod has nowhere to go.
            return "", Status.unschedulable(str(FitError(pod, len(all_nodes), diagnosis)))
        best = self.select_candidate(candidates)
        self.prepare_candidate(best, pod)
        return best.node_name, Status()

    def pod_eligible_to_preempt_others(self, pod: PodInfo, statuses: NodeToStatus) -> tuple[bool, str]:
        """Whether the pod may preempt at all (``PodEligibleToPreemptOthers``)."""
        if pod.spec.get("preemptionPolicy") == "Never":
            return False, "not eligible due to preemptionPolicy=Never."
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName")
        if nominated:
            # The nominated node no longer helps: preempting elsewhere is allowed.
            if statuses.get(nominated).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            node = self.handle.snapshot.get(nominated)
            if node is not None and any(p.terminating and p.priority < pod.priority for p in node.pods):
                # Victims of an earlier preemption are still shutting down: wait for them.
                return False, "not eligible due to a terminating pod on the nominated node."
        return True, ""

    def find_candidates(
        self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], statuses: NodeToStatus
    ) -> tuple[list[Candidate], NodeToStatus]:
        """Dry-run preemption on the nodes where it might help (``findCandidates``)."""
        result = NodeToStatus()
        potential = []
        for node in nodes:
            if statuses.get(node.name).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                result.set(node.name, Status.unresolvable(NOT_HELPFUL))
            else:
                potential.append(node)
        if not potential:
            return [], result
        wanted = min(len(potential), max(len(potential) * MIN_CANDIDATE_NODES_PERCENTAGE // 100,
                                         MIN_CANDIDATE_NODES_ABSOLUTE))
        offset = self.rng.randrange(len(potential))
        candidates: list[Candidate] = []
        for i in range(len(potential)):
            node = potential[(offset + i) % len(potential)]
            victims, status = self.select_victims_on_node(state.clone(), pod, node.clone())
            if status is None and not victims:
                status = Status.error(f"expected at least one victim pod on node {node.name!r}")
            if status is not None:
                result.set(node.name, status)
                continue
            candidates.append(Candidate(node.name, victims))
            if len(candidates) >= wanted:
                break
        return candidates, result

    def select_victims_on_node(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> tuple[list[PodInfo], Status | None]:
        """The fewest, least important pods to evict from ``node`` so the pod fits (``SelectVictimsOnNode``).

        ``state`` and ``node`` are copies, changed freely here.
        """
        profile = self.handle.profile
        potential = [p for p in node.pods if p.priority < pod.priority]
        if not potential:
            return [], Status.unresolvable(NO_VICTIMS)
        for victim in potential:
            node.remove_pod(victim)
            profile.run_pre_filter_extension_remove_pod(state, pod, victim, node)
        status = profile.run_filter_plugins_with_nominated_pods(state, pod, node)
        if status is not None:
            return [], status
        victims = []
        # Put back the most important pods first; whatever no longer fits stays evicted.
        for candidate in sorted(potential, key=_importance_key):
            node.add_pod(candidate)
            profile.run_pre_filter_extension_add_pod(state, pod, candidate, node)
            if profile.run_filter_plugins_with_nominated_pods(state, pod, node) is not None:
                node.remove_pod(candidate)
                profile.run_pre_filter_extension_remove_pod(state, pod, candidate, node)
                victims.append(candidate)
        return victims, None

    def select_candidate(self, candidates: list[Candidate]) -> Candidate:
        """The candidate that hurts least (``pickOneNodeForPreemption``, without disruption budgets).

        In turn: the lowest highest-priority victim, the lowest sum of victim priorities,
        the fewest victims, the latest-started most important victim; then the first.
        """
        if len(candidates) == 1:
            return candidates[0]

        def key(c: Candidate) -> tuple[int, int, int, float]:
            top = min(c.victims, key=_importance_key)
            latest = max(_started(v) for v in c.victims if v.priority == top.priority)
            return (top.priority, sum(v.priority for v in c.victims), len(c.victims), -latest)

        return min(candidates, key=key)

    def prepare_candidate(self, candidate: Candidate, pod: PodInfo) -> None:
        """Evict the victims: mark each a disruption target, delete it, record a Preempted event on it."""
        client = self.handle.client
        recorder = self.handle.recorder
        for victim in candidate.victims:
            if client is not None:
                pods = client.resource("v1", "pods")
                scheduler_name = victim.spec.get("schedulerName") or "default-scheduler"
                condition = {
                    "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": f"{scheduler_name}: preempting to accommodate a higher priority pod",
                    "lastTransitionTime": now_rfc3339(),
                }
                try:
                    pods.patch(victim.name, {"status": {"conditions": [condition]}}, victim.namespace,
                               type="strategic", subresource="status")
                    pods.delete(victim.name, victim.namespace)
                except errors.NotFound:
                    continue  # already gone: that is what we wanted
            if recorder is not None:
                recorder.event(victim.pod, "Normal", "Preempted",
                               f"Preempted by pod {pod.uid} on node {candidate.node_name}")


def _importance_key(pod: PodInfo) -> tuple[int, str]:
    """Sorts the most important pod first: highest priority, then earliest start."""
    return (-pod.priority, _start_time(pod))


def _started(pod: PodInfo) -> float:
    text = _start_time(pod)
    return parse_time(text) if text else 0.0
