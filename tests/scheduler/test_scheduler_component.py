"""The Scheduler's event handlers and cycles without a cluster: informer events in, bindings out."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import node, pod

from kubelab.runtime import FakeClock
from kubelab.scheduler import (
    ClusterEvent,
    CycleState,
    PodInfo,
    ProfileError,
    Scheduler,
    Status,
    default_plugins,
)
from kubelab.scheduler.scheduler import node_scheduling_properties_change


class RecordingBinder:
    """Binds nothing: remembers where each pod would have gone."""

    name = "RecordingBinder"

    def __init__(self, fail: bool = False) -> None:
        self.bound: dict[str, str] = {}
        self.fail = fail

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        if self.fail:
            return Status.error("the API server said no")
        self.bound[pod.name] = node_name
        return None


def offline(binder: RecordingBinder | None = None) -> tuple[Scheduler, RecordingBinder, FakeClock]:
    binder = binder or RecordingBinder()
    plugins = [p for p in default_plugins() if p.name != "DefaultBinder"]
    clock = FakeClock()
    return Scheduler(plugins=[*plugins, binder], clock=clock, seed=0), binder, clock


def run_once(scheduler: Scheduler) -> bool:
    qpi = scheduler.queue.pop(timeout=0)
    if qpi is None:
        return False
    scheduler.schedule_one(qpi)
    return True


def test_a_pending_pod_is_bound_and_counted_on_its_node() -> None:
    scheduler, binder, _ = offline()
    scheduler.on_node_add(node("n1", cpu="2"))
    a = pod("a", cpu="1500m")
    scheduler.on_pod_add(a)
    assert run_once(scheduler)
    assert binder.bound == {"a": "n1"}
    assert scheduler.cache.is_assumed(PodInfo(a).uid)
    scheduler.on_pod_add(pod("b", cpu="1"))
    assert run_once(scheduler)
    assert "b" not in binder.bound, "the assumed pod already holds 1.5 of the node's 2 CPUs"


def test_pods_for_other_schedulers_and_finished_pods_are_ignored() -> None:
    scheduler, _, _ = offline()
    scheduler.on_pod_add(pod("theirs", schedulerName="other"))
    done = pod("done")
    done["status"]["phase"] = "Succeeded"
    scheduler.on_pod_add(done)
    assert len(scheduler.queue) == 0


def test_an_unschedulable_pod_waits_for_a_node_that_may_help() -> None:
    scheduler, binder, clock = offline()
    scheduler.on_node_add(node("small", cpu="1"))
    scheduler.on_pod_add(pod("big", cpu="2"))
    assert run_once(scheduler)
    assert binder.bound == {} and [p.name for p in scheduler.queue.pending_pods()["unschedulablePods"]] == ["big"]
    scheduler.on_node_update(node("small", cpu="1"), node("small", cpu="1", labels={"x": "y"}))
    assert [p.name for p in scheduler.queue.pending_pods()["unschedulablePods"]] == ["big"], \
        "a label change cannot help a pod that lacks CPU"
    scheduler.on_node_add(node("large", cpu="4"))
    clock.step(1.1)
    assert run_once(scheduler)
    assert binder.bound == {"big": "large"}


def test_a_failed_binding_frees_the_node_and_retries_after_a_backoff() -> None:
    binder = RecordingBinder(fail=True)
    scheduler, _, clock = offline(binder)
    scheduler.on_node_add(node("n1", cpu="1"))
    p = pod("a", cpu="1")
    scheduler.on_pod_add(p)
    assert run_once(scheduler)
    info = PodInfo(p)
    assert not scheduler.cache.is_assumed(info.uid)
    assert scheduler.cache.get_pod(info.uid) is None
    assert [x.name for x in scheduler.queue.pending_pods()["backoffQ"]] == ["a"]
    binder.fail = False
    clock.step(1.1)
    assert run_once(scheduler)
    assert binder.bound == {"a": "n1"}


def test_the_informers_bound_pod_replaces_the_assumed_one() -> None:
    scheduler, binder, _ = offline()
    scheduler.on_node_add(node("n1", cpu="2"))
    p = pod("a", cpu="1")
    scheduler.on_pod_add(p)
    assert run_once(scheduler)
    uid = PodInfo(p).uid
    assert scheduler.cache.is_assumed(uid)
    bound = {**p, "spec": {**p["spec"], "nodeName": "n1"}}
    scheduler.on_pod_update(p, bound)
    assert not scheduler.cache.is_assumed(uid) and scheduler.cache.get_pod(uid).node_name == "n1"
    scheduler.on_pod_delete(bound)
    assert scheduler.cache.get_pod(uid) is None


def test_a_terminal_pod_gives_its_room_back() -> None:
    scheduler, binder, clock = offline()
    scheduler.on_node_add(node("n1", cpu="1"))
    running = pod("running", cpu="1", node_name="n1")
    scheduler.on_pod_add(running)
    scheduler.on_pod_add(pod("next", cpu="1"))
    assert run_once(scheduler) and binder.bound == {}
    finished = {**running, "status": {"phase": "Succeeded"}}
    scheduler.on_pod_update(running, finished)
    clock.step(1.1)
    assert run_once(scheduler)
    assert binder.bound == {"next": "n1"}


def test_node_updates_become_narrow_events() -> None:
    def changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
        return [e.action for e in node_scheduling_properties_change(old, new)]

    base = node("n1")
    assert changed(base, node("n1", labels={"a": "b"})) == ["UpdateNodeLabel"]
    assert changed(base, node("n1", taints=[{"key": "k", "effect": "NoSchedule"}])) == ["UpdateNodeTaint"]
    assert changed(base, node("n1", cpu="8")) == ["UpdateNodeAllocatable"]
    assert changed(node("n1", unschedulable=True), base) == ["UpdateNodeTaint"]
    assert changed(base, node("n1", unschedulable=True)) == []
    assert ClusterEvent("Node", "Update").matches(ClusterEvent("Node", changed(base, node("n1", cpu="8"))[0]))


def test_only_relevant_changes_to_placed_pods_wake_a_pod_waiting_for_affinity() -> None:
    scheduler, binder, clock = offline()
    scheduler.on_node_add(node("n1"))
    affine = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    scheduler.on_pod_add(pod("web", affinity=affine))
    assert run_once(scheduler) and binder.bound == {}
    placed = pod("db", node_name="n1", labels={"app": "cache"})
    scheduler.on_pod_add(placed)  # an assigned pod arrived: worth a retry, but still no match
    clock.step(1.1)
    assert run_once(scheduler) and binder.bound == {}
    status_only = {**placed, "status": {"phase": "Running"}}
    scheduler.on_pod_update(placed, status_only)
    assert [p.name for p in scheduler.queue.pending_pods()["unschedulablePods"]] == ["web"]
    relabelled = {**status_only, "metadata": {**placed["metadata"], "labels": {"app": "db"}}}
    scheduler.on_pod_update(status_only, relabelled)
    clock.step(2.1)
    assert run_once(scheduler)
    assert binder.bound == {"web": "n1"}


def test_bad_settings_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        Scheduler(percentage_of_nodes_to_score=150)
    with pytest.raises(ValueError, match="needs a name"):
        Scheduler(scheduler_name="")
    with pytest.raises(ProfileError, match="at least one bind plugin"):
        Scheduler(plugins=[p for p in default_plugins() if p.name != "DefaultBinder"])
    with pytest.raises(ProfileError, match="exactly one queue sort plugin"):
        Scheduler(plugins=[p for p in default_plugins() if p.name != "PrioritySort"])
    with pytest.raises(ProfileError, match="weights given for plugins that do not score"):
        Scheduler(weights={"NodeName": 2})
    with pytest.raises(ProfileError, match="weights must be positive"):
        Scheduler(weights={"TaintToleration": 0})


def test_the_command_line_refuses_a_bad_percentage(capsys: pytest.CaptureFixture[str]) -> None:
    from kubelab.scheduler import main

    with pytest.raises(SystemExit) as exited:
        main(["--kubeconfig", "/nowhere", "--percentage-of-nodes-to-score", "150"])
    assert exited.value.code == 2
    assert "percentage_of_nodes_to_score must be between 0 and 100" in capsys.readouterr().err
