"""The namespace controller: its conditions offline, and ``kubectl delete namespace`` on a real cluster."""

from __future__ import annotations

from kubelab.controllers.namespace import Remaining, pods_grace_estimate, update_conditions


def test_remaining_content_becomes_conditions_as_upstream_words_them():
    remaining = Remaining(by_resource={"configmaps.": 2, "widgets.example.com": 1},
                          by_finalizer={"example.com/hold": 3})
    failing = remaining.conditions()
    assert failing == {
        "NamespaceContentRemaining": (
            "SomeResourcesRemain",
            "Some resources are remaining: configmaps. has 2 resource instances, "
            "widgets.example.com has 1 resource instances"),
        "NamespaceFinalizersRemaining": (
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: example.com/hold in 3 resource instances"),
    }
    status: dict = {}
    assert update_conditions(status, failing, "T1")
    by_type = {c["type"]: c for c in status["conditions"]}
    assert len(by_type) == 5
    assert by_type["NamespaceDeletionContentFailure"] == {
        "type": "NamespaceDeletionContentFailure", "status": "False", "lastTransitionTime": "T1",
        "reason": "ContentDeleted", "message": "All content successfully deleted, may be waiting on finalization"}
    assert by_type["NamespaceContentRemaining"]["status"] == "True"
    # Nothing changed: nothing to write. Content gone: the condition flips, with a new transition time.
    assert not update_conditions(status, failing, "T2")
    assert update_conditions(status, {}, "T3")
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["NamespaceContentRemaining"]["status"] == "False"
    assert by_type["NamespaceContentRemaining"]["lastTransitionTime"] == "T3"
    assert by_type["NamespaceDeletionContentFailure"]["lastTransitionTime"] == "T1"


def test_the_estimate_is_the_longest_grace_period_of_running_pods():
    pods = [{"spec": {"terminationGracePeriodSeconds": 30}, "status": {"phase": "Succeeded"}},
            {"spec": {"terminationGracePeriodSeconds": 5}, "status": {"phase": "Running"}},
            {"spec": {}, "status": {"phase": "Pending"}}]
    assert pods_grace_estimate(pods) == 5
    assert pods_grace_estimate([]) == 0
