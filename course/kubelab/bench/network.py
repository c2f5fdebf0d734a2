"""``kubelab bench network``: requests per second through kube-proxy, against straight to the pods.

A cluster (memory store) with kube-proxy for one node running as its own process, as under
``kubelab up``; backends are processes serving HTTP on pod addresses (the first node's), one
request per connection as the built-in web image does, named by a Service's EndpointSlice.
``--clients`` concurrent clients open a new connection per request (as ``curl`` does) for
``--seconds``: straight to the pods (taking turns), then to the ClusterIP, then the NodePort.
Target on a 2-core machine: through the ClusterIP ≥ 50 % of the direct rate.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import time
from typing import Any

from kubelab import network
from kubelab.bench import median, percentile, print_table
from kubelab.client import Client
from kubelab.cluster import Cluster
from kubelab.process import ManagedProcess

TARGET_RATIO = 0.5
NODE = "node-1"

BACKEND = r"""
import socket, socketserver, sys
from kubelab.process import report_ready, watch_parent
watch_parent()
name = sys.argv[3]
body = ("hello from " + name + "\n").encode()
reply = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: "
         + str(len(body)).encode() + b"\r\n\r\n" + body)
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
        self.wfile.write(reply)
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256
server = Server((sys.argv[1], int(sys.argv[2])), Handler)
report_ready(component=name)
server.serve_forever(poll_interval=0.5)
"""


async def _load(targets: list[tuple[str, int]], clients: int, seconds: float) -> tuple[int, list[float], int]:
    """Requests done, their latencies, and failures, with ``clients`` connections at a time."""
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    request = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: kubelab-bench\r\nConnection: close\r\n\r\n"

    async def client(index: int) -> None:
        nonlocal failures
        turn = index
        while time.perf_counter() < deadline:
            host, port = targets[turn % len(targets)]
            turn += 1
            started = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                data = await reader.read()
                writer.close()
                if not data.startswith(b"HTTP/1.1 200"):
                    raise OSError("unexpected answer")
            except OSError:
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return len(latencies), latencies, failures


def _wait_reachable(host: str, port: int, timeout: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _measure(backends: int, clients: int, seconds: float) -> list[list[Any]]:
    rows: list[list[Any]] = []
    with Cluster() as cluster:
        client = Client(cluster.api_client())
        addresses = cluster.addresses
        first_pod = ipaddress.ip_network(addresses.pod_cidr(0)).network_address + 2
        pods = [(str(first_pod + i), 8080) for i in range(backends)]
        processes = [
            ManagedProcess(f"backend-{i}", [sys.executable, "-c", BACKEND, ip, str(port), f"web-{i}"],
                           cluster.dir.log(f"bench-backend-{i}"))
            for i, (ip, port) in enumerate(pods)
        ]
        node_ip = addresses.node_ip(0)
        proxy = ManagedProcess(
            "kube-proxy",
            [sys.executable, "-m", "kubelab", "kube-proxy", "--kubeconfig", str(cluster.kubeconfig), "--node", NODE,
             "--node-ip", node_ip, "--address-slot", str(addresses.slot), "--metrics-port", "0"],
            cluster.dir.log("kube-proxy"),
        )
        try:
            for process in processes:
                process.start()
            service = client.resource("v1", "services").create({
                "metadata": {"name": "bench"},
                "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            })
            client.resource("discovery.k8s.io/v1", "endpointslices").create({
                "metadata": {"name": "bench-1", "labels": {"kubernetes.io/service-name": "bench"}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": NODE} for ip, _ in pods],
            })
            proxy.start()
            cluster_ip = (service["spec"]["clusterIP"], network.host_port(80))
            node_port = (node_ip, service["spec"]["ports"][0]["nodePort"])
            _wait_reachable(*cluster_ip)
            _wait_reachable(*node_port)
            for label, targets in (("direct to pods", pods), ("ClusterIP", [cluster_ip]), ("NodePort", [node_port])):
                done, latencies, failures = asyncio.run(_load(targets, clients, seconds))
                rows.append([label, done / seconds, median(latencies) * 1000, percentile(latencies, 99) * 1000,
                             failures])
        finally:
            proxy.stop()
            for process in processes:
                process.stop()
    return rows


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubelab bench network", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=3, help="backend pods behind the Service (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = _measure(args.backends, args.clients, args.seconds)
    direct = rows[0][1]
    for row in rows:
        row.insert(2, f"{100 * row[1] / direct:.0f} %" if direct else "-")
    print_table(["path", "requests/s", "of direct", "p50 ms", "p99 ms", "failed"], rows,
                title=f"HTTP through kube-proxy: {args.backends} backends, {args.clients} clients, "
                      f"a new connection per request, {args.seconds:.0f} s each")
    ratio = rows[1][1] / direct if direct else 0.0
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"\ntarget: ClusterIP ≥ {TARGET_RATIO:.0%} of direct — {verdict} ({ratio:.0%})")
    return 0 if ratio >= TARGET_RATIO else 1
