"""``kubelab bench api``: the API server against its targets, with the official Python client.

Targets on a 2-core machine: ready ≤ 1 s (memory) and ≤ 2 s (etcd); single-object create
p99 ≤ 20 ms; ≥ 500 creates/s with 16 clients on the memory store; watch delivery p99 ≤ 50 ms.

Ready is timed as :meth:`kubelab.cluster.Cluster.start` does it: from starting the processes
to ``/readyz`` answering 200. The clients are the official ``kubernetes`` client, each a
thread with its own connection, and they run in client processes apart from this one:
16 threads in one Python process would measure that process's GIL as much as the server,
and 16 clients of a real server are rarely one program. ``--processes`` (default 4) share
the 16 clients; the single client is one process. Each watch event is a create by a client
process and its delivery to a watch in this process.

Besides latency and throughput the table shows the CPU time each operation costs the API
server process and the client processes, which stays meaningful on a machine busy with
other work, where wall-clock figures do not.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import kubernetes.client
from kubernetes import watch

from kubelab.bench import median, percentile, print_table
from kubelab.cluster import Cluster

STORES = ("memory", "etcd")
CLIENTS = 16


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) process ``pid`` has used; NaN where ``/proc`` is missing."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _object(name: str, **fields: Any) -> Any:
    """An object as a plain dict, which the official client sends as it is."""
    return {"metadata": {"name": name}, **fields}


def _call(api: kubernetes.client.CoreV1Api, op: str, namespace: str, name: str) -> None:
    if op == "create":
        api.create_namespaced_config_map(namespace, _object(name, data={"key": "value"}))
    elif op == "get":
        api.read_namespaced_config_map(name, namespace)
    else:
        api.list_namespaced_config_map(namespace, limit=100)


def _client_process(kubeconfig: str, index: int, conn: Connection) -> None:
    """One client process: runs each task the bench sends until it sends None."""
    while (task := conn.recv()) is not None:
        conn.send(_run_task(kubeconfig, index, conn, *task))


def _run_task(
    kubeconfig: str, index: int, conn: Connection, op: str, namespace: str, threads: int, per_thread: int,
    pause: float,
) -> tuple[list[float], float, dict[str, float]]:
    """Run ``op`` ``per_thread`` times in each of ``threads`` threads once the bench says go.

    Thread ``t`` names its objects ``c<index>-<t>-<i>``. Returns the latencies, this process's
    CPU seconds and, per object, when its request was sent (``time.monotonic``, which other
    processes on the machine share).
    """
    from kubelab.kubeconfig import api_client

    apis = [kubernetes.client.CoreV1Api(api_client(kubeconfig)) for _ in range(threads)]
    for api in apis:  # connect before the clock starts
        api.list_namespaced_config_map(namespace, limit=1)
    latencies: list[list[float]] = [[] for _ in apis]
    sent: dict[str, float] = {}
    start = threading.Barrier(threads + 1)

    def work(t: int) -> None:
        api = apis[t]
        start.wait()
        for i in range(per_thread):
            name = f"c{index}-{t}-{i}"
            t0 = time.monotonic()
            sent[name] = t0
            _call(api, op, namespace, name)
            latencies[t].append(time.monotonic() - t0)
            if pause:
                time.sleep(pause)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    conn.send("ready")
    conn.recv()
    cpu = time.process_time()
    start.wait()
    for w in workers:
        w.join()
    cpu = time.process_time() - cpu
    for api in apis:
        api.api_client.close()
    return [x for xs in latencies for x in xs], cpu, sent


class ClientProcesses:
    """Client processes for one cluster, started once and given one task after another."""

    def __init__(self, cluster: Cluster, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes = []
        for index in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_client_process, args=(str(cluster.kubeconfig), index, theirs), daemon=True
            )
            process.start()
            self.conns.append(ours)
            self.processes.append(process)

    def run(
        self, op: str, namespace: str, processes: int, threads: int, per_thread: int, pause: float = 0.0,
        server_pid: int | None = None,
    ) -> tuple[list[float], float, float, float, dict[str, float]]:
        """Run a task in the first ``processes``; latencies, wall seconds, server and client CPU seconds, send times."""
        conns = self.conns[:processes]
        for conn in conns:
            conn.send((op, namespace, threads, per_thread, pause))
        for conn in conns:
            conn.recv()
        server_cpu = process_cpu(server_pid) if server_pid else float("nan")
        started = time.monotonic()
        for conn in conns:
            conn.send("go")
        results = [conn.recv() for conn in conns]
        wall = time.monotonic() - started
        if server_pid:
            server_cpu = process_cpu(server_pid) - server_cpu
        latencies = [x for r in results for x in r[0]]
        sent = {name: t for r in results for name, t in r[2].items()}
        return latencies, wall, server_cpu, sum(r[1] for r in results), sent

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for process in self.processes:
            process.join(timeout=10)


def _time_ready(store: str, runs: int) -> tuple[list[float], list[float]]:
    """Seconds from start to ready, and the API server's CPU seconds by then, for each run."""
    samples, cpu = [], []
    for _ in range(runs):
        started = time.perf_counter()
        cluster = Cluster(store=store)  # type: ignore[arg-type]
        cluster.start()
        samples.append(time.perf_counter() - started)
        assert cluster.apiserver is not None and cluster.apiserver.pid is not None
        cpu.append(process_cpu(cluster.apiserver.pid))
        cluster.stop()
    return samples, cpu


def _watch_delivery(
    cluster: Cluster, clients: ClientProcesses, namespace: str, count: int, server_pid: int
) -> tuple[list[float], float, float]:
    """Delays from a create's request to its ADDED event on a watch; server and watcher CPU seconds."""
    api = kubernetes.client.CoreV1Api(cluster.api_client())
    listed = api.list_namespaced_config_map(namespace).metadata
    assert listed is not None
    rv = listed.resource_version
    received: dict[str, float] = {}
    streaming = threading.Event()

    def watcher() -> None:
        w = watch.Watch()
        streaming.set()
        for event in w.stream(api.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=120):
            if event["type"] == "ADDED":
                received[event["object"].metadata.name] = time.monotonic()
                if len(received) == count:
                    w.stop()

    thread = threading.Thread(target=watcher)
    cpu = time.process_time()
    thread.start()
    streaming.wait()
    _, _, server_cpu, _, sent = clients.run("create", namespace, 1, 1, count, pause=0.005, server_pid=server_pid)
    thread.join(timeout=120)
    cpu = time.process_time() - cpu
    return [received[name] - sent[name] for name in received if name in sent], server_cpu, cpu


def _row(store: str, operation: str, clients: int, lat: list[float], rate: float, server: float, client: float,
         count: int) -> list[object]:
    n = max(count, 1)
    return [store, operation, clients, 1000 * median(lat), 1000 * percentile(lat, 99), rate,
            1000 * server / n, 1000 * client / n]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab bench api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated: memory,etcd")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement (default 400)")
    parser.add_argument("--processes", type=int, default=4, help=f"client processes sharing the {CLIENTS} clients")
    args = parser.parse_args(argv)
    stores = [s for s in args.stores.split(",") if s]
    n = args.requests
    processes = max(1, min(args.processes, CLIENTS))
    load_before = os.getloadavg()[0]

    ready_rows = []
    for store in stores:
        samples, cpu = _time_ready(store, 5)
        target = 1.0 if store == "memory" else 2.0
        ready_rows.append([store, median(samples), max(samples), median(cpu), f"≤ {target:.0f}",
                           "ok" if median(samples) <= target else "MISSED"])
    print_table(["store", "ready p50 (s)", "max (s)", "server CPU (s)", "target (s)", ""], ready_rows,
                "Time from start to /readyz")
    if sys.flags.dont_write_bytecode:
        print("PYTHONDONTWRITEBYTECODE is set: each API server compiles kubelab's modules as it starts, "
              "which an installed kubelab does not do.")

    rows = []
    for store in stores:
        with Cluster(store=store) as cluster:  # type: ignore[arg-type]
            assert cluster.apiserver is not None and cluster.apiserver.pid is not None
            pid = cluster.apiserver.pid
            core = kubernetes.client.CoreV1Api(cluster.api_client())
            clients = ClientProcesses(cluster, processes)
            try:
                for count in (1, CLIENTS):
                    ns = f"bench-{count}"
                    core.create_namespace(_object(ns))
                    used = 1 if count == 1 else processes
                    threads = count // used
                    per = max(1, n // count)
                    for op, label, each in (("create", "create", per), ("get", "get", per),
                                            ("list", "list 100", max(1, per // 10))):
                        lat, wall, server, client, _ = clients.run(op, ns, used, threads, each, server_pid=pid)
                        rows.append(_row(store, label, count, lat, len(lat) / wall, server, client, len(lat)))
                core.create_namespace(_object("bench-watch"))
                delays, server, watcher = _watch_delivery(cluster, clients, "bench-watch", min(n, 200), pid)
                rows.append(_row(store, "watch delivery", 1, delays, float("nan"), server, watcher, len(delays)))
            finally:
                clients.close()
    print_table(
        ["store", "operation", "clients", "p50 (ms)", "p99 (ms)", "per second", "server CPU (ms/op)",
         "client CPU (ms/op)"], rows,
        "Latency and throughput with the official client "
        "(targets: create p99 ≤ 20 ms; ≥ 500 creates/s with 16 clients, memory; watch p99 ≤ 50 ms)",
    )
    print("CPU per operation: the API server process's, and all client processes' together "
          "(for a watch event: its create, and the watching client).")
    print(f"Load average (1 min) before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}, "
          f"on {os.cpu_count()} CPUs: the wall-clock figures count time the processes waited for a CPU.")
    return 0

