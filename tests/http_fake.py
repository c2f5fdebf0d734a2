"""A scripted HTTP server on 127.0.0.1 that plays the API server for client tests.

Each test installs a handler ``(method, path, query, body) -> Reply``; the server records
every request. A reply with ``stream`` sends chunked newline-delimited JSON, one chunk per
line, and can hold the stream open until an event is set (to test stopping a watch).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import kubernetes.client


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    stream: Iterable[dict[str, Any]] | None = None
    hold: threading.Event | None = None
    content_type: str = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServer:
    handler: Callable[[Request], Reply] = lambda r: Reply(404, {"kind": "Status", "code": 404})
    requests: list[Request] = field(default_factory=list)

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                request = Request(self.command, url.path, dict(parse_qsl(url.query)), {k.lower(): v for k, v in self.headers.items()}, body)
                fake.requests.append(request)
                reply = fake.handler(request)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.stream is None:
                    data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for event in reply.stream:
                        line = json.dumps(event).encode() + b"\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                    if reply.hold is not None:
                        reply.hold.wait(10)
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def api_client(self) -> kubernetes.client.ApiClient:
        configuration = kubernetes.client.Configuration()
        configuration.host = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        configuration.api_key = {"BearerToken": "secret-token"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return kubernetes.client.ApiClient(configuration)
