"""Deployment arithmetic: fenceposts, new replica counts, proportions, revisions, conditions."""

from __future__ import annotations

import pytest

from kubelab.controllers import deployment_util as util


def deployment(replicas=10, surge="25%", unavailable="25%", strategy="RollingUpdate", **spec):
    d = {"metadata": {"name": "web", "namespace": "default", "generation": 1, "annotations": {}},
         "spec": {"replicas": replicas, "strategy": {"type": strategy}, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}},
                  **spec}, "status": {}}
    if strategy == "RollingUpdate":
        d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return d


def rs(name, replicas, available=0, created="2024-01-01T00:00:00Z", revision=None, **annotations):
    meta = {"name": name, "uid": f"uid-{name}", "creationTimestamp": created, "annotations": dict(annotations)}
    if revision is not None:
        meta["annotations"][util.REVISION_ANNOTATION] = str(revision)
    return {"metadata": meta, "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "web"}}}},
            "status": {"replicas": replicas, "availableReplicas": available}}


@pytest.mark.parametrize(
    "surge, unavailable, desired, expected",
    [
        ("25%", "25%", 10, (3, 2)),       # surge rounds up, unavailability down
        ("25%", "25%", 1, (1, 0)),
        ("25%", "25%", 3, (1, 0)),
        (0, "1%", 1, (0, 1)),             # both 0: unavailability becomes 1
        ("0%", "0%", 5, (0, 1)),
        (2, 0, 10, (2, 0)),
        ("100%", "100%", 4, (4, 4)),
        ("30%", 5, 7, (3, 5)),
    ],
)
def test_resolve_fenceposts(surge, unavailable, desired, expected):
    assert util.resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize("value, message", [("12", "string is not a percentage"), ("x%", "invalid value 'x%'"),
                                             (1.5, "neither int nor percentage")])
def test_bad_int_or_percent_values_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        util.resolve_fenceposts(value, 1, 10)


def test_max_unavailable_is_capped_and_zero_for_recreate():
    assert util.max_unavailable(deployment(replicas=2, unavailable=5, surge=0)) == 2
    assert util.max_unavailable(deployment(replicas=0)) == 0
    assert util.max_unavailable(deployment(strategy="Recreate")) == 0
    assert util.max_surge(deployment(strategy="Recreate")) == 0


def test_missing_rolling_parameters_default_to_25_percent():
    d = deployment(replicas=8)
    d["spec"]["strategy"] = {}
    assert (util.max_surge(d), util.max_unavailable(d)) == (2, 2)


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (10, 0, 3),    # 10 + 3 surge allowed: the new one may take 3
        (7, 3, 6),
        (10, 3, 3),    # at the surge limit already
        (0, 9, 10),    # never beyond replicas
    ],
)
def test_new_rs_new_replicas_stays_within_surge(old, new, expected):
    d = deployment(replicas=10, surge=3, unavailable=2)
    new_rs = rs("new", new)
    assert util.new_rs_new_replicas(d, [rs("old", old), new_rs], new_rs) == expected


def test_recreate_scales_the_new_replica_set_to_all_replicas():
    d = deployment(replicas=4, strategy="Recreate")
    assert util.new_rs_new_replicas(d, [rs("old", 4), rs("new", 0)], rs("new", 0)) == 4


def test_proportions_follow_the_recorded_size():
    d = deployment(replicas=15, surge=0, unavailable=1)
    small = rs("a", 4, **{util.MAX_REPLICAS_ANNOTATION: "10"})
    large = rs("b", 6, **{util.MAX_REPLICAS_ANNOTATION: "10"})
    # Growing from 10 to 15: each grows by half of its size, rounded half away from zero.
    assert util.get_proportion(large, d, 5, 0) == 3
    assert util.get_proportion(small, d, 5, 3) == 2
    assert util.get_proportion(small, d, 5, 5) == 0
    assert util.get_proportion(rs("zero", 0), d, 5, 0) == 0
    shrink = deployment(replicas=5, surge=0, unavailable=1)
    assert util.get_proportion(large, shrink, -5, 0) == -3


def test_scaling_to_zero_removes_everything():
    assert util.replicaset_fraction(rs("a", 7), deployment(replicas=0)) == -7


def test_new_replica_set_is_found_ignoring_the_hash_label_and_empty_fields():
    d = deployment()
    other = rs("other", 1)
    other["spec"]["template"] = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v2"}]}}
    mine = rs("mine", 1)
    mine["spec"]["template"] = {
        "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}, "annotations": {}, "creationTimestamp": None},
        "spec": {"containers": [{"name": "c", "image": "v1", "env": []}]},
    }
    assert util.find_new_replicaset(d, [other, mine]) is mine
    required, old = util.find_old_replicasets(d, [other, mine])
    assert old == [other] and required == [other]


def test_the_oldest_matching_replica_set_is_the_new_one():
    d = deployment()
    young, old = rs("young", 1, created="2024-02-01T00:00:00Z"), rs("old", 1, created="2024-01-01T00:00:00Z")
    for r in (young, old):
        r["spec"]["template"] = d["spec"]["template"]
    assert util.find_new_replicaset(d, [young, old]) is old


def test_find_active_or_latest():
    new, old1, old2 = rs("new", 0, created="2024-03-01T00:00:00Z"), rs("o1", 0), rs("o2", 0, created="2024-02-01T00:00:00Z")
    assert util.find_active_or_latest(new, [old1, old2]) is new
    assert util.find_active_or_latest(None, [old1, old2]) is old2
    old1["spec"]["replicas"] = 3
    assert util.find_active_or_latest(new, [old1, old2]) is old1
    new["spec"]["replicas"] = 1
    assert util.find_active_or_latest(new, [old1, old2]) is None


def test_compute_hash_is_stable_safe_and_changes_with_collisions():
    template = deployment()["spec"]["template"]
    h = util.compute_hash(template, None)
    assert h == util.compute_hash(dict(reversed(list(template.items()))), None)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    assert util.compute_hash(template, 1) != h
    assert util.compute_hash({**template, "spec": {"containers": [{"name": "c", "image": "v2"}]}}, None) != h


def test_new_replica_set_annotations_copy_the_deployment_and_set_the_revision():
    d = deployment(replicas=4, surge=1)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "set image v1",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                                    util.REVISION_ANNOTATION: "7"}
    new = rs("new", 0)
    assert util.set_new_replicaset_annotations(d, new, "3", exists=False)
    assert new["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "set image v1", util.REVISION_ANNOTATION: "3",
        util.DESIRED_REPLICAS_ANNOTATION: "4", util.MAX_REPLICAS_ANNOTATION: "5",
    }
    assert not util.set_new_replicaset_annotations(d, new, "3", exists=True)


def test_rolling_back_to_a_replica_set_records_its_old_revisions():
    d = deployment()
    back = rs("back", 0, revision=1)
    assert util.set_new_replicaset_annotations(d, back, "3", exists=True)
    assert back["metadata"]["annotations"][util.REVISION_ANNOTATION] == "3"
    assert back["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "1"
    util.set_new_replicaset_annotations(d, back, "5", exists=True)
    assert back["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "1,3"
    assert not util.set_new_replicaset_annotations(d, back, "4", exists=True), "a revision never goes down"


def test_revision_history_is_trimmed_from_the_front():
    back = rs("back", 0, revision=30, **{util.REVISION_HISTORY_ANNOTATION: "10,11,12"})
    util.set_new_replicaset_annotations(deployment(), back, "31", exists=True, history_limit=9)
    assert back["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "11,12,30"


def test_is_saturated_needs_size_record_and_availability():
    d = deployment(replicas=3)
    full = rs("new", 3, available=3, **{util.DESIRED_REPLICAS_ANNOTATION: "3"})
    assert util.is_saturated(d, full)
    assert not util.is_saturated(d, rs("new", 3, available=2, **{util.DESIRED_REPLICAS_ANNOTATION: "3"}))
    assert not util.is_saturated(d, rs("new", 3, available=3))
    assert not util.is_saturated(d, None)


def test_set_condition_keeps_transition_time_and_skips_no_ops():
    status: dict = {}
    util.set_condition(status, util.new_condition("Progressing", "True", "NewReplicaSetCreated", "a", "T1"))
    util.set_condition(status, util.new_condition("Available", "True", "MinimumReplicasAvailable", "b", "T1"))
    util.set_condition(status, util.new_condition("Progressing", "True", "NewReplicaSetCreated", "changed", "T2"))
    assert status["conditions"][0]["message"] == "a", "same status and reason: nothing changes"
    util.set_condition(status, util.new_condition("Progressing", "True", "ReplicaSetUpdated", "c", "T3"))
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    progressing = status["conditions"][1]
    assert (progressing["lastUpdateTime"], progressing["lastTransitionTime"]) == ("T3", "T1")
    util.set_condition(status, util.new_condition("Progressing", "False", "ProgressDeadlineExceeded", "d", "T4"))
    assert status["conditions"][1]["lastTransitionTime"] == "T4"
    util.remove_condition(status, "Available")
    util.remove_condition(status, "Progressing")
    assert status == {}


def test_complete_progressing_and_timed_out():
    d = deployment(replicas=2, progressDeadlineSeconds=60)
    d["metadata"]["generation"] = 2
    done = {"updatedReplicas": 2, "replicas": 2, "availableReplicas": 2, "observedGeneration": 2}
    assert util.deployment_complete(d, done)
    assert not util.deployment_complete(d, {**done, "observedGeneration": 1})
    d["status"] = {"replicas": 3, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    assert util.deployment_progressing(d, {"replicas": 3, "updatedReplicas": 2, "availableReplicas": 1})
    assert util.deployment_progressing(d, {"replicas": 2, "updatedReplicas": 1, "availableReplicas": 1})
    assert not util.deployment_progressing(d, dict(d["status"]))
    stale = {"conditions": [util.new_condition("Progressing", "True", "ReplicaSetUpdated", "x", "2024-01-01T00:00:00Z")]}
    start = 1704067200.0
    assert not util.deployment_timed_out(d, stale, start + 60)
    assert util.deployment_timed_out(d, stale, start + 61)
    d["spec"]["progressDeadlineSeconds"] = 2**31 - 1
    assert not util.deployment_timed_out(d, stale, start + 10**6)
