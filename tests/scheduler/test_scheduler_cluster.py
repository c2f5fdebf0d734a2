"""The scheduler against a real embedded cluster: nodes registered through the API, no kubelets."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.process import ManagedProcess
from kubelab.scheduler import Scheduler
from waiting import eventually

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}



def node(name: str, cpu: str = "4", labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": "8Gi", "pods": "110"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints} if taints else {},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def pod(name: str, cpu: str | None = None, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "busybox"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}


class Lab:
    """A fresh cluster, a client, and helpers to read what the scheduler did."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.client = Client(cluster.api_client())
        self.pods = self.client.resource("v1", "pods")
        self.nodes = self.client.resource("v1", "nodes")
        self.schedulers: list[Scheduler] = []

    def start_scheduler(self, **kw: Any) -> Scheduler:
        scheduler = Scheduler(seed=1, **kw)
        scheduler.start(self.cluster.api_client())
        self.schedulers.append(scheduler)
        return scheduler

    def node_of(self, name: str, timeout: float = 20.0) -> str:
        return eventually(lambda: (self.pods.get(name, "default").get("spec") or {}).get("nodeName"), timeout,
                          f"pod {name} to be bound")

    def events(self, name: str, reason: str) -> list[dict[str, Any]]:
        items = self.client.resource("v1", "events").list("default")["items"]
        return [e for e in items if e["involvedObject"].get("name") == name and e["reason"] == reason]

    def wait_event(self, name: str, reason: str) -> dict[str, Any]:
        return eventually(lambda: (self.events(name, reason) or [None])[-1], what=f"a {reason} event for {name}")

    def condition(self, name: str) -> dict[str, Any] | None:
        conditions = (self.pods.get(name, "default").get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "PodScheduled"), None)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Cluster() as cluster:
        lab = Lab(cluster)
        try:
            yield lab
        finally:
            for scheduler in lab.schedulers:
                scheduler.stop()
            lab.client.close()


def test_pods_land_where_their_rules_say(lab: Lab) -> None:
    lab.nodes.create(node("cp", taints=[CONTROL_PLANE_TAINT]))
    lab.nodes.create(node("ssd", labels={"disk": "ssd"}))
    lab.nodes.create(node("plain"))
    lab.start_scheduler()
    lab.pods.create(pod("wants-ssd", nodeSelector={"disk": "ssd"}), "default")
    lab.pods.create(pod("on-cp", nodeSelector={"kubernetes.io/hostname": "cp"},
                        tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]),
                    "default")
    for i in range(4):
        lab.pods.create(pod(f"any-{i}", cpu="100m"), "default")
    assert lab.node_of("wants-ssd") == "ssd"
    assert lab.node_of("on-cp") == "cp"
    assert {lab.node_of(f"any-{i}") for i in range(4)} <= {"ssd", "plain"}
    scheduled = lab.wait_event("wants-ssd", "Scheduled")
    assert scheduled["message"] == "Successfully assigned default/wants-ssd to ssd"
    assert scheduled["source"]["component"] == "default-scheduler" and scheduled["type"] == "Normal"
    assert lab.condition("wants-ssd")["status"] == "True"


def test_a_pod_that_fits_nowhere_is_told_why_and_waits_for_a_new_node(lab: Lab) -> None:
    lab.nodes.create(node("cp", taints=[CONTROL_PLANE_TAINT]))
    lab.nodes.create(node("w1", cpu="1"))
    lab.nodes.create(node("w2", cpu="1"))
    lab.start_scheduler()
    lab.pods.create(pod("big", cpu="2"), "default")
    event = lab.wait_event("big", "FailedScheduling")
    expected = (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )
    assert (event["type"], event["message"]) == ("Warning", expected)
    condition = eventually(lambda: lab.condition("big"), what="a PodScheduled condition")
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "Unschedulable", expected)
    described = lab.cluster.kubectl("describe", "pod", "big").stdout
    assert "default-scheduler  0/3 nodes are available: 1 node(s) had untolerated taint" in described

    lab.nodes.create(node("w3", cpu="4"))
    assert lab.node_of("big") == "w3"
    assert lab.wait_event("big", "Scheduled")["message"] == "Successfully assigned default/big to w3"


def test_removing_a_taint_with_kubectl_schedules_the_waiting_pod(lab: Lab) -> None:
    lab.nodes.create(node("gpu-1"))
    lab.cluster.kubectl("taint", "nodes", "gpu-1", "dedicated=gpu:NoSchedule")
    lab.start_scheduler()
    lab.pods.create(pod("job"), "default")
    event = lab.wait_event("job", "FailedScheduling")
    assert event["message"].startswith(
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. preemption:")
    lab.cluster.kubectl("taint", "nodes", "gpu-1", "dedicated=gpu:NoSchedule-")
    assert lab.node_of("job") == "gpu-1"


def test_cordoned_nodes_take_no_new_pods_until_uncordoned(lab: Lab) -> None:
    lab.nodes.create(node("n1"))
    lab.nodes.create(node("n2"))
    lab.cluster.kubectl("cordon", "n1")
    scheduler = lab.start_scheduler()
    for i in range(3):
        lab.pods.create(pod(f"p{i}"), "default")
    assert {lab.node_of(f"p{i}") for i in range(3)} == {"n2"}
    lab.cluster.kubectl("cordon", "n2")
    # The scheduler learns of the cordon through its watch; a pod created before that may still land on n2.
    nodes_seen = scheduler._informers.informer("v1", "nodes").cache  # type: ignore[union-attr]
    eventually(lambda: (nodes_seen.get("n2", None) or {}).get("spec", {}).get("unschedulable"),
               what="the scheduler to see n2 cordoned")
    lab.pods.create(pod("waiting"), "default")
    event = lab.wait_event("waiting", "FailedScheduling")
    assert event["message"] == ("0/2 nodes are available: 2 node(s) were unschedulable. preemption: "
                                "0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    lab.cluster.kubectl("uncordon", "n1")
    assert lab.node_of("waiting") == "n1"


def test_deleting_a_pod_makes_room_for_a_waiting_one(lab: Lab) -> None:
    lab.nodes.create(node("small", cpu="2"))
    lab.start_scheduler()
    lab.pods.create(pod("first", cpu="2"), "default")
    assert lab.node_of("first") == "small"
    lab.pods.create(pod("second", cpu="2"), "default")
    assert lab.wait_event("second", "FailedScheduling")["message"].startswith(
        "0/1 nodes are available: 1 Insufficient cpu.")
    lab.pods.delete("first", "default", grace_period_seconds=0)
    assert lab.node_of("second") == "small"


def test_a_second_scheduler_takes_only_its_own_pods(lab: Lab) -> None:
    class OnlyN2:
        """A learner-style score plugin: prefers the node called n2."""

        name = "OnlyN2"

        def score(self, state: Any, pod: Any, node: Any) -> int:
            return 100 if node.name == "n2" else 0

    from kubelab.scheduler.plugins import DefaultBinder, Fit, PrioritySort

    lab.nodes.create(node("n1"))
    lab.nodes.create(node("n2"))
    lab.start_scheduler()
    lab.start_scheduler(scheduler_name="my-scheduler",
                        plugins=[PrioritySort(), Fit(), OnlyN2(), DefaultBinder()])
    for i in range(3):
        lab.pods.create(pod(f"mine-{i}", schedulerName="my-scheduler"), "default")
    lab.pods.create(pod("theirs"), "default")
    assert {lab.node_of(f"mine-{i}") for i in range(3)} == {"n2"}
    assert lab.node_of("theirs") in ("n1", "n2")
    assert lab.wait_event("mine-0", "Scheduled")["source"]["component"] == "my-scheduler"
    assert lab.wait_event("theirs", "Scheduled")["source"]["component"] == "default-scheduler"
    lab.pods.create(pod("orphan", schedulerName="nobody"), "default")
    time.sleep(1)
    assert not lab.pods.get("orphan", "default")["spec"].get("nodeName")
    assert lab.events("orphan", "FailedScheduling") == []


def test_a_higher_priority_pod_preempts_a_lower_one(lab: Lab) -> None:
    lab.nodes.create(node("only", cpu="2"))
    lab.start_scheduler()
    lab.pods.create(pod("low", cpu="2", priority=10), "default")
    assert lab.node_of("low") == "only"
    lab.pods.create(pod("high", cpu="2", priority=1000), "default")
    preempted = lab.wait_event("low", "Preempted")
    assert preempted["message"].startswith("Preempted by pod ") and preempted["message"].endswith(" on node only")
    eventually(lambda: lab.pods.get("low", "default")["metadata"].get("deletionTimestamp"), what="low terminating")
    conditions = lab.pods.get("low", "default")["status"]["conditions"]
    target = next(c for c in conditions if c["type"] == "DisruptionTarget")
    assert (target["reason"], target["message"]) == (
        "PreemptionByScheduler", "default-scheduler: preempting to accommodate a higher priority pod")
    assert eventually(lambda: (lab.pods.get("high", "default").get("status") or {}).get("nominatedNodeName"),
                      what="high nominated") == "only"
    # No kubelet here: finish the victim's graceful deletion as its kubelet would.
    lab.pods.delete("low", "default", grace_period_seconds=0)
    assert lab.node_of("high") == "only"


def test_the_scheduler_runs_as_its_own_process(lab: Lab) -> None:
    lab.nodes.create(node("n1"))
    process = ManagedProcess(
        "scheduler", [sys.executable, "-m", "kubelab", "scheduler", "--kubeconfig", str(lab.cluster.kubeconfig),
                      "--scheduler-name", "proc-scheduler"],
        lab.cluster.dir.log("test-scheduler"),
    )
    process.start()
    try:
        lab.pods.create(pod("p", schedulerName="proc-scheduler"), "default")
        assert lab.node_of("p") == "n1"
    finally:
        assert process.stop() is not None


def test_without_a_scheduler_pods_stay_pending_until_it_starts_again(lab: Lab) -> None:
    lab.nodes.create(node("n1"))
    scheduler = lab.start_scheduler()
    lab.pods.create(pod("before"), "default")
    assert lab.node_of("before") == "n1"
    scheduler.stop()
    lab.pods.create(pod("during"), "default")
    time.sleep(1)
    assert not lab.pods.get("during", "default")["spec"].get("nodeName")
    assert lab.events("during", "FailedScheduling") == [] and lab.condition("during") is None
    scheduler.start(lab.cluster.api_client())
    assert lab.node_of("during") == "n1"


def test_a_replica_sets_pods_spread_over_the_nodes_by_default() -> None:
    with Cluster(components=["controller-manager"]) as cluster:
        lab = Lab(cluster)
        try:
            # n1 is far bigger: on free room alone, every replica would go there.
            lab.nodes.create(node("n1", cpu="64"))
            lab.nodes.create(node("n2", cpu="2"))
            lab.nodes.create(node("n3", cpu="2"))
            lab.start_scheduler()
            lab.client.resource("apps/v1", "replicasets").create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
                "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "app", "image": "busybox"}]}}},
            }, "default")

            def placement() -> dict[str, int] | None:
                pods = lab.pods.list("default", label_selector="app=web")["items"]
                nodes = [p["spec"].get("nodeName") for p in pods]
                if len(nodes) < 6 or not all(nodes):
                    return None
                return {n: nodes.count(n) for n in set(nodes)}

            # Nothing asks for spreading: the default topology spread constraints do it.
            assert eventually(placement, 60, "six bound replicas") == {"n1": 2, "n2": 2, "n3": 2}
        finally:
            for scheduler in lab.schedulers:
                scheduler.stop()
            lab.client.close()
