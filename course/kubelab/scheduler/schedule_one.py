"""Choosing a node for one pod: filter, score, pick the best (``schedule_one.go``'s ``schedulePod``).

Pure functions over a :class:`~kubelab.scheduler.cache.Snapshot`: no API calls, no queue,
so they can be read, tested and replaced on their own. :func:`schedule_pod` either
returns the chosen node or raises :class:`~kubelab.scheduler.framework.FitError`
explaining, node by node, why none fits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kubelab.scheduler.cache import Snapshot
from kubelab.scheduler.framework import Code, CycleState, Diagnosis, FitError, Status
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo
from kubelab.scheduler.profile import PluginError, Profile, run_filter

__all__ = [
    "NoNodesAvailable",
    "ScheduleResult",
    "find_nodes_that_fit_pod",
    "num_feasible_nodes_to_find",
    "prioritize_nodes",
    "schedule_pod",
    "select_host",
]

MIN_FEASIBLE_NODES_TO_FIND = 100
"""Always look for at least this many feasible nodes, so pods still spread in big clusters."""
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


class NoNodesAvailable(Exception):
    """The cluster has no nodes at all."""

    def __str__(self) -> str:
        return "no nodes available to schedule pods"


@dataclass(frozen=True)
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int
    next_start_node_index: int


def num_feasible_nodes_to_find(percentage_of_nodes_to_score: int, num_all_nodes: int) -> int:
    """How many feasible nodes are enough to stop filtering (``numFeasibleNodesToFind``).

    Small clusters are searched whole. Bigger ones stop once a percentage of the nodes
    fit: by default 50% minus 1% per 125 nodes, never under 5%, never under 100 nodes.
    """
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    percentage = percentage_of_nodes_to_score
    if percentage <= 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    num_nodes = num_all_nodes * percentage // 100
    return max(num_nodes, MIN_FEASIBLE_NODES_TO_FIND)


def find_nodes_that_fit_pod(
    profile: Profile,
    state: CycleState,
    pod: PodInfo,
    snapshot: Snapshot,
    *,
    start_index: int = 0,
    percentage_of_nodes_to_score: int = 0,
) -> tuple[list[NodeInfo], Diagnosis, int]:
    """Run PreFilter, then the filters node by node; returns feasible nodes, the diagnosis, the next start index.

    The scan starts where the previous pod's stopped, so every node gets its turn.
    """
    all_nodes = snapshot.node_infos
    diagnosis = Diagnosis()
    result, status, restricting = profile.run_pre_filter_plugins(state, pod, all_nodes)
    if status is not None:
        if status.code == Code.ERROR:
            raise PluginError(status.message)
        diagnosis.node_to_status.absent = status
        diagnosis.pre_filter_msg = status.message
        diagnosis.add_plugin_status(status)
        return [], diagnosis, start_index

    nominated = (pod.pod.get("status") or {}).get("nominatedNodeName")
    if nominated:
        node = snapshot.get(nominated)
        if node is not None and profile.run_filter_plugins_with_nominated_pods(state, pod, node) is None:
            return [node], diagnosis, start_index

    nodes = all_nodes
    if result is not None:
        nodes = [n for n in (snapshot.get(name) for name in sorted(result.node_names)) if n is not None]
        diagnosis.node_to_status.absent = Status.unresolvable(
            f"node(s) didn't satisfy plugin(s) [{' '.join(sorted(restricting))}]")
        start_index = 0
    feasible, next_index = _find_nodes_that_pass_filters(
        profile, state, pod, nodes, diagnosis, start_index, percentage_of_nodes_to_score, len(all_nodes)
    )
    return feasible, diagnosis, next_index if result is None else 0


def _find_nodes_that_pass_filters(
    profile: Profile,
    state: CycleState,
    pod: PodInfo,
    nodes: list[NodeInfo],
    diagnosis: Diagnosis,
    start: int,
    percentage: int,
    num_all_nodes: int,
) -> tuple[list[NodeInfo], int]:
    count = len(nodes)
    if count == 0:
        return [], start
    wanted = num_feasible_nodes_to_find(percentage, num_all_nodes)
    filters = profile.active_filters(state)
    start %= count
    if not filters:
        chosen = [nodes[(start + i) % count] for i in range(min(wanted, count))]
        return chosen, (start + len(chosen)) % count
    feasible: list[NodeInfo] = []
    statuses = diagnosis.node_to_status
    checked = 0
    # The hot loop of the scheduler: bound methods, no per-call wrapper. A plugin that
    # raises is reported once, by re-running it through run_filter.
    methods = [(plugin, plugin.filter) for plugin in filters]
    nominator = profile.nominator if profile.nominator is not None and profile.nominator.has_nominated_pods() else None
    for i in range(count):
        node = nodes[(start + i) % count]
        checked += 1
        if nominator is not None and nominator.nominated_pods_for_node(node.name):
            status = profile.run_filter_plugins_with_nominated_pods(state, pod, node)
            if status is None:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
                continue
            if status.code == Code.ERROR:
                raise PluginError(status.message)
            statuses.set(node.name, status)
            diagnosis.add_plugin_status(status)
            continue
        for plugin, method in methods:
            try:
                status = method(state, pod, node)
            except Exception:
                status = run_filter(plugin, state, pod, node)
            if status is not None and status.code:
                if status.code == Code.ERROR:
                    raise PluginError(status.message)
                status = status.with_plugin(plugin.name)
                statuses.set(node.name, status)
                diagnosis.add_plugin_status(status)
                break
        else:
            feasible.append(node)
            if len(feasible) >= wanted:
                break
    return feasible, (start + checked) % count


def prioritize_nodes(profile: Profile, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
    """Each feasible node's total score: PreScore, Score, NormalizeScore, times weights, added up."""
    if not profile.score:
        return [1] * len(nodes)
    profile.run_pre_score_plugins(state, pod, nodes)
    return profile.run_score_plugins(state, pod, nodes)


def select_host(nodes: list[NodeInfo], scores: list[int], rng: random.Random) -> str:
    """The node with the highest score; ties broken at random, each tied node equally likely."""
    best = max(scores)
    ties = [node for node, score in zip(nodes, scores, strict=True) if score == best]
    return ties[0].name if len(ties) == 1 else rng.choice(ties).name


def schedule_pod(
    profile: Profile,
    state: CycleState,
    pod: PodInfo,
    snapshot: Snapshot,
    *,
    rng: random.Random,
    start_index: int = 0,
    percentage_of_nodes_to_score: int = 0,
) -> ScheduleResult:
    """Choose a node for ``pod``, or raise FitError (no node fits) or NoNodesAvailable."""
    if not snapshot.node_infos:
        raise NoNodesAvailable
    feasible, diagnosis, next_index = find_nodes_that_fit_pod(
        profile, state, pod, snapshot, start_index=start_index,
        percentage_of_nodes_to_score=percentage_of_nodes_to_score,
    )
    if not feasible:
        raise FitError(pod, len(snapshot.node_infos), diagnosis)
    evaluated = len(feasible) + len(diagnosis.node_to_status)
    if len(feasible) == 1:
        return ScheduleResult(feasible[0].name, evaluated, 1, next_index)
    scores = prioritize_nodes(profile, state, pod, feasible)
    return ScheduleResult(select_host(feasible, scores, rng), evaluated, len(feasible), next_index)
