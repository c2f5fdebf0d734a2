"""The kubelet's HTTPS API: logs, exec and port-forward (``pkg/kubelet/server``).

The API server proxies ``pods/log``, ``pods/exec`` and ``pods/portforward`` here, to the
node's InternalIP at ``status.daemonEndpoints.kubeletEndpoint.Port``:

- ``GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&tailLines&timestamps&sinceSeconds&sinceTime&limitBytes``
- ``GET /exec/{namespace}/{pod}/{container}?command=...&stdin&stdout&stderr&tty``, upgraded to a
  WebSocket speaking ``v5.channel.k8s.io`` or ``v4.channel.k8s.io``: one byte of channel
  (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, 255 close) then the data; the command's
  end is a Status on channel 3 (``NonZeroExitCode`` with the exit code as its cause).
- ``GET /portforward/{namespace}/{pod}?ports=8080``, a WebSocket with two channels per port
  (data ``2i``, errors ``2i+1``), each opened by a frame holding the port number.
- ``GET /pods``: the pods bound to this node; ``GET /healthz``.

Every request but ``/healthz`` must carry the cluster's bearer token; the certificate is
signed by the cluster's CA for the node's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hmac
import json
import logging
import os
import ssl
import struct
import termios
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from kubelab.kubelet import logs
from kubelab.kubelet.certificates import serving_certificate
from kubelab.kubelet.runtime import ContainerState, RuntimeServiceError
from kubelab.network import host_port
from kubelab.runtime import deep_copy

if TYPE_CHECKING:
    from kubelab.kubelet.kubelet import Kubelet

log = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
RUNTIME_SCHEME = "kubelab://"


class BadRequest(Exception):
    """A request the kubelet cannot serve; the message is upstream's."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _exit_status(code: int, command: list[str]) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {_go_list(command)}, "
                   f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


class KubeletServer:
    """The HTTPS server of one kubelet, on its node's address, in a thread of its own."""

    def __init__(self, kubelet: Kubelet, *, host: str, port: int) -> None:
        self.kubelet = kubelet
        self.host = host
        self.port = port
        self.token = kubelet.cluster_dir.token.read_text().strip()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        cert, key = serving_certificate(self.kubelet.cluster_dir, self.kubelet.node_name, self.host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._serve(context))
            except BaseException as e:
                failure.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"kubelet {self.kubelet.node_name} server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise RuntimeError(f"the kubelet's server could not start on {self.host}: {failure[0]}") from failure[0]

    async def _serve(self, context: ssl.SSLContext) -> None:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/pods", self._pods)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_route("*", "/portforward/{namespace}/{pod}", self._portforward)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self.host, self.port, ssl_context=context)
            await site.start()
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            # Another cluster on this machine holds the port on this address: take any free one.
            site = web.TCPSite(self._runner, self.host, 0, ssl_context=context)
            await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # -- requests ----------------------------------------------------------------------------------

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/healthz":
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.token):
                return web.Response(status=401, text="Unauthorized")
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except BadRequest as e:
            return web.Response(status=e.status, text=str(e))

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _pods(self, request: web.Request) -> web.Response:
        items = [deep_copy(p) for p in self.kubelet.pods.cache.list()]
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    def _pod(self, namespace: str, name: str) -> Any:
        pod = self.kubelet.pods.cache.get(name, namespace)
        if pod is None:
            raise BadRequest(f'pod "{name}" not found', 404)
        return pod

    def _container_status(self, pod: Any, container: str) -> dict[str, Any]:
        spec = pod.get("spec") or {}
        names = [c["name"] for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or [])]
        if container not in names:
            raise BadRequest(f"container {container} is not valid for pod {pod['metadata']['name']}")
        status = self.kubelet.status_manager.last(pod["metadata"]["uid"]) or dict(pod.get("status") or {})
        for cs in list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or []):
            if cs.get("name") == container:
                return dict(cs)
        raise BadRequest(f'container "{container}" in pod "{pod["metadata"]["name"]}" is waiting to start: '
                         "ContainerCreating")

    def _log_container_id(self, pod: Any, container: str, previous: bool) -> str:
        """Which container's log to read (``validateContainerLogStatus``)."""
        name = pod["metadata"]["name"]
        cs = self._container_status(pod, container)
        state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated") or {}
        if previous:
            if not last.get("containerID"):
                raise BadRequest(f'previous terminated container "{container}" in pod "{name}" not found')
            return str(last["containerID"])
        if "running" in state:
            return str(cs.get("containerID") or "")
        if "terminated" in state:
            cid = state["terminated"].get("containerID") or last.get("containerID")
            if not cid:
                raise BadRequest(f'container "{container}" in pod "{name}" is terminated')
            return str(cid)
        if last:
            return str(last.get("containerID") or "")
        reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
        detail = {"ErrImagePull": "image can't be pulled",
                  "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise BadRequest(f'container "{container}" in pod "{name}" is waiting to start: {detail}')

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        pod = self._pod(info["namespace"], info["pod"])
        container_id = self._log_container_id(pod, info["container"], _flag(request, "previous"))
        runtime = self.kubelet.runtime
        try:
            status = await asyncio.to_thread(runtime.container_status, container_id.removeprefix(RUNTIME_SCHEME))
        except RuntimeServiceError as e:
            raise BadRequest(f"failed to get container status {json.dumps(container_id)}: {e}", 500) from e
        options = self._log_options(request)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        if not _flag(request, "follow"):
            await response.write(await asyncio.to_thread(logs.read_logs, status.log_path, options))
            await response.write_eof()
            return response

        def running() -> bool:
            try:
                return runtime.container_status(status.id).state == ContainerState.RUNNING
            except RuntimeServiceError:
                return False

        async for chunk in _iterate_in_thread(logs.follow_logs(status.log_path, options, running)):
            await response.write(chunk)
        await response.write_eof()
        return response

    @staticmethod
    def _log_options(request: web.Request) -> logs.LogOptions:
        options = logs.LogOptions(timestamps=_flag(request, "timestamps"))
        try:
            if request.query.get("tailLines"):
                options.tail = int(request.query["tailLines"])
            if request.query.get("limitBytes"):
                options.limit_bytes = int(request.query["limitBytes"])
            if request.query.get("sinceSeconds"):
                options.since_ns = time.time_ns() - int(request.query["sinceSeconds"]) * 1_000_000_000
            elif request.query.get("sinceTime"):
                options.since_ns = logs.parse_timestamp(request.query["sinceTime"])
        except ValueError as e:
            raise BadRequest(f"invalid log options: {e}") from e
        return options

    # -- exec ------------------------------------------------------------------------------------------

    def _running_container(self, pod: Any, container: str) -> str:
        cs = self._container_status(pod, container)
        if "running" not in (cs.get("state") or {}) or not cs.get("containerID"):
            raise BadRequest(f'container not found ("{container}")', 404)
        return str(cs["containerID"]).removeprefix(RUNTIME_SCHEME)

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        pod = self._pod(info["namespace"], info["pod"])
        container_id = self._running_container(pod, info["container"])
        command = request.query.getall("command", [])
        if not command:
            raise BadRequest("you must specify at least 1 command")
        tty, want_stdin = _flag(request, "tty"), _flag(request, "stdin")
        want_stdout, want_stderr = _flag(request, "stdout"), _flag(request, "stderr") and not tty
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        if ws.ws_protocol not in PROTOCOLS:
            await ws.close(message=b"unsupported protocol: use v5.channel.k8s.io or v4.channel.k8s.io")
            return ws
        session = _ExecSession(ws, tty=tty, stdin=want_stdin, stdout=want_stdout, stderr=want_stderr)
        loop = asyncio.get_running_loop()
        fds = session.child_fds()
        try:
            run = loop.run_in_executor(None, lambda: self.kubelet.runtime.exec(
                container_id, command, tty=tty, stdin=fds[0], stdout=fds[1], stderr=fds[2]))
            pumps = session.start(loop)
            try:
                code = await run
            except RuntimeServiceError as e:
                await ws.send_bytes(bytes([ERROR]) + json.dumps({
                    "metadata": {}, "status": "Failure", "message": e.message, "reason": "InternalError",
                    "code": 500}).encode())
                return ws
            finally:
                session.close_child_fds()
            await session.drain(pumps)
            await ws.send_bytes(bytes([ERROR]) + json.dumps(_exit_status(code, command)).encode())
        finally:
            session.close()
            await ws.close()
        return ws

    # -- port-forward ------------------------------------------------------------------------------------

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        pod = self._pod(info["namespace"], info["pod"])
        ip = (self.kubelet.status_manager.last(pod["metadata"]["uid"]) or pod.get("status") or {}).get("podIP")
        if not ip:
            raise BadRequest(f'pod "{info["pod"]}" has no IP address yet', 400)
        # ``ports=80,443`` (the Python client), or ``port`` repeated, as PodPortForwardOptions allows.
        values = request.query.getall("ports", []) + request.query.getall("port", [])
        try:
            ports = [int(p) for value in values for p in value.split(",") if p]
        except ValueError as e:
            raise BadRequest(f"invalid port: {e}") from e
        if not ports:
            raise BadRequest("query parameter \"port\" is required")
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io", "portforward.k8s.io"), max_msg_size=0)
        await ws.prepare(request)
        writers: dict[int, asyncio.StreamWriter] = {}
        tasks = []
        for index, port in enumerate(ports):
            data, error = 2 * index, 2 * index + 1
            await ws.send_bytes(bytes([data]) + struct.pack("<H", port))
            await ws.send_bytes(bytes([error]) + struct.pack("<H", port))
            try:
                reader, writer = await asyncio.open_connection(ip, host_port(port))
            except OSError as e:
                await ws.send_bytes(bytes([error]) + (
                    f"error forwarding port {port} to pod {pod['metadata']['uid']}, uid : failed to connect to "
                    f"{ip}:{port}: {e.strerror or e}").encode())
                continue
            writers[data] = writer
            tasks.append(asyncio.create_task(_relay_to_ws(reader, ws, data)))
        if tasks:
            # One connection per port over a websocket: once the pod has closed them all, so does the stream.
            tasks.append(asyncio.create_task(_close_after(list(tasks), ws)))
        async for message in ws:
            if message.type != WSMsgType.BINARY or not message.data:
                continue
            channel, payload = message.data[0], message.data[1:]
            target = writers.get(channel)
            if target is not None and payload:
                target.write(payload)
                await target.drain()
        for writer in writers.values():
            writer.close()
        for task in tasks:
            task.cancel()
        return ws


async def _relay_to_ws(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
    while data := await reader.read(65536):
        await ws.send_bytes(bytes([channel]) + data)


async def _close_after(relays: list[asyncio.Task[None]], ws: web.WebSocketResponse) -> None:
    await asyncio.gather(*relays, return_exceptions=True)
    await ws.close()


async def _iterate_in_thread(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Iterate a blocking iterator from async code, one item per worker-thread call."""
    while True:
        item = await asyncio.to_thread(next, iterator, None)
        if item is None:
            return
        yield item


class _ExecSession:
    """The descriptors of one exec (pipes, or a terminal) and the pumping between them and the WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, *, tty: bool, stdin: bool, stdout: bool, stderr: bool) -> None:
        self.ws = ws
        self.tty = tty
        self.v5 = ws.ws_protocol == PROTOCOLS[0]
        self._child: list[int | None] = [None, None, None]
        self._ours: dict[str, int] = {}
        if tty:
            master, slave = os.openpty()
            self._ours["tty"] = master
            self._child = [slave, slave, slave]
        else:
            if stdin:
                r, w = os.pipe()
                self._child[0], self._ours["stdin"] = r, w
            if stdout:
                r, w = os.pipe()
                self._ours["stdout"], self._child[1] = r, w
            if stderr:
                r, w = os.pipe()
                self._ours["stderr"], self._child[2] = r, w

    def child_fds(self) -> tuple[int | None, int | None, int | None]:
        return self._child[0], self._child[1], self._child[2]

    def close_child_fds(self) -> None:
        for fd in {fd for fd in self._child if fd is not None}:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._child = [None, None, None]

    def start(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        outputs = [("tty", STDOUT)] if self.tty else [("stdout", STDOUT), ("stderr", STDERR)]
        pumps = [asyncio.create_task(self._pump_out(loop, self._ours[name], channel))
                 for name, channel in outputs if name in self._ours]
        self._input = asyncio.ensure_future(self._pump_in())
        return pumps

    async def _pump_out(self, loop: asyncio.AbstractEventLoop, fd: int, channel: int) -> None:
        while True:
            try:
                data = await loop.run_in_executor(None, os.read, fd, 65536)
            except OSError:
                return  # a terminal's master reads EIO once the other side is gone
            if not data:
                return
            await self.ws.send_bytes(bytes([channel]) + data)

    async def _pump_in(self) -> None:
        async for message in self.ws:
            if message.type == WSMsgType.BINARY:
                data = bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                data = message.data.encode()
            else:
                break
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and payload:
                fd = self._ours.get("tty", self._ours.get("stdin"))
                if fd is not None:
                    await asyncio.to_thread(_write_all, fd, payload)
            elif channel == RESIZE and self.tty:
                with contextlib.suppress(ValueError, OSError):
                    size = json.loads(payload)
                    fcntl.ioctl(self._ours["tty"], termios.TIOCSWINSZ,
                                struct.pack("HHHH", int(size.get("Height", 24)), int(size.get("Width", 80)), 0, 0))
            elif channel == CLOSE and self.v5 and payload[:1] == bytes([STDIN]):
                fd = self._ours.pop("stdin", None)
                if fd is not None:
                    os.close(fd)
                elif self.tty:
                    # End of input on a terminal is the EOF character.
                    with contextlib.suppress(OSError):
                        os.write(self._ours["tty"], b"\x04")

    async def drain(self, pumps: list[asyncio.Task[None]]) -> None:
        if self.tty:
            # The terminal stays open on our side: give the last output a moment, then stop reading.
            await asyncio.sleep(0.05)
            fd = self._ours.pop("tty")
            os.close(fd)
        if pumps:
            await asyncio.wait(pumps, timeout=5)
        self._input.cancel()

    def close(self) -> None:
        self.close_child_fds()
        for fd in self._ours.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._ours.clear()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]
