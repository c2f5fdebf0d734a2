"""Backends and addresses for the network components' tests (kube-proxy, DNS, ingress, load balancers).

Until kubelets run real pods in these tests, a "pod" is an HTTP server started here on a pod
address of the cluster's address plan, and an EndpointSlice names it.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubelab import network
from kubelab.network import AddressPlan


@contextmanager
def address_plan() -> Iterator[AddressPlan]:
    """Addresses of a slot held for the test, for tests that start no cluster (and so hold none)."""
    lease = network.acquire_slot(from_top=True)
    try:
        yield AddressPlan(lease.slot)
    finally:
        lease.release()


def pod_ip(addresses: AddressPlan, node: int, host: int) -> str:
    """The ``host``-th address of the pod CIDR of node ``node`` (0-based)."""
    return str(ipaddress.ip_network(addresses.pod_cidr(node)).network_address + host)


class Backend:
    """A pod stand-in: an HTTP server on ``ip:port`` answering JSON about the request and itself."""

    def __init__(self, ip: str, port: int = 8080, name: str = "") -> None:
        self.ip, self.port, self.name = ip, port, name or ip
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = json.dumps({
                    "name": backend.name, "client": self.client_address[0], "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((ip, network.host_port(port)), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def endpoint_slice(
    service: str, endpoints: Iterable[tuple[str, bool]], *, port: int = 8080, port_name: str = "http",
    node: str = "node-1", name: str = "", namespace: str = "default", protocol: str = "TCP",
) -> dict[str, Any]:
    """An EndpointSlice of ``service`` listing ``(ip, ready)`` endpoints on ``node``."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name or f"{service}-test", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": protocol}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}, "nodeName": node} for ip, ready in endpoints],
    }


def get(url: str, *, source: str = "", timeout: float = 5.0, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """GET ``url`` (from the address ``source``, if given) and decode the backend's JSON answer."""
    host, _, rest = url.removeprefix("http://").partition("/")
    address, _, port = host.partition(":")
    with socket.create_connection((address, int(port or 80)), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        lines = [f"GET /{rest} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise urllib.error.HTTPError(url, status, head.decode(errors="replace"), None, None)  # type: ignore[arg-type]
    return json.loads(body)  # type: ignore[no-any-return]


def curl(url: str, *, host: str = "") -> str:
    """The body at ``url`` as a user would fetch it: with the real ``curl`` where there is one, else urllib."""
    if shutil.which("curl"):
        command = ["curl", "--silent", "--show-error", "--fail", "--max-time", "10", url]
        if host:
            command[1:1] = ["--header", f"Host: {host}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
        if result.returncode != 0:
            raise OSError(f"curl {url} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())



def refused(host: str, port: int) -> bool:
    """Whether a connection to ``host:port`` is refused at once."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
