"""Lab 03's harness, and the lab's solution scheduler in remote mode against a cluster in another process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kubelab import lab
from kubelab.grading import CheckFailed
from kubelab.lab import scheduler as harness
from kubelab.lab.scheduler import (
    SAMPLE_NODES,
    SAMPLE_PODS,
    SchedulerLoop,
    Unschedulable,
    alone,
    pod,
    reference,
)

REPO = Path(__file__).resolve().parents[2]
SOLUTION = REPO / "solutions" / "03-scheduler" / "03-scheduler.ipynb"
WAIT = 60


def solution_namespace() -> dict[str, Any]:
    """The lab solution's code: its imports cell and every solution cell, run in a fresh namespace."""
    nb = nbformat.read(SOLUTION, as_version=4)
    namespace: dict[str, Any] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "imports" or meta.get("solution"):
            exec(compile(cell.source, f"<{meta['grade_id']}>", "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace


def my_scheduler_class(namespace: dict[str, Any]) -> type:
    return type("MyScheduler", (SchedulerLoop,), {name: namespace[name]
                                                 for name in ("bind", "record_failure", "schedule_pending")})


# -- the harness, offline --------------------------------------------------------------------------


def test_alone_swaps_the_names_a_function_calls_and_nothing_else() -> None:
    namespace = solution_namespace()
    namespace["amount"] = lambda resource, quantity: 0  # a learner's broken amount
    fits = namespace["fits_resources"]
    request, node, placed = pod("a", cpu="1100m"), SAMPLE_NODES[0], [SAMPLE_PODS[0]]
    assert fits(request, node, placed) == ["Too many pods", "Insufficient cpu"]
    assert alone(fits, amount=reference.amount)(request, node, placed) == ["Insufficient cpu"]
    assert fits(request, node, placed) == ["Too many pods", "Insufficient cpu"]
    with pytest.raises(TypeError, match="expected a function you wrote"):
        alone(len)


def test_the_solution_agrees_with_kubelabs_scheduler_on_random_clusters() -> None:
    namespace = solution_namespace()
    rng = random.Random(5)
    for _ in range(200):
        new, nodes, placed = harness.random_cluster(rng)
        harness.same_as_reference("schedule", namespace["schedule"], (new, nodes, placed))


def test_reference_schedule_explains_a_pod_that_fits_nowhere() -> None:
    with pytest.raises(Unschedulable) as e:
        reference.schedule(harness.sample(pod("a", cpu="1500m")), SAMPLE_NODES, SAMPLE_PODS)
    assert str(e.value) == "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."


def test_a_loop_that_raises_keeps_its_errors_and_says_so() -> None:
    loop = SchedulerLoop("mine", schedule=reference.schedule)
    assert loop.check_errors() is False
    loop.errors.append("KeyError: 'nodeName'")
    with pytest.raises(CheckFailed, match="scheduler 'mine' raised KeyError: 'nodeName'"):
        loop.check_errors()
    with pytest.raises(TypeError, match="schedule must be a function"):
        SchedulerLoop("mine", schedule="node-1")  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="write bind"):
        loop.bind({}, "node-1")


def test_the_visible_checks_pass_on_kubelabs_answers_and_fail_on_a_wrong_one() -> None:
    for task in ("amount", "fits_resources", "matches_node_affinity", "untolerated_taint", "anti_affinity_violated",
                 "least_allocated_score", "failure_message", "schedule"):
        harness.check(task, getattr(reference, task))
    with pytest.raises(CheckFailed, match=r"amount\('cpu', '500m'\) should be 500, but it was 0"):
        harness.check("amount", lambda resource, quantity: 0)


# -- remote mode: a cluster started as its own process, with its own scheduler ---------------------


def kubelab(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "kubelab", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubelab {' '.join(args)}: {result.stderr}{result.stdout}"
    return result


@pytest.fixture
def separate_cluster(tmp_path: Path) -> Any:
    """A cluster started with ``kubelab up --detach``, as a learner's real cluster would be: its kubeconfig."""
    kubelab("up", "--name", "remote", "--store", "memory", "--nodes", "2", "--detach")
    directory = Path(os.environ["KUBELAB_HOME"]) / "clusters" / "remote"
    try:
        state = json.loads((directory / "state.json").read_text())
        assert "scheduler" in state["processes"], "the separate cluster runs its own scheduler"
        yield directory / "kubeconfig"
    finally:
        kubelab("down", "--name", "remote")


def events(cluster: lab.LabCluster, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in cluster.client.resource("v1", "events").list(cluster.namespace)["items"]
            if e["involvedObject"]["name"] == name and e["reason"] == reason]


def test_the_lab_scheduler_runs_beside_a_real_clusters_own_under_its_schedulername(
        separate_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(separate_cluster))
    namespace = solution_namespace()
    with lab.start("03-scheduler", backend_name="kubeconfig") as cluster:
        assert not cluster.embedded
        with pytest.raises(lab.LabError, match="cannot be replaced from a notebook"):
            cluster.plug("scheduler", my_scheduler_class(namespace)(schedule=namespace["schedule"]))
        mine = cluster.run(my_scheduler_class(namespace)("my-scheduler", schedule=namespace["schedule"]))
        for name in ("ours-1", "ours-2"):
            cluster.create(pod(name, cpu="100m", scheduler="my-scheduler"))
        cluster.create(pod("ours-too-big", cpu="1000", scheduler="my-scheduler"))
        for name in ("theirs-1", "theirs-2"):
            cluster.create(pod(name, cpu="100m"))
        pods = cluster.client.resource("v1", "pods")
        bound = ("ours-1", "ours-2", "theirs-1", "theirs-2")
        lab.wait_for(lambda: mine.check_errors() or all(pods.get(n, cluster.namespace)["spec"].get("nodeName") for n in bound)
                     and all(events(cluster, n, "Scheduled") for n in bound) and events(cluster, "ours-too-big", "FailedScheduling"),
                     what="four pods bound and one refused", timeout=WAIT)
        for name in ("ours-1", "ours-2"):
            [event] = events(cluster, name, "Scheduled")
            assert (event["source"]["component"], event["reportingComponent"]) == ("my-scheduler", "my-scheduler")
            node = pods.get(name, cluster.namespace)["spec"]["nodeName"]
            assert event["message"] == f"Successfully assigned {cluster.namespace}/{name} to {node}"
        for name in ("theirs-1", "theirs-2"):
            assert [e["source"]["component"] for e in events(cluster, name, "Scheduled")] == ["default-scheduler"]
        refused = events(cluster, "ours-too-big", "FailedScheduling")
        assert {e["source"]["component"] for e in refused} == {"my-scheduler"}
        assert refused[-1]["message"] == "0/2 nodes are available: 2 Insufficient cpu."
        condition = [c for c in pods.get("ours-too-big", cluster.namespace)["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert condition[0]["reason"] == "Unschedulable" and condition[0]["status"] == "False"
        assert mine.errors == []
