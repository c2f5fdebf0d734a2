"""The pod garbage collector's passes, against a recording stand-in for the API server."""

from __future__ import annotations

from kubelab import errors
from kubelab.controllers.podgc import PodGCController
from kubelab.runtime import FakeClock


class Recorder:
    """Records status updates and deletions; knows which nodes exist."""

    def __init__(self, nodes=()):
        self.nodes = set(nodes)
        self.calls = []

    def get(self, name, namespace=None):
        if name not in self.nodes:
            raise errors.NotFound({"code": 404, "reason": "NotFound", "message": f'nodes "{name}" not found'})
        return {"metadata": {"name": name}}

    def update_status(self, pod):
        self.calls.append(("status", pod["metadata"]["name"], pod["status"]))

    def delete(self, name, namespace, grace_period_seconds=None):
        self.calls.append(("delete", name, grace_period_seconds))


def pod(name, node="", phase="Running", deleting=False, created="2026-01-01T00:00:00Z", reason=None):
    meta = {"name": name, "namespace": "ns", "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    status = {"phase": phase, **({"reason": reason} if reason else {})}
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


def controller(api, **options):
    gc = PodGCController(**options)
    gc.clock = FakeClock()
    gc.pods_api = gc.nodes_api = api
    return gc


def test_pods_of_a_deleted_node_go_after_the_quarantine_marked_failed():
    api = Recorder(nodes={"alive"})
    gc = controller(api, quarantine=40)
    pods = [pod("orphan", "gone"), pod("fine", "alive")]
    gc.gc_orphaned(pods, {"alive": {}})
    assert api.calls == []
    gc.clock.step(41)
    gc.gc_orphaned(pods, {"alive": {}})
    (_, name, status), delete = api.calls
    assert name == "orphan" and status["phase"] == "Failed"
    assert status["conditions"][0]["reason"] == "DeletionByPodGC"
    assert status["conditions"][0]["message"] == "PodGC: node no longer exists"
    assert delete == ("delete", "orphan", 0)


def test_a_node_only_missing_from_the_cache_keeps_its_pods():
    api = Recorder(nodes={"late"})
    gc = controller(api, quarantine=1)
    gc.gc_orphaned([pod("p", "late")], {})
    gc.clock.step(2)
    gc.gc_orphaned([pod("p", "late")], {})
    assert api.calls == []


def test_unscheduled_terminating_and_out_of_service_pods_are_force_deleted():
    api = Recorder()
    gc = controller(api)
    gc.gc_unscheduled_terminating([pod("pending-gone", deleting=True), pod("pending")])
    dead = {"spec": {"taints": [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    down = {"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    gc.gc_terminating([pod("on-dead", "n1", deleting=True), pod("on-down", "n2", deleting=True)],
                      {"n1": dead, "n2": down})
    assert [c[1] for c in api.calls if c[0] == "delete"] == ["pending-gone", "on-dead"]


def test_finished_pods_beyond_the_threshold_go_evicted_first_then_oldest():
    api = Recorder()
    gc = controller(api, terminated_pod_threshold=2)
    pods = [pod("new", phase="Succeeded", created="2026-01-03T00:00:00Z"),
            pod("old", phase="Failed", created="2026-01-01T00:00:00Z"),
            pod("evicted", phase="Failed", created="2026-01-05T00:00:00Z", reason="Evicted"),
            pod("running", phase="Running", created="2025-01-01T00:00:00Z")]
    gc.gc_terminated(pods)
    assert api.calls == [("delete", "evicted", 0)]
