"""Deployment controller decisions that need no cluster."""

from __future__ import annotations

import pytest

from kubelab.controllers.deployment import DeploymentController, ScaleDownRefused, old_pods_running


def rs(name, replicas, available, uid=None):
    return {"metadata": {"name": name, "namespace": "default", "uid": uid or name,
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"replicas": replicas}, "status": {"replicas": replicas, "availableReplicas": available}}


def test_a_stale_status_never_turns_a_scale_down_into_a_scale_up():
    # The ReplicaSet was just shrunk to 3; its status still counts 5 available pods.
    d = {"metadata": {"name": "web"}, "spec": {"replicas": 4}}
    with pytest.raises(ScaleDownRefused, match="invalid request to scale down default/old 3 -> 5"):
        DeploymentController().cleanup_unhealthy_replicas([rs("old", 3, 5)], d, 4)


def test_recreate_waits_for_every_old_pod_to_finish():
    new, old = rs("new", 0, 0), rs("old", 0, 0)
    running = {"status": {"phase": "Running"}}
    done = {"status": {"phase": "Succeeded"}}
    assert old_pods_running(new, [old], {"old": [running], "new": []})
    assert not old_pods_running(new, [old], {"old": [done], "new": [running]})
    assert old_pods_running(new, [rs("old", 0, 0) | {"status": {"replicas": 1}}], {})
