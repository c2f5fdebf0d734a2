"""Pod readiness, availability, and the order pods are deleted in when scaling down."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubelab.controllers.podutil import (
    delete_first,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    rank_for_deletion,
)

NOW = 1_700_000_000.0


def stamp(seconds_ago: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(NOW - seconds_ago, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name, node="n1", phase="Running", ready_for=None, cost=None, restarts=0, age=1000, uid=None):
    p = {"metadata": {"name": name, "uid": uid or name, "creationTimestamp": stamp(age), "annotations": {}},
         "spec": {"nodeName": node} if node else {},
         "status": {"phase": phase, "containerStatuses": [{"restartCount": restarts}], "conditions": []}}
    if ready_for is not None:
        p["status"]["conditions"].append({"type": "Ready", "status": "True", "lastTransitionTime": stamp(ready_for)})
    if cost is not None:
        p["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] = str(cost)
    return p


def names(pods):
    return [p["metadata"]["name"] for p in pods]


def test_ready_and_available():
    assert is_pod_ready(pod("a", ready_for=5))
    assert not is_pod_ready(pod("a"))
    assert is_pod_available(pod("a", ready_for=5), 0, NOW)
    assert is_pod_available(pod("a", ready_for=11), 10, NOW)
    assert not is_pod_available(pod("a", ready_for=10), 10, NOW)


def test_finished_and_deleting_pods_are_not_active():
    assert is_pod_active(pod("a"))
    assert not is_pod_active(pod("a", phase="Succeeded"))
    assert not is_pod_active(pod("a", phase="Failed"))
    deleting = pod("a")
    deleting["metadata"]["deletionTimestamp"] = stamp(0)
    assert not is_pod_active(deleting)


def test_each_rule_of_the_deletion_order():
    ranked = rank_for_deletion(
        [
            pod("ready-old", ready_for=5000, age=6000),
            pod("unassigned", node=None, phase="Pending"),
            pod("pending", phase="Pending"),
            pod("unknown", phase="Unknown"),
            pod("not-ready"),
            pod("costly", ready_for=10, cost=100),
            pod("cheap", ready_for=5000, cost=-5, age=6000),
            pod("restarts", ready_for=5000, restarts=3, age=6000),
            pod("ready-new", ready_for=1, age=2),
        ],
        [],
        NOW,
    )
    assert names(ranked) == ["unassigned", "pending", "unknown", "not-ready", "cheap", "ready-new", "restarts",
                             "ready-old", "costly"]


def test_pods_on_crowded_nodes_go_first():
    pods = [pod("alone", node="n1", ready_for=100), pod("crowded", node="n2", ready_for=100)]
    related = [*pods, pod("x", node="n2"), pod("y", node="n2")]
    assert names(rank_for_deletion(pods, related, NOW)) == ["crowded", "alone"]


def test_ages_on_the_same_log_scale_are_ordered_by_uid():
    a = pod("a", ready_for=100, age=200, uid="u-2")
    b = pod("b", ready_for=101, age=201, uid="u-1")
    assert names(rank_for_deletion([a, b], [], NOW)) == ["b", "a"]
    assert names(rank_for_deletion([a, b], [], None)) == ["a", "b"], "without a reference time: newer first"


pods = st.builds(
    pod,
    name=st.text("abc", min_size=1, max_size=3),
    node=st.sampled_from([None, "n1", "n2"]),
    phase=st.sampled_from(["Pending", "Running", "Unknown"]),
    ready_for=st.one_of(st.none(), st.integers(0, 10**6)),
    cost=st.one_of(st.none(), st.integers(-3, 3)),
    restarts=st.integers(0, 3),
    age=st.integers(0, 10**6),
)


@given(pods, st.integers(0, 3), pods, st.integers(0, 3))
def test_the_order_never_puts_two_pods_before_each_other(p1, r1, p2, r2):
    assert not (delete_first(p1, r1, p2, r2, NOW) and delete_first(p2, r2, p1, r1, NOW))
