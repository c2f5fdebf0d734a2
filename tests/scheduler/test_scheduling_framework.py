"""Statuses, cycle state, cluster events, and the FailedScheduling message a FitError builds."""

from __future__ import annotations

import pytest
from scheduler_builders import pod

from kubelab.scheduler import (
    ClusterEvent,
    Code,
    CycleState,
    Diagnosis,
    FitError,
    NodeToStatus,
    PodInfo,
    Status,
)


def test_status_helpers() -> None:
    s = Status.unschedulable("Insufficient cpu", "Insufficient memory")
    assert s.code == Code.UNSCHEDULABLE and s.is_rejected() and not s.is_success()
    assert s.message == "Insufficient cpu, Insufficient memory"
    assert Status.unresolvable("x").with_plugin("P").plugin == "P"
    assert not Status.error("boom").is_rejected()


def test_cycle_state_read_names_the_missing_key() -> None:
    state = CycleState()
    state.write("k", [1])
    assert state.read("k") == [1]
    with pytest.raises(KeyError, match="did its PreFilter/PreScore run"):
        state.read("missing")


def test_cycle_state_clone_clones_values_that_can() -> None:
    class Counts:
        def __init__(self, n: int) -> None:
            self.n = n

        def clone(self) -> Counts:
            return Counts(self.n)

    state = CycleState()
    state.write("c", Counts(1))
    state.skip_filter_plugins.add("A")
    copy = state.clone()
    copy.read("c").n = 2
    copy.skip_filter_plugins.add("B")
    assert state.read("c").n == 1 and state.skip_filter_plugins == {"A"}


@pytest.mark.parametrize(
    ("registered", "incoming", "matches"),
    [
        (("Node", "Add"), ("Node", "Add"), True),
        (("Node", "Add"), ("Node", "UpdateNodeTaint"), False),
        (("Node", "Update"), ("Node", "UpdateNodeTaint"), True),
        (("Node", "UpdateNodeLabel"), ("Node", "UpdateNodeTaint"), False),
        (("Pod", "*"), ("Pod", "Delete"), True),
        (("*", "*"), ("Node", "Delete"), True),
        (("Pod", "Delete"), ("Node", "Delete"), False),
    ],
)
def test_cluster_event_matching(registered, incoming, matches) -> None:
    assert ClusterEvent(*registered).matches(ClusterEvent(*incoming)) is matches


def fit_error(statuses: dict[str, Status], num_nodes: int, **diagnosis: object) -> str:
    d = Diagnosis(node_to_status=NodeToStatus(statuses), **diagnosis)  # type: ignore[arg-type]
    return str(FitError(PodInfo(pod()), num_nodes, d))


def test_fit_error_counts_reasons_over_nodes_and_sorts_them_as_text() -> None:
    taint = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
    message = fit_error(
        {
            "cp": Status.unresolvable(taint),
            "w1": Status.unschedulable("Insufficient cpu"),
            "w2": Status.unschedulable("Insufficient cpu", "Insufficient memory"),
        },
        3,
        post_filter_msg="preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    )
    assert message == (
        f"0/3 nodes are available: 1 Insufficient memory, 1 {taint}, 2 Insufficient cpu. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )


def test_fit_error_sorts_counts_as_strings_like_upstream() -> None:
    statuses = {f"n{i}": Status.unschedulable("Insufficient cpu") for i in range(10)}
    statuses["x"] = Status.unschedulable("Too many pods")
    statuses["y"] = Status.unschedulable("Too many pods")
    assert fit_error(statuses, 12).startswith("0/12 nodes are available: 10 Insufficient cpu, 2 Too many pods.")


def test_fit_error_with_a_pre_filter_message_lists_no_node_reasons() -> None:
    assert fit_error({}, 3, pre_filter_msg="pod affinity terms conflict") == (
        "0/3 nodes are available: pod affinity terms conflict.")


def test_fit_error_counts_nodes_never_examined_with_the_absent_status() -> None:
    statuses = NodeToStatus({"a": Status.unresolvable("node(s) didn't match Pod's node affinity/selector")},
                            absent=Status.unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]"))
    message = str(FitError(PodInfo(pod()), 3, Diagnosis(node_to_status=statuses)))
    assert message == ("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                       "2 node(s) didn't satisfy plugin(s) [NodeAffinity].")
