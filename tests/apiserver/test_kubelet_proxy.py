"""pods/log and pods/exec reach the pod's kubelet: tested against a small fake kubelet."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from kubernetes.stream import stream


class FakeKubelet:
    """An HTTPS server on 127.0.0.1 that answers the kubelet's log and exec paths."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert, self.key = cert, key
        self.seen: list[tuple[str, str, str]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    async def logs(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, request.query_string, request.headers.get("Authorization", "")))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for line in ("first line\n", "second line\n", f"query {request.query_string}\n"):
            await response.write(line.encode())
        await response.write_eof()
        return response

    async def exec(self, request: web.Request) -> web.WebSocketResponse:
        self.seen.append((request.path, request.query_string, request.headers.get("Authorization", "")))
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        command = " ".join(request.query.getall("command", []))
        await ws.send_bytes(b"\x01" + f"ran: {command}\n".encode())
        await ws.send_bytes(b"\x03" + json.dumps({"metadata": {}, "status": "Success"}).encode())
        await ws.close()
        return ws

    def start(self) -> FakeKubelet:
        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        app.router.add_get("/exec/{ns}/{pod}/{container}", self.exec)
        app.router.add_post("/exec/{ns}/{pod}/{container}", self.exec)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)

        async def serve() -> None:
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture(scope="module")
def kubelet(server) -> Iterator[FakeKubelet]:
    d = server.config.cluster_dir
    fake = FakeKubelet(str(d.server_cert), str(d.server_key)).start()
    yield fake
    fake.stop()


@pytest.fixture
def pod_on_node(core, namespace, kubelet):
    node = f"node-{namespace}"
    core.create_node({
        "metadata": {"name": node},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}},
        },
    })
    core.patch_node_status(node, {"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}},
    }})
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "p"},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
    })
    return namespace


def test_logs_are_streamed_from_the_kubelet(core, pod_on_node, kubelet, server):
    text = core.read_namespaced_pod_log("p", pod_on_node, tail_lines=5, timestamps=True)
    assert text.splitlines()[:2] == ["first line", "second line"]
    path, query, auth = kubelet.seen[-1]
    assert path == f"/containerLogs/{pod_on_node}/p/main"
    assert "tailLines=5" in query and "timestamps=true" in query
    assert auth == f"Bearer {server.token}"


def test_exec_is_a_websocket_to_the_kubelet(core, pod_on_node, kubelet):
    out = stream(core.connect_get_namespaced_pod_exec, "p", pod_on_node, command=["echo", "hi"],
                 stdout=True, stderr=True, stdin=False, tty=False)
    assert out == "ran: echo hi\n"
    assert kubelet.seen[-1][0] == f"/exec/{pod_on_node}/p/main"


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_kubectl_logs_and_exec(kubectl_at, pod_on_node, version):
    kubectl = kubectl_at(version)
    assert kubectl("-n", pod_on_node, "logs", "p").stdout.startswith("first line\nsecond line\n")
    assert kubectl("-n", pod_on_node, "exec", "p", "--", "echo", "hi").stdout == "ran: echo hi\n"


def test_kubectl_before_websockets_gets_a_clear_error(kubectl_at, pod_on_node):
    result = kubectl_at("1.27")("-n", pod_on_node, "exec", "p", "--", "true", check=False)
    assert result.returncode != 0
    assert "SPDY is not supported" in result.stderr


def test_wrong_container_and_unscheduled_pods_are_400(raw, core, pod_on_node):
    reply = raw("GET", f"/api/v1/namespaces/{pod_on_node}/pods/p/log?container=nope")
    assert reply.status == 400
    assert reply.json()["message"] == "container nope is not valid for pod p"
    core.create_namespaced_pod(pod_on_node, {"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    reply = raw("GET", f"/api/v1/namespaces/{pod_on_node}/pods/q/log")
    assert (reply.status, reply.json()["message"]) == (400, "pod q does not have a host assigned")


def test_a_node_without_a_kubelet_endpoint_is_a_clear_error(raw, core, namespace):
    core.create_node({"metadata": {"name": f"bare-{namespace}"}})
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "r"}, "spec": {"nodeName": f"bare-{namespace}", "containers": [{"name": "c", "image": "x"}]},
    })
    reply = raw("GET", f"/api/v1/namespaces/{namespace}/pods/r/log")
    assert reply.status == 503
    assert "has no kubelet endpoint" in reply.json()["message"]
