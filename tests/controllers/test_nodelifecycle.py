"""Node failure and self-healing: the node lifecycle and taint eviction controllers."""

from __future__ import annotations

from kubelab.controllers.nodelifecycle import (
    STATE_FULL_DISRUPTION,
    STATE_NORMAL,
    STATE_PARTIAL_DISRUPTION,
    RateLimitedTimedQueue,
    compute_zone_state,
    no_schedule_taints,
    zone_key,
)
from kubelab.controllers.tainteviction import min_toleration_time, set_pod_condition
from kubelab.controllers.taints import matching_tolerations
from kubelab.runtime import FakeClock

# -- offline ----------------------------------------------------------------------------------------


def ready(status):
    return {"type": "Ready", "status": status}


def test_zone_states():
    assert compute_zone_state([ready("True"), ready("Unknown")], 0.55) == (1, STATE_NORMAL)
    assert compute_zone_state([ready("Unknown"), None], 0.55) == (2, STATE_FULL_DISRUPTION)
    assert compute_zone_state([ready("False")] * 3 + [ready("True")], 0.55) == (3, STATE_PARTIAL_DISRUPTION)
    # Two nodes down is never more than "normal", however small the zone.
    assert compute_zone_state([ready("False")] * 2 + [ready("True")], 0.55) == (2, STATE_NORMAL)
    assert zone_key({"metadata": {"labels": {"topology.kubernetes.io/zone": "z1"}}}) == ":\x00:z1"
    assert zone_key({"metadata": {}}) == ""


def test_conditions_and_cordons_become_no_schedule_taints():
    node = {"spec": {"unschedulable": True},
            "status": {"conditions": [ready("Unknown"), {"type": "MemoryPressure", "status": "True"},
                                      {"type": "DiskPressure", "status": "False"}]}}
    assert no_schedule_taints(node) == [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
    ]
    assert no_schedule_taints({"status": {"conditions": [ready("True")]}}) == []


def test_the_shortest_used_toleration_decides_when_a_pod_goes():
    unreachable = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
    other = {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}
    default = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}
    forever = {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoExecute"}
    assert matching_tolerations([unreachable], [default]) == (True, [default])
    assert matching_tolerations([unreachable, other], [default]) == (False, [])
    assert min_toleration_time([default, forever]) == 300
    assert min_toleration_time([forever]) == -1
    assert min_toleration_time([{**default, "tolerationSeconds": -5}]) == 0


def test_pod_conditions_keep_their_transition_time_unless_the_status_changes():
    status = {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "T0"}]}
    assert set_pod_condition(status, {"type": "DisruptionTarget", "status": "True", "reason": "R"}, "T1")
    assert not set_pod_condition(status, {"type": "DisruptionTarget", "status": "True", "reason": "R"}, "T2")
    assert set_pod_condition(status, {"type": "Ready", "status": "False"}, "T3")
    assert status["conditions"][0] == {"type": "Ready", "status": "False", "lastTransitionTime": "T3"}
    assert status["conditions"][1]["lastTransitionTime"] == "T1"


def test_tainting_is_rate_limited_and_each_node_is_tainted_once():
    clock = FakeClock()
    queue = RateLimitedTimedQueue(0.1, clock)
    done = []
    assert queue.add("a") and queue.add("b") and not queue.add("a")
    queue.try_each(lambda name: (done.append(name) or True, 0.0))
    assert done == ["a"]
    clock.step(5)
    queue.try_each(lambda name: (done.append(name) or True, 0.0))
    assert done == ["a"]
    clock.step(5)
    queue.try_each(lambda name: (done.append(name) or True, 0.0))
    assert done == ["a", "b"]
    # Until it is removed (the node recovered), a node is not queued again.
    assert not queue.add("a")
    assert queue.remove("a") and queue.add("a")
    queue.swap_limiter(0)
    clock.step(100)
    queue.try_each(lambda name: (done.append(name) or True, 0.0))
    assert done == ["a", "b"]
