"""What every image program needs from its container: its address, its files, a small HTTP server.

The runtime tells a container where it is through its environment: ``KUBELAB_POD_IP`` (the
pod's address: listen there, not on 0.0.0.0, which every pod on the host shares),
``KUBELAB_PORT_OFFSET`` (added to ports below 1024 when this user may not bind them) and
``KUBELAB_ROOT`` (the container's root directory: ``/data`` is ``$KUBELAB_ROOT/data``).
"""

import os
import signal
import socket
import socketserver
import sys
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

if os.environ.get("KUBELAB_RESOLVER"):
    # Names resolve through the pod's resolv.conf, i.e. the cluster DNS, as in a real pod.
    import runpy

    runpy.run_path(os.environ["KUBELAB_RESOLVER"])["install_from_environment"]()

REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 400: "Bad Request",
    404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable",
}


def pod_ip() -> str:
    return os.environ.get("KUBELAB_POD_IP", "127.0.0.1")


def host_port(port: int) -> int:
    """The port actually bound for ``port`` (ports below 1024 may be moved by the runtime's offset)."""
    return port + int(os.environ.get("KUBELAB_PORT_OFFSET", "0") or 0) if port < 1024 else port


def path(container_path: str) -> str:
    """The host path of ``container_path`` inside this container's root."""
    root = os.environ.get("KUBELAB_ROOT", "/")
    return os.path.join(root, container_path.lstrip("/"))


def hostname() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname()


def log(message: str, stream=None) -> None:  # type: ignore[no-untyped-def]
    print(message, file=stream or sys.stdout, flush=True)


def stop_on_sigterm(message: str = "") -> None:
    """Exit 0 on SIGTERM (and SIGINT), printing ``message`` first, as a well-behaved server does."""

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        if message:
            log(message)
        sys.exit(0)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Request:
    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], body: bytes,
                 client: tuple[str, int]) -> None:
        self.method = method
        self.target = target
        parts = urlsplit(target)
        self.path = parts.path or "/"
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.version = version
        self.headers = headers
        self.body = body
        self.client = client


class Response:
    def __init__(self, status: int = 200, body: str | bytes = b"", content_type: str = "text/plain; charset=utf-8",
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = {"Content-Type": content_type, **(headers or {})}


Handler = Callable[[Request], Response]


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def serve(port: int, app: Handler, *, server_name: str = "kubelab",
          access_log: Callable[[Request, Response], None] | None = None, announce: str = "") -> None:
    """Serve HTTP/1.1 on the pod's address and ``port`` until the process is stopped."""

    class _Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                request = self._read()
            except (OSError, ValueError):
                return
            if request is None:
                return
            try:
                response = app(request)
            except Exception as e:  # an app bug is a 500, as any server would answer
                response = Response(500, f"internal error: {e}\n")
            head = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}",
                    f"Server: {server_name}",
                    "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
                    f"Content-Length: {len(response.body)}", "Connection: close"]
            head += [f"{k}: {v}" for k, v in response.headers.items()]
            payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            if request.method != "HEAD":
                payload += response.body
            if access_log:  # before the answer goes out: a client that has it may already stop the server
                access_log(request, response)
            try:
                self.wfile.write(payload)
            except OSError:
                return

        def _read(self) -> Request | None:
            line = self.rfile.readline(65537).decode("latin-1").strip()
            if not line:
                return None
            method, target, version = line.split(" ", 2) if line.count(" ") >= 2 else (*line.split(" ", 1), "HTTP/1.0")
            headers: dict[str, str] = {}
            while True:
                header = self.rfile.readline(65537).decode("latin-1")
                if header in ("\r\n", "\n", ""):
                    break
                name, _, value = header.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            body = self.rfile.read(length) if length else b""
            return Request(method, target, version, headers, body, self.client_address)

    address = (pod_ip(), host_port(port))
    try:
        server = _Server(address, _Handler)
    except OSError as e:
        log(f"error: cannot listen on {address[0]}:{address[1]}: {e.strerror}", sys.stderr)
        sys.exit(1)
    if announce:
        log(announce.format(address=f"{address[0]}:{address[1]}"))
    server.serve_forever(poll_interval=0.5)
