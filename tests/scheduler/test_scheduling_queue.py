"""The scheduling queue, driven by a fake clock: order, back-off, waiting for a helpful event."""

from __future__ import annotations

import threading

import pytest
from scheduler_builders import pod

from kubelab.runtime import FakeClock
from kubelab.scheduler import ClusterEvent, PodInfo, SchedulingQueue
from kubelab.scheduler.plugins import SchedulingGates


def make_queue(**kw: object) -> tuple[SchedulingQueue, FakeClock]:
    clock = FakeClock()
    events = {
        "TaintToleration": [ClusterEvent("Node", "Add"), ClusterEvent("Node", "UpdateNodeTaint")],
        "NodeResourcesFit": [ClusterEvent("Node", "Add"), ClusterEvent("Pod", "Delete")],
    }
    return SchedulingQueue(clock=clock, plugin_events=events, **kw), clock  # type: ignore[arg-type]


def names(infos: list[PodInfo]) -> list[str]:
    return [i.name for i in infos]


def pop_name(queue: SchedulingQueue) -> str | None:
    qpi = queue.pop(timeout=0)
    return None if qpi is None else qpi.pod_info.name


def fail(queue: SchedulingQueue, plugins: set[str]) -> None:
    """Pop the next pod and put it back as rejected by ``plugins``, as the scheduler does."""
    qpi = queue.pop(timeout=0)
    assert qpi is not None
    cycle = queue.scheduling_cycle
    qpi.unschedulable_count += 1
    qpi.unschedulable_plugins = plugins
    queue.add_unschedulable_if_not_present(qpi, cycle)


def test_higher_priority_first_then_oldest() -> None:
    queue, clock = make_queue()
    queue.add(PodInfo(pod("low-old", priority=0)))
    clock.step(1)
    queue.add(PodInfo(pod("high", priority=100)))
    clock.step(1)
    queue.add(PodInfo(pod("low-new", priority=0)))
    assert [pop_name(queue) for _ in range(4)] == ["high", "low-old", "low-new", None]


def test_adding_the_same_pod_twice_queues_it_once() -> None:
    queue, _ = make_queue()
    p = PodInfo(pod("a"))
    queue.add(p)
    queue.add(p)
    assert len(queue) == 1


@pytest.mark.parametrize(("failures", "seconds"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)])
def test_backoff_doubles_from_one_second_up_to_ten(failures: int, seconds: float) -> None:
    queue, _ = make_queue()
    queue.add(PodInfo(pod("a")))
    qpi = queue.pop(timeout=0)
    assert qpi is not None
    qpi.unschedulable_count = failures
    assert queue.backoff_duration(qpi) == seconds


def test_an_unschedulable_pod_waits_for_an_event_its_rejecting_plugin_cares_about() -> None:
    queue, clock = make_queue()
    queue.add(PodInfo(pod("a")))
    fail(queue, {"TaintToleration"})
    assert names(queue.pending_pods()["unschedulablePods"]) == ["a"]
    assert queue.move_all_to_active_or_backoff(ClusterEvent("Pod", "Delete")) == 0
    assert queue.move_all_to_active_or_backoff(ClusterEvent("Node", "UpdateNodeTaint")) == 1
    # It failed a moment ago, so it backs off first (1 s after one failure).
    assert names(queue.pending_pods()["backoffQ"]) == ["a"]
    assert pop_name(queue) is None
    clock.step(1.01)
    assert pop_name(queue) == "a"


def test_a_pod_rejected_by_a_plugin_without_registered_events_moves_on_any_event() -> None:
    queue, clock = make_queue()
    queue.add(PodInfo(pod("a")))
    fail(queue, {"MyPlugin"})
    clock.step(5)
    assert queue.move_all_to_active_or_backoff(ClusterEvent("Pod", "Delete")) == 1
    assert pop_name(queue) == "a"


def test_an_event_during_the_attempt_sends_the_pod_to_backoff_not_unschedulable() -> None:
    queue, clock = make_queue()
    queue.add(PodInfo(pod("a")))
    qpi = queue.pop(timeout=0)
    assert qpi is not None
    cycle = queue.scheduling_cycle
    queue.move_all_to_active_or_backoff(ClusterEvent("Node", "Add"))  # a node arrived meanwhile
    qpi.unschedulable_count, qpi.unschedulable_plugins = 1, {"TaintToleration"}
    queue.add_unschedulable_if_not_present(qpi, cycle)
    assert names(queue.pending_pods()["backoffQ"]) == ["a"]
    clock.step(1.01)
    assert pop_name(queue) == "a"


def test_an_error_is_retried_after_backoff_whatever_happens() -> None:
    queue, clock = make_queue()
    queue.add(PodInfo(pod("a")))
    qpi = queue.pop(timeout=0)
    assert qpi is not None
    qpi.consecutive_errors = 3
    queue.add_unschedulable_if_not_present(qpi, queue.scheduling_cycle)
    clock.step(3.9)
    assert pop_name(queue) is None
    clock.step(0.2)
    assert pop_name(queue) == "a"


def test_unschedulable_pods_are_retried_after_five_minutes_anyway() -> None:
    queue, clock = make_queue()
    queue.add(PodInfo(pod("a")))
    fail(queue, {"TaintToleration"})
    clock.step(299)
    assert pop_name(queue) is None
    clock.step(2)
    assert pop_name(queue) is None, "leftovers are flushed every 30 s, not continuously"
    clock.step(30)
    assert pop_name(queue) == "a"


def test_updating_a_pending_pod_retries_it_unless_only_its_status_changed() -> None:
    queue, clock = make_queue()
    original = pod("a")
    queue.add(PodInfo(original))
    fail(queue, {"TaintToleration"})
    clock.step(20)
    condition = {**original, "status": {"conditions": [{"type": "PodScheduled", "status": "False"}]},
                 "metadata": {**original["metadata"], "resourceVersion": "9"}}
    queue.update(PodInfo(original), PodInfo(condition))
    assert names(queue.pending_pods()["unschedulablePods"]) == ["a"]
    tolerant = {**original, "spec": {**original["spec"], "tolerations": [{"operator": "Exists"}]}}
    queue.update(PodInfo(condition), PodInfo(tolerant))
    qpi = queue.pop(timeout=0)
    assert qpi is not None and qpi.pod["spec"]["tolerations"] == [{"operator": "Exists"}]


def test_deleted_pods_leave_every_sub_queue() -> None:
    queue, _ = make_queue()
    a, b = PodInfo(pod("a")), PodInfo(pod("b"))
    queue.add(a)
    queue.add(b)
    fail(queue, {"TaintToleration"})  # a is now unschedulable
    queue.delete(a)
    queue.delete(b)
    assert len(queue) == 0 and pop_name(queue) is None


def test_gated_pods_wait_until_their_gates_are_removed() -> None:
    queue, _ = make_queue(pre_enqueue=[SchedulingGates()])
    gated = pod("a", schedulingGates=[{"name": "wait"}])
    queue.add(PodInfo(gated))
    assert pop_name(queue) is None
    assert queue.move_all_to_active_or_backoff(ClusterEvent("Node", "Add")) == 0
    open_ = {**gated, "spec": {k: v for k, v in gated["spec"].items() if k != "schedulingGates"}}
    queue.update(PodInfo(gated), PodInfo(open_))
    assert pop_name(queue) == "a"


def test_pop_blocks_until_a_pod_arrives_or_the_queue_closes() -> None:
    queue = SchedulingQueue()
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(pop_name_blocking(queue)))
    t.start()
    queue.add(PodInfo(pod("late")))
    t.join(5)
    assert got == ["late"]
    t = threading.Thread(target=lambda: got.append(pop_name_blocking(queue)))
    t.start()
    queue.close()
    t.join(5)
    assert got == ["late", None]


def pop_name_blocking(queue: SchedulingQueue) -> str | None:
    qpi = queue.pop()
    return None if qpi is None else qpi.pod_info.name


def test_the_queue_remembers_nominated_pods_by_node() -> None:
    queue, _ = make_queue()
    nominated = pod("urgent")
    nominated["status"]["nominatedNodeName"] = "n1"
    info = PodInfo(nominated)
    queue.add(info)
    assert names(queue.nominated_pods_for_node("n1")) == ["urgent"] and queue.has_nominated_pods()
    moved = {**nominated, "status": {"nominatedNodeName": "n2"}}
    queue.update(info, PodInfo(moved))
    assert queue.nominated_pods_for_node("n1") == [] and names(queue.nominated_pods_for_node("n2")) == ["urgent"]
    queue.add_nominated_pod(PodInfo(moved), "")
    assert not queue.has_nominated_pods()
    queue.add_nominated_pod(PodInfo(moved), "n3")
    queue.delete(PodInfo(moved))
    assert not queue.has_nominated_pods()
