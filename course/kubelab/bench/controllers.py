"""``kubelab bench controllers``: from creating a Deployment of 100 replicas to 100 pods bound.

The whole control plane runs as ``kubelab up`` runs it — the API server, the
controller-manager and the scheduler, each its own process — with nodes registered
through the API but no kubelets (their pods need only be bound). The clock starts just
before the Deployment is created and stops when a watch has seen the last pod bound;
the table also shows when the last pod was *created* (the controllers' share).

Target on a 2-core machine: 100 replicas fully bound in ≤ 3 s.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

from kubelab.bench import median, print_table
from kubelab.bench.scheduler import node
from kubelab.client import Client
from kubelab.cluster import CONTROL_PLANE, Cluster

TARGET_SECONDS = 3.0


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]},
        }},
    }


def one_run(client: Client, name: str, replicas: int) -> tuple[float, float]:
    """Seconds until every pod of a new Deployment exists, and until every one is bound."""
    pods = client.resource("v1", "pods")
    rv = pods.list("default")["metadata"]["resourceVersion"]
    created: set[str] = set()
    bound: set[str] = set()
    done = threading.Event()
    times: dict[str, float] = {}
    watch = pods.watch("default", resource_version=rv, label_selector={"app": name})

    def follow() -> None:
        for kind, pod in watch:
            if kind not in ("ADDED", "MODIFIED"):
                continue
            pod_name = pod["metadata"]["name"]
            created.add(pod_name)
            if len(created) == replicas and "created" not in times:
                times["created"] = time.perf_counter()
            if pod["spec"].get("nodeName"):
                bound.add(pod_name)
                if len(bound) == replicas:
                    times["bound"] = time.perf_counter()
                    done.set()
                    return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    started = time.perf_counter()
    client.resource("apps/v1", "deployments").create(deployment(name, replicas), "default")
    finished = done.wait(120)
    watch.stop()
    thread.join(5)
    if not finished:
        raise RuntimeError(f"only {len(bound)} of {replicas} pods were bound within 120 s")
    return times["created"] - started, times["bound"] - started


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab bench controllers", description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=10, help="nodes registered through the API (default 10)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    with Cluster(components=CONTROL_PLANE) as cluster:
        client = Client(cluster.api_client())
        for i in range(args.nodes):
            client.resource("v1", "nodes").create(node(f"node-{i + 1}"))
        one_run(client, "warm-up", 5)
        samples = [one_run(client, f"web-{r}", args.replicas) for r in range(args.runs)]
        load = os.getloadavg()[0]
    created = [c for c, _ in samples]
    bound = [b for _, b in samples]
    rows.append([args.replicas, args.nodes, median(created), median(bound), max(bound), f"≤ {TARGET_SECONDS:.0f}",
                 "ok" if median(bound) <= TARGET_SECONDS else "MISSED", f"{load:.1f}"])
    print_table(
        ["replicas", "nodes", "all created p50 (s)", "all bound p50 (s)", "max (s)", "target (s)", "", "load avg"],
        rows, f"Deployment of {args.replicas} replicas to {args.replicas} pods bound ({args.runs} runs)",
    )
    return 0
