"""Choosing a node with the default profile: which node wins, and what a rejection says."""

from __future__ import annotations

import random

import pytest
from scheduler_builders import default_profile, node, node_info, pod, snapshot

from kubelab.scheduler import CycleState, FitError, PluginError, PodInfo, Status, schedule_pod
from kubelab.scheduler.plugins import DefaultBinder, PrioritySort, default_plugins
from kubelab.scheduler.schedule_one import NoNodesAvailable, num_feasible_nodes_to_find, select_host

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize(("nodes", "percentage", "expected"), [
    (5, 0, 5), (99, 0, 99), (100, 0, 100), (200, 0, 100), (1000, 0, 420), (5000, 0, 500),
    (10000, 0, 500), (1000, 10, 100), (1000, 50, 500), (5000, 1, 100),
])
def test_num_feasible_nodes_to_find(nodes: int, percentage: int, expected: int) -> None:
    assert num_feasible_nodes_to_find(percentage, nodes) == expected


def schedule(pod_obj: dict, nodes: list[dict], pods: list[dict] = (), **kw: object):  # type: ignore[assignment]
    snap = snapshot(nodes, list(pods))
    profile = default_profile(snap)
    return schedule_pod(profile, CycleState(), PodInfo(pod_obj), snap, rng=random.Random(1), **kw)  # type: ignore[arg-type]


def test_the_least_allocated_node_wins() -> None:
    nodes = [node("busy", cpu="4"), node("idle", cpu="4"), node("half", cpu="4")]
    placed = [pod("x", node_name="busy", cpu="3"), pod("y", node_name="half", cpu="2")]
    assert schedule(pod("p", cpu="500m", memory="100Mi"), nodes, placed).suggested_host == "idle"


def test_the_message_a_user_sees_when_nothing_fits() -> None:
    nodes = [node("cp", taints=[CONTROL_PLANE_TAINT]), node("w1", cpu="1"), node("w2", cpu="1")]
    with pytest.raises(FitError) as caught:
        schedule(pod("big", cpu="2"), nodes)
    message = str(caught.value)
    assert message == ("0/3 nodes are available: 1 node(s) had untolerated taint "
                       "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.")
    assert caught.value.diagnosis.unschedulable_plugins == {"TaintToleration", "NodeResourcesFit"}


def test_preemption_explains_why_it_cannot_help() -> None:
    nodes = [node("cp", taints=[CONTROL_PLANE_TAINT]), node("w1", cpu="1"), node("w2", cpu="1")]
    snap = snapshot(nodes, [pod("same-priority", node_name="w1", cpu="500m")])
    profile = default_profile(snap)
    state, big = CycleState(), PodInfo(pod("big", cpu="2"))
    with pytest.raises(FitError) as caught:
        schedule_pod(profile, state, big, snap, rng=random.Random(1))
    nominated, status = profile.run_post_filter_plugins(state, big, caught.value.diagnosis.node_to_status)
    assert nominated is None
    assert status.message == (
        "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod.")
    caught.value.diagnosis.post_filter_msg = status.message
    assert str(caught.value).endswith(
        "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod.")


def test_a_cordoned_node_is_skipped() -> None:
    nodes = [node("n1", unschedulable=True), node("n2")]
    assert schedule(pod("p"), nodes).suggested_host == "n2"
    with pytest.raises(FitError, match=r"^0/1 nodes are available: 1 node\(s\) were unschedulable\.$"):
        schedule(pod("p"), [node("n1", unschedulable=True)])


def test_no_nodes_at_all() -> None:
    with pytest.raises(NoNodesAvailable, match="no nodes available to schedule pods"):
        schedule(pod("p"), [])


def test_filtering_stops_once_enough_nodes_fit_and_the_next_pod_starts_further_on() -> None:
    nodes = [node(f"n{i:04}") for i in range(1000)]
    result = schedule(pod("p"), nodes)
    assert (result.feasible_nodes, result.evaluated_nodes, result.next_start_node_index) == (420, 420, 420)
    later = schedule(pod("q"), nodes, start_index=900)
    assert later.next_start_node_index == (900 + 420) % 1000


def test_a_single_feasible_node_is_chosen_without_scoring() -> None:
    class Exploding:
        name = "Exploding"

        def score(self, state, pod, node):  # noqa: ANN001, ANN201
            raise AssertionError("scoring must not run")

    nodes = [node("n1", cpu="1"), node("n2", cpu="8")]
    snap = snapshot(nodes)
    profile = default_profile(snap, plugins=[*default_plugins(), Exploding()])
    result = schedule_pod(profile, CycleState(), PodInfo(pod("p", cpu="4")), snap, rng=random.Random(0))
    assert result.suggested_host == "n2"


def test_a_plugin_that_raises_becomes_a_plugin_error() -> None:
    class Broken:
        name = "Broken"

        def filter(self, state, pod, node):  # noqa: ANN001, ANN201
            raise ValueError("oops")

    snap = snapshot([node("n1")])
    profile = default_profile(snap, plugins=[PrioritySort(), Broken(), DefaultBinder()])
    with pytest.raises(PluginError, match='running "Broken" filter plugin: oops'):
        schedule_pod(profile, CycleState(), PodInfo(pod()), snap, rng=random.Random(0))


def test_out_of_range_scores_are_refused() -> None:
    class Greedy:
        name = "Greedy"

        def score(self, state, pod, node):  # noqa: ANN001, ANN201
            return 1000

    snap = snapshot([node("a"), node("b")])
    profile = default_profile(snap, plugins=[PrioritySort(), Greedy(), DefaultBinder()])
    with pytest.raises(PluginError, match='"Greedy" returns an invalid score 1000'):
        schedule_pod(profile, CycleState(), PodInfo(pod()), snap, rng=random.Random(0))


def test_ties_are_broken_at_random_but_fairly() -> None:
    infos = [node_info(node(n)) for n in "abc"]
    rng = random.Random(7)
    picks = [select_host(infos, [5, 9, 9], rng) for _ in range(3000)]
    assert set(picks) == {"b", "c"}
    assert abs(picks.count("b") - picks.count("c")) < 300
    assert select_host(infos, [1, 2, 3], rng) == "c"


def test_a_nominated_node_is_tried_first() -> None:
    nodes = [node("small", cpu="2"), node("large", cpu="64")]
    p = pod("p", cpu="1")
    p["status"]["nominatedNodeName"] = "small"
    result = schedule(p, nodes)
    assert (result.suggested_host, result.evaluated_nodes) == ("small", 1)


def test_node_affinity_to_a_node_name_narrows_the_search() -> None:
    pinned = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}
    nodes = [node("n1"), node("n2", cpu="1"), node("n3")]
    assert schedule(pod("ds", affinity=pinned), nodes).suggested_host == "n2"
    with pytest.raises(FitError) as caught:
        schedule(pod("ds", cpu="2", affinity=pinned), nodes)
    assert str(caught.value) == ("0/3 nodes are available: 1 Insufficient cpu, "
                                 "2 node(s) didn't satisfy plugin(s) [NodeAffinity].")
    assert caught.value.diagnosis.node_to_status.absent == Status.unresolvable(
        "node(s) didn't satisfy plugin(s) [NodeAffinity]")


def test_room_reserved_for_a_nominated_pod_is_not_taken_by_a_lower_priority_one() -> None:
    class Nominated:
        def __init__(self, pods: dict[str, list[PodInfo]]) -> None:
            self.pods = pods

        def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
            return self.pods.get(node_name, [])

        def has_nominated_pods(self) -> bool:
            return bool(self.pods)

    snap = snapshot([node("n1", cpu="2")])
    profile = default_profile(snap)
    profile.nominator = Nominated({"n1": [PodInfo(pod("preemptor", cpu="2", priority=100))]})
    with pytest.raises(FitError, match=r"^0/1 nodes are available: 1 Insufficient cpu\.$"):
        schedule_pod(profile, CycleState(), PodInfo(pod("low", cpu="1", priority=1)), snap, rng=random.Random(0))
    higher = schedule_pod(profile, CycleState(), PodInfo(pod("higher", cpu="1", priority=1000)), snap,
                          rng=random.Random(0))
    assert higher.suggested_host == "n1"
