"""``kubelab bench pods``: pod startup latency, from create to Running and to Ready.

A cluster with one node whose runtime and kubelet run as their own processes (as under
``kubelab up``); N pods bound to the node are created at once and a watch notes when each
turns Running and Ready. Target on a 2-core machine: p99 ≤ 2 s to Ready for 50 pods.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from kubelab.bench import median, percentile, print_table
from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.kubelet import runtime_daemon
from kubelab.process import ManagedProcess

TARGET_P99 = 2.0


def _pod(name: str, image: str, probe: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image, "ports": [{"containerPort": 8080}]}
    if probe:
        container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "pods"}},
            "spec": {"nodeName": "node-1", "containers": [container]}}


def _measure(count: int, image: str, probe: bool, store: str, timeout: float) -> tuple[list[float], list[float]]:
    with Cluster(store=store) as cluster:  # type: ignore[arg-type]
        runtime = ManagedProcess("container-runtime", runtime_daemon.argv(cluster.dir, "node-1"),
                                 cluster.dir.log("container-runtime-node-1"))
        kubelet = ManagedProcess(
            "kubelet",
            [sys.executable, "-m", "kubelab", "kubelet", "--kubeconfig", str(cluster.kubeconfig),
             "--cluster-dir", str(cluster.dir.root), "--node", "node-1"],
            cluster.dir.log("kubelet-node-1"),
        )
        runtime.start()
        kubelet.start()
        try:
            return _run(Client(cluster.api_client()), count, image, probe, timeout)
        finally:
            kubelet.stop()
            runtime.stop()


def _run(client: Client, count: int, image: str, probe: bool, timeout: float) -> tuple[list[float], list[float]]:
    pods = client.resource("v1", "pods")
    created: dict[str, float] = {}
    running: dict[str, float] = {}
    ready: dict[str, float] = {}
    done = threading.Event()
    version = pods.list("default")["metadata"]["resourceVersion"]
    watch = pods.watch("default", resource_version=version, label_selector="bench=pods")

    def observe() -> None:
        for _, pod in watch:
            name, now = pod["metadata"]["name"], time.perf_counter()
            status = pod.get("status") or {}
            if status.get("phase") == "Running":
                running.setdefault(name, now)
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
                ready.setdefault(name, now)
            if len(ready) == count:
                done.set()
                return

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    names = [f"bench-{i:04d}" for i in range(count)]

    def create(batch: list[str]) -> None:
        for name in batch:
            created[name] = time.perf_counter()
            pods.create(_pod(name, image, probe))

    creators = [threading.Thread(target=create, args=(names[i::8],)) for i in range(8)]
    for t in creators:
        t.start()
    for t in creators:
        t.join()
    finished = done.wait(timeout)
    watch.stop()
    if not finished:
        print(f"  only {len(ready)} of {count} pods were Ready within {timeout:.0f} s", file=sys.stderr)
    return ([running[n] - created[n] for n in names if n in running],
            [ready[n] - created[n] for n in names if n in ready])


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab bench pods", description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="50,200", help="how many pods per run, comma-separated (default 50,200)")
    parser.add_argument("--image", default="kubelab/web:v1", help="the pods' image (default kubelab/web:v1)")
    parser.add_argument("--probe", action="store_true", help="give each pod an HTTP readiness probe (1 s period)")
    parser.add_argument("--store", choices=("memory", "etcd"), default="memory", help="the API server's store")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every pod to be Ready")
    args = parser.parse_args(argv)
    rows = []
    ok = True
    for count in (int(c) for c in args.counts.split(",")):
        to_running, to_ready = _measure(count, args.image, args.probe, args.store, args.timeout)
        p99 = percentile(to_ready, 99)
        rows.append([count, len(to_ready), median(to_running), percentile(to_running, 99), median(to_ready), p99])
        if count <= 50 and not p99 <= TARGET_P99:
            ok = False
    print_table(["pods", "ready", "running p50 s", "running p99 s", "ready p50 s", "ready p99 s"], rows,
                title=f"pod startup latency, create → Running / Ready ({args.image}"
                      f"{', readiness probe' if args.probe else ''}; target: p99 ≤ {TARGET_P99:g} s for 50 pods)")
    return 0 if ok else 1
