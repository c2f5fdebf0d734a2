"""DefaultPreemption: which pods it evicts for a higher-priority pod, and what it says when it cannot."""

from __future__ import annotations

import random

import pytest
from scheduler_builders import default_profile, node, pod, snapshot

from kubelab.scheduler import CycleState, FitError, PodInfo, schedule_pod
from kubelab.scheduler.plugins import DefaultPreemption, default_plugins


def preempt(incoming: dict, nodes: list[dict], placed: list[dict]) -> tuple[str | None, str, DefaultPreemption]:
    snap = snapshot(nodes, placed)
    plugins = [p for p in default_plugins() if p.name != "DefaultPreemption"]
    preemption = DefaultPreemption(rng=random.Random(0))
    profile = default_profile(snap, plugins=[*plugins, preemption])
    state, info = CycleState(), PodInfo(incoming)
    with pytest.raises(FitError) as caught:
        schedule_pod(profile, state, info, snap, rng=random.Random(0))
    nominated, status = profile.run_post_filter_plugins(state, info, caught.value.diagnosis.node_to_status)
    return nominated, status.message, preemption


def test_a_high_priority_pod_evicts_the_fewest_least_important_pods() -> None:
    placed = [
        pod("low-a", node_name="n1", cpu="1", priority=10),
        pod("low-b", node_name="n1", cpu="1", priority=10),
        pod("mid", node_name="n1", cpu="1", priority=50),
        pod("other", node_name="n2", cpu="3", priority=1000),
    ]
    snap = snapshot([node("n1", cpu="3"), node("n2", cpu="3")], placed)
    preemption = DefaultPreemption(rng=random.Random(0))
    plugins = [p for p in default_plugins() if p.name != "DefaultPreemption"]
    profile = default_profile(snap, plugins=[*plugins, preemption])
    state, info = CycleState(), PodInfo(pod("urgent", cpu="1", priority=100))
    with pytest.raises(FitError) as caught:
        schedule_pod(profile, state, info, snap, rng=random.Random(0))
    statuses = caught.value.diagnosis.node_to_status
    candidates, _ = preemption.find_candidates(state, info, snap.node_infos, statuses)
    (candidate,) = candidates
    assert candidate.node_name == "n1"
    # Only one core is needed: one low-priority pod goes, the other and "mid" stay.
    assert [v.name for v in candidate.victims] in (["low-a"], ["low-b"])
    nominated, status = profile.run_post_filter_plugins(state, info, statuses)
    assert (nominated, status.is_success()) == ("n1", True)


def test_preemption_prefers_the_node_whose_victims_matter_least() -> None:
    placed = [pod("p100", node_name="n1", cpu="2", priority=100), pod("p5", node_name="n2", cpu="2", priority=5)]
    nominated, _, _ = preempt(pod("urgent", cpu="2", priority=1000), [node("n1", cpu="2"), node("n2", cpu="2")],
                              placed)
    assert nominated == "n2"


def test_a_pod_that_never_preempts_says_so() -> None:
    placed = [pod("low", node_name="n1", cpu="2", priority=1)]
    nominated, message, _ = preempt(pod("polite", cpu="2", priority=100, preemptionPolicy="Never"),
                                    [node("n1", cpu="2")], placed)
    assert (nominated, message) == (None, "preemption: not eligible due to preemptionPolicy=Never.")


def test_evicting_everything_still_not_enough_reports_the_filters_reason() -> None:
    placed = [pod("low", node_name="n1", cpu="1", priority=1)]
    nominated, message, _ = preempt(pod("huge", cpu="8", priority=100), [node("n1", cpu="2")], placed)
    assert (nominated, message) == (None, "preemption: 0/1 nodes are available: 1 Insufficient cpu.")


def test_equal_priority_pods_are_never_victims() -> None:
    placed = [pod("peer", node_name="n1", cpu="2", priority=100)]
    _, message, _ = preempt(pod("same", cpu="2", priority=100), [node("n1", cpu="2")], placed)
    assert message == "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."


def test_preemption_respects_anti_affinity_counts_of_removed_pods() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    placed = [pod("old-db", node_name="n1", labels={"app": "db"}, priority=1)]
    nominated, _, _ = preempt(pod("db", labels={"app": "db"}, priority=100, affinity=anti), [node("n1")], placed)
    assert nominated == "n1", "removing the low-priority db pod lifts the anti-affinity conflict"
