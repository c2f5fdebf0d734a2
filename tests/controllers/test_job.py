"""The Job controller: its bookkeeping offline, and Jobs run with kubectl on a real cluster."""

from __future__ import annotations

from kubelab.controllers.job import BackoffRecord, count_uncounted_without_finalizers, ensure_condition

# -- offline ---------------------------------------------------------------------------------------


def finished(at):
    return {"metadata": {}, "status": {"containerStatuses": [
        {"state": {"terminated": {"finishedAt": at}}}]}}


def test_back_off_doubles_with_each_failure_since_the_last_success():
    record = BackoffRecord().after([], [finished("2026-01-01T00:00:10Z")], now=0)
    assert record.failures == 1
    start = record.last_failure
    assert record.remaining(start + 4, 10, 360) == 6
    record = record.after([], [finished("2026-01-01T00:00:20Z")], now=0)
    assert (record.failures, record.remaining(record.last_failure, 10, 360)) == (2, 20)
    # A success resets it; failures after the success count again.
    record = record.after([finished("2026-01-01T00:00:30Z")], [finished("2026-01-01T00:00:40Z")], now=0)
    assert record.failures == 1
    assert BackoffRecord(failures=30, last_failure=0).remaining(0, 10, 360) == 360
    assert BackoffRecord().remaining(100, 10, 360) == 0


def test_uncounted_pods_are_counted_once_their_finalizer_is_gone():
    status = {"succeeded": 1, "uncountedTerminatedPods": {"succeeded": ["a", "b"], "failed": ["c"]}}
    assert count_uncounted_without_finalizers(status, {"b"})
    assert status == {"succeeded": 2, "failed": 1, "uncountedTerminatedPods": {"succeeded": ["b"], "failed": []}}
    assert not count_uncounted_without_finalizers(status, {"b"})


def test_conditions_are_added_true_and_flipped_in_place():
    conditions: list = []
    assert not ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", "T0")
    assert ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", "T1")
    assert ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", "T2")
    assert conditions == [{"type": "Suspended", "status": "False", "reason": "JobResumed", "message": "Job resumed",
                           "lastProbeTime": "T2", "lastTransitionTime": "T2"}]
