"""The CRI over a Unix socket: how the kubelet talks to its node's runtime daemon.

A real kubelet speaks gRPC to ``/run/containerd/containerd.sock``; here each call is one
connection carrying one request and one reply, each a length-prefixed JSON document::

    {"method": "create_container", "params": {"pod_sandbox_id": "...", "config": {...}}}
    {"result": "<container id>"}            or   {"error": {"code": "NotFound", "message": "..."}}

``exec`` hands its stdin/stdout/stderr over as file descriptors (``SCM_RIGHTS``), so the
runtime starts the command on the kubelet's own pipes or terminal and answers with the
exit code when it ends. The connection is private: the socket lives in a directory only
this user can enter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import json
import os
import socket
import socketserver
import struct
import tempfile
import threading
import time
import types
import typing
from pathlib import Path
from typing import Any

from kubelab.kubelet.runtime import (
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerStatus,
    ExecSyncResponse,
    Image,
    PodSandbox,
    PodSandboxConfig,
    PodSandboxFilter,
    PodSandboxStatus,
    Runtime,
    RuntimeServiceError,
    RuntimeStatus,
    VersionResponse,
)

MAX_SOCKET_PATH = 100
_HEADER = struct.Struct(">I")


def socket_path(node_dir: Path) -> Path:
    """Where the runtime of the node in ``node_dir`` listens (a short path: sockets allow ~100 bytes)."""
    path = Path(node_dir) / "containerd.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    private = Path(tempfile.gettempdir()) / f"kubelab-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    return private / (hashlib.sha256(str(Path(node_dir).resolve()).encode()).hexdigest()[:20] + ".sock")


# -- wire form of the CRI dataclasses ---------------------------------------------------------


def to_wire(value: Any) -> Any:
    """A CRI value as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


def from_wire(hint: Any, data: Any) -> Any:
    """Rebuild a value of type ``hint`` from :func:`to_wire`'s output."""
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return from_wire(inner[0], data)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [from_wire(item, v) for v in data]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: from_wire(item, v) for k, v in data.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        return hint(**{f.name: from_wire(hints[f.name], data[f.name]) for f in dataclasses.fields(hint)
                       if f.name in data})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    return data


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _signature(method: str) -> dict[str, Any]:
    return typing.get_type_hints(getattr(Runtime, method))


METHODS = frozenset(
    name for name in dir(Runtime) if not name.startswith("_") and callable(getattr(Runtime, name))
)


# -- framing -----------------------------------------------------------------------------------


def _send(sock: socket.socket, document: dict[str, Any], fds: list[int] | None = None) -> None:
    body = json.dumps(document).encode()
    frame = _HEADER.pack(len(body)) + body
    if fds:
        socket.send_fds(sock, [frame], fds)
    else:
        sock.sendall(frame)


def _receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if max_fds:
        data, fds, _, _ = socket.recv_fds(sock, 65536, max_fds)
    else:
        data = sock.recv(65536)
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack(data[:_HEADER.size])[0]:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("the connection closed in the middle of a message")
        data += more
    (length,) = _HEADER.unpack(data[:_HEADER.size])
    document: dict[str, Any] = json.loads(data[_HEADER.size:_HEADER.size + length])
    return document, fds


# -- server ------------------------------------------------------------------------------------


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 512
    runtime: Runtime


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        fds: list[int] = []
        try:
            request, fds = _receive(self.request, max_fds=3)
            reply = {"result": self._call(request, fds)}
        except RuntimeServiceError as e:
            reply = {"error": {"code": e.code, "message": e.message}}
        except (ConnectionError, ValueError, KeyError, TypeError) as e:
            reply = {"error": {"code": "InvalidArgument", "message": f"bad request: {e}"}}
        finally:
            for fd in fds:
                os.close(fd)
        with contextlib.suppress(OSError):  # the caller went away: nothing to tell
            _send(self.request, reply)

    def _call(self, request: dict[str, Any], fds: list[int]) -> Any:
        method = request["method"]
        if method not in METHODS:
            raise RuntimeServiceError("Unimplemented", f"unknown method {method!r}")
        hints = _signature(method)
        params = {name: from_wire(hints[name], value) for name, value in request.get("params", {}).items()}
        if method == "exec":
            # Each stream that was asked for arrives as the next descriptor, in order.
            passed = iter(fds)
            for stream in ("stdin", "stdout", "stderr"):
                params[stream] = next(passed) if params.get(stream) else None
        result = getattr(self.server.runtime, method)(**params)
        return to_wire(result)


class RuntimeServer:
    """Serves a runtime on a Unix socket until :meth:`stop`."""

    def __init__(self, runtime: Runtime, path: Path) -> None:
        self.runtime = runtime
        self.path = Path(path)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RuntimeServer:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        self._server = _Server(str(self.path), _Handler)
        self._server.runtime = self.runtime
        os.chmod(self.path, 0o600)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="cri-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.path.exists():
            self.path.unlink()


# -- client ------------------------------------------------------------------------------------


class RemoteRuntime:
    """The kubelet's end: a :class:`~kubelab.kubelet.runtime.Runtime` whose every call goes over the socket."""

    def __init__(self, path: Path, connect_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.connect_timeout = connect_timeout

    def _connect(self, sock: socket.socket) -> None:
        # A burst of calls can fill the listen queue for a moment (EAGAIN): wait for room.
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                sock.connect(str(self.path))
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _call(self, method: str, fds: list[int] | None = None, **params: Any) -> Any:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.connect_timeout)
            try:
                self._connect(sock)
            except OSError as e:
                raise RuntimeServiceError(
                    "Unavailable",
                    f'connection error: desc = "transport: Error while dialing: dial unix {self.path}: '
                    f'connect: {(e.strerror or str(e)).lower()}"',
                ) from e
            sock.settimeout(None)
            try:
                _send(sock, {"method": method, "params": {k: to_wire(v) for k, v in params.items()}}, fds)
                reply, _ = _receive(sock)
            except (OSError, ValueError) as e:
                raise RuntimeServiceError("Unavailable", f"error reading from server: {e}") from e
        finally:
            sock.close()
        if "error" in reply:
            raise RuntimeServiceError(reply["error"]["code"], reply["error"]["message"])
        return from_wire(_signature(method).get("return"), reply.get("result"))

    def version(self) -> VersionResponse:
        result: VersionResponse = self._call("version")
        return result

    def status(self) -> RuntimeStatus:
        result: RuntimeStatus = self._call("status")
        return result

    def update_runtime_config(self, pod_cidr: str) -> None:
        self._call("update_runtime_config", pod_cidr=pod_cidr)

    def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        result: str = self._call("run_pod_sandbox", config=config)
        return result

    def stop_pod_sandbox(self, pod_sandbox_id: str) -> None:
        self._call("stop_pod_sandbox", pod_sandbox_id=pod_sandbox_id)

    def remove_pod_sandbox(self, pod_sandbox_id: str) -> None:
        self._call("remove_pod_sandbox", pod_sandbox_id=pod_sandbox_id)

    def pod_sandbox_status(self, pod_sandbox_id: str) -> PodSandboxStatus:
        result: PodSandboxStatus = self._call("pod_sandbox_status", pod_sandbox_id=pod_sandbox_id)
        return result

    def list_pod_sandbox(self, filter: PodSandboxFilter | None = None) -> list[PodSandbox]:
        result: list[PodSandbox] = self._call("list_pod_sandbox", filter=filter)
        return result

    def create_container(
        self, pod_sandbox_id: str, config: ContainerConfig, sandbox_config: PodSandboxConfig
    ) -> str:
        result: str = self._call(
            "create_container", pod_sandbox_id=pod_sandbox_id, config=config, sandbox_config=sandbox_config
        )
        return result

    def start_container(self, container_id: str) -> None:
        self._call("start_container", container_id=container_id)

    def stop_container(self, container_id: str, timeout: float) -> None:
        self._call("stop_container", container_id=container_id, timeout=timeout)

    def remove_container(self, container_id: str) -> None:
        self._call("remove_container", container_id=container_id)

    def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        result: list[Container] = self._call("list_containers", filter=filter)
        return result

    def container_status(self, container_id: str) -> ContainerStatus:
        result: ContainerStatus = self._call("container_status", container_id=container_id)
        return result

    def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecSyncResponse:
        result: ExecSyncResponse = self._call("exec_sync", container_id=container_id, cmd=cmd, timeout=timeout)
        return result

    def exec(
        self, container_id: str, cmd: list[str], *, tty: bool,
        stdin: int | None, stdout: int | None, stderr: int | None,
    ) -> int:
        fds = [fd for fd in (stdin, stdout, stderr) if fd is not None]
        result: int = self._call(
            "exec", fds, container_id=container_id, cmd=cmd, tty=tty,
            stdin=stdin is not None, stdout=stdout is not None, stderr=stderr is not None,
        )
        return result

    def reopen_container_log(self, container_id: str) -> None:
        self._call("reopen_container_log", container_id=container_id)

    def list_images(self) -> list[Image]:
        result: list[Image] = self._call("list_images")
        return result

    def image_status(self, image: str) -> Image | None:
        result: Image | None = self._call("image_status", image=image)
        return result

    def pull_image(self, image: str) -> str:
        result: str = self._call("pull_image", image=image)
        return result

    def remove_image(self, image: str) -> None:
        self._call("remove_image", image=image)
