"""``kubelab bench scheduler``: how many pods a second the scheduler binds.

Shaped like upstream's ``scheduler_perf`` SchedulingBasic: nodes are registered through
the API with capacity but no kubelet, then pending pods are created, and the scheduler
(run as its own process, as ``kubelab up`` runs it) binds them all. The clock starts when
the scheduler reports ready with every pod already pending, and stops when a watch has
seen the last pod bound.

Targets on a 2-core machine: ≥ 500 pods/s with 100 nodes, ≥ 200 pods/s with 1,000 nodes.
Throughput depends on what else runs on the machine, so the table also shows the CPU time
the scheduler and the API server spent per pod, and the load average during the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubelab.bench import percentile, print_table
from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.process import ManagedProcess

TARGETS = {100: 500.0, 1000: 200.0}


def node(name: str) -> dict[str, Any]:
    """A node as scheduler_perf's default template has it: 4 CPUs, 32Gi, 110 pods."""
    capacity = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"capacity": capacity, "allocatable": capacity,
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(name: str) -> dict[str, Any]:
    """A pod as scheduler_perf's default template has it: 100m CPU, 500Mi memory."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                 "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]},
    }


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``); NaN where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _create_all(client: Client, resource: str, objects: list[dict[str, Any]], namespace: str | None) -> None:
    api = client.resource("v1", resource)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda o: api.create(o, namespace), objects))


def measure(cluster: Cluster, nodes: int, pods: int, run: int) -> dict[str, Any]:
    """Schedule ``pods`` pending pods onto ``nodes`` fresh nodes.

    Returns the wall time, when each pod was seen bound, the spread (fewest–most pods on a
    node: the pods were placed, not just bound anywhere), and the CPU seconds the
    scheduler and the API server used meanwhile.
    """
    client = Client(cluster.api_client())
    namespace = f"bench-{run}"
    client.resource("v1", "namespaces").create({"metadata": {"name": namespace}})
    _create_all(client, "nodes", [node(f"bench-{run}-node-{i:04}") for i in range(nodes)], None)
    _create_all(client, "pods", [pod(f"pod-{i:05}") for i in range(pods)], namespace)

    pod_api = client.resource("v1", "pods")
    listed = pod_api.list(namespace)
    bound_at: dict[str, float] = {}
    done = threading.Event()
    watch = pod_api.watch(namespace, resource_version=listed["metadata"]["resourceVersion"])

    def count() -> None:
        for _, obj in watch:
            if (obj.get("spec") or {}).get("nodeName"):
                bound_at.setdefault(obj["metadata"]["name"], time.perf_counter())
                if len(bound_at) == pods:
                    done.set()
                    return

    watcher = threading.Thread(target=count, daemon=True)
    watcher.start()
    scheduler = ManagedProcess(
        "scheduler",
        [sys.executable, "-m", "kubelab", "scheduler", "--kubeconfig", str(cluster.kubeconfig)],
        cluster.dir.log(f"bench-scheduler-{run}"),
        ready_timeout=120,
    )
    scheduler.start()
    api_pid = cluster.apiserver.pid if cluster.apiserver else None
    cpu_before = cpu_seconds(scheduler.pid), cpu_seconds(api_pid)
    started = time.perf_counter()
    try:
        if not done.wait(timeout=600):
            raise RuntimeError(f"only {len(bound_at)} of {pods} pods were bound within 10 minutes; "
                               f"see {scheduler.log}")
        wall = time.perf_counter() - started
        scheduler_cpu = cpu_seconds(scheduler.pid) - cpu_before[0]
        api_cpu = cpu_seconds(api_pid) - cpu_before[1]
        per_node = Counter(p["spec"]["nodeName"] for p in pod_api.list(namespace)["items"])
        counts = [per_node.get(f"bench-{run}-node-{i:04}", 0) for i in range(nodes)]
        spread = f"{min(counts)}–{max(counts)}"
    finally:
        watch.stop()
        scheduler.stop()
        for name in [n["metadata"]["name"] for n in client.resource("v1", "nodes").list()["items"]]:
            if name.startswith(f"bench-{run}-"):
                client.resource("v1", "nodes").delete(name)
        client.close()
    return {"wall": wall, "bound_at": sorted(t - started for t in bound_at.values()), "spread": spread,
            "scheduler_cpu": scheduler_cpu, "api_cpu": api_cpu}


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab bench scheduler", description=__doc__)
    parser.add_argument("--nodes", default="100,1000", help="comma-separated node counts (default 100,1000)")
    parser.add_argument("--pods", type=int, default=1000, help="pods to schedule per run (default 1000)")
    parser.add_argument("--runs", type=int, default=1, help="runs per node count (default 1)")
    args = parser.parse_args(argv)
    rows = []
    with Cluster() as cluster:
        run_number = 0
        for nodes in (int(n) for n in args.nodes.split(",") if n):
            runs = []
            for _ in range(args.runs):
                runs.append(measure(cluster, nodes, args.pods, run_number))
                run_number += 1
            typical = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
            rate = args.pods / typical["wall"]
            target = TARGETS.get(nodes)
            verdict = "" if target is None else ("ok" if rate >= target else "MISSED")
            rows.append([
                nodes, args.pods, rate, 1000 * percentile(typical["bound_at"], 50),
                1000 * percentile(typical["bound_at"], 99), typical["spread"],
                1000 * typical["scheduler_cpu"] / args.pods, 1000 * typical["api_cpu"] / args.pods,
                f"{os.getloadavg()[0]:.1f}", f"≥ {target:.0f}" if target else "-", verdict,
            ])
    print_table(
        ["nodes", "pods", "pods/s", "half bound (ms)", "99% bound (ms)", "pods per node",
         "scheduler CPU/pod (ms)", "API server CPU/pod (ms)", "load avg", "target", ""],
        rows, "Scheduler throughput (scheduler as its own process, embedded cluster, no kubelets)",
    )
    return 0
