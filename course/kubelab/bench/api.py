"""``kubelab bench api``: the API server against its targets, with the official Python client.

Targets on a 2-core machine: ready ≤ 1 s (memory) and ≤ 2 s (etcd); single-object create
p99 ≤ 20 ms; ≥ 500 creates/s with 16 clients on the memory store; watch delivery p99 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

import kubernetes.client
from kubernetes import watch

from kubelab.bench import median, percentile, print_table
from kubelab.cluster import Cluster

STORES = ("memory", "etcd")


def _time_ready(store: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        cluster = Cluster(store=store)  # type: ignore[arg-type]
        cluster.start()
        samples.append(time.perf_counter() - started)
        cluster.stop()
    return samples


def _configmap(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": {"key": "value"}}


def _run_clients(
    cluster: Cluster, clients: int, per_client: int, op: Callable[[kubernetes.client.CoreV1Api, int, int], None]
) -> tuple[list[float], float]:
    """Run ``op(api, client_index, i)`` per_client times in each of ``clients`` threads; latencies and wall time."""
    apis = [kubernetes.client.CoreV1Api(cluster_client(cluster)) for _ in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def work(index: int) -> None:
        barrier.wait()
        for i in range(per_client):
            t0 = time.perf_counter()
            op(apis[index], index, i)
            latencies[index].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    for api in apis:
        api.api_client.close()
    return [x for xs in latencies for x in xs], wall


def cluster_client(cluster: Cluster) -> kubernetes.client.ApiClient:
    from kubelab.kubeconfig import api_client

    return api_client(cluster.kubeconfig)


def _watch_delivery(cluster: Cluster, namespace: str, count: int) -> list[float]:
    api = kubernetes.client.CoreV1Api(cluster_client(cluster))
    rv = api.list_namespaced_config_map(namespace).metadata.resource_version
    sent: dict[str, float] = {}
    delays: list[float] = []
    ready = threading.Event()

    def watcher() -> None:
        w = watch.Watch()
        ready.set()
        for event in w.stream(api.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=60):
            name = event["object"].metadata.name
            if event["type"] == "ADDED" and name in sent:
                delays.append(time.perf_counter() - sent[name])
                if len(delays) == count:
                    w.stop()

    thread = threading.Thread(target=watcher)
    thread.start()
    ready.wait()
    writer = kubernetes.client.CoreV1Api(cluster_client(cluster))
    for i in range(count):
        name = f"w-{i}"
        sent[name] = time.perf_counter()
        writer.create_namespaced_config_map(namespace, _configmap(name))
        time.sleep(0.005)
    thread.join(timeout=60)
    return delays


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab bench api", description=__doc__)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated: memory,etcd")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement (default 400)")
    args = parser.parse_args(argv)
    stores = [s for s in args.stores.split(",") if s]
    n = args.requests

    ready_rows = []
    for store in stores:
        samples = _time_ready(store, 5)
        target = 1.0 if store == "memory" else 2.0
        ready_rows.append([store, median(samples), max(samples), f"≤ {target:.0f}", "ok" if median(samples) <= target else "MISSED"])
    print_table(["store", "ready p50 (s)", "max (s)", "target (s)", ""], ready_rows, "Time from start to /readyz")

    rows = []
    for store in stores:
        with Cluster(store=store) as cluster:  # type: ignore[arg-type]
            core = kubernetes.client.CoreV1Api(cluster.api_client())
            for clients in (1, 16):
                ns = f"bench-{clients}"
                core.create_namespace({"metadata": {"name": ns}})
                per = max(1, n // clients)
                lat, wall = _run_clients(
                    cluster, clients, per,
                    lambda api, c, i, ns=ns: api.create_namespaced_config_map(ns, _configmap(f"c{c}-{i}")),
                )
                rows.append([store, "create", clients, 1000 * median(lat), 1000 * percentile(lat, 99), len(lat) / wall])
                lat, wall = _run_clients(
                    cluster, clients, per, lambda api, c, i, ns=ns: api.read_namespaced_config_map(f"c{c}-{i}", ns)
                )
                rows.append([store, "get", clients, 1000 * median(lat), 1000 * percentile(lat, 99), len(lat) / wall])
                lat, wall = _run_clients(
                    cluster, clients, max(1, per // 10),
                    lambda api, c, i, ns=ns: api.list_namespaced_config_map(ns, limit=100),
                )
                rows.append([store, "list 100", clients, 1000 * median(lat), 1000 * percentile(lat, 99), len(lat) / wall])
            core.create_namespace({"metadata": {"name": "bench-watch"}})
            delays = _watch_delivery(cluster, "bench-watch", min(n, 200))
            rows.append([store, "watch delivery", 1, 1000 * median(delays), 1000 * percentile(delays, 99), float("nan")])
    print_table(
        ["store", "operation", "clients", "p50 (ms)", "p99 (ms)", "per second"], rows,
        "Latency and throughput with the official client "
        "(targets: create p99 ≤ 20 ms; ≥ 500 creates/s with 16 clients, memory; watch p99 ≤ 50 ms)",
    )
    return 0
