"""The pod subresources served by the node's kubelet: ``log``, ``exec``, ``attach``, ``portforward``.

Mirrors ``pkg/registry/core/pod/rest/log.go`` and ``subresources.go``: the API server finds
the pod's node, the node's kubelet (its InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port``)
and forwards the request there — ``/containerLogs/{namespace}/{pod}/{container}`` streamed
back as text, ``/exec``, ``/attach`` and ``/portforward`` as a websocket whose frames are
passed through both ways (channel protocols ``v5.channel.k8s.io``, ``v4.channel.k8s.io``,
``portforward.k8s.io``). Like kube-apiserver without ``--kubelet-certificate-authority``, it
does not check the kubelet's certificate; it authenticates with the cluster's token.
SPDY, which kubectl before 1.30 uses for exec, is not spoken: the answer says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from kubelab.apiserver import errors

if TYPE_CHECKING:
    from kubelab.apiserver.handlers import Request

Obj = dict[str, Any]
LOG_PARAMS = ("follow", "previous", "tailLines", "timestamps", "sinceSeconds", "sinceTime", "limitBytes")
STREAM_PARAMS = ("command", "stdin", "stdout", "stderr", "tty")
PORTFORWARD_PARAMS = ("port", "ports")  # kubectl repeats port=; the Python client sends ports=80,443


class KubeletProxy:
    """Forwards pod subresource requests to kubelets."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._session: aiohttp.ClientSession | None = None
        # Not create_default_context(): it loads the system's CAs, which a context that
        # verifies nothing never reads, and that costs the server's start 25 ms.
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def serve(self, req: Request, pod: Obj, node: Obj | None) -> web.StreamResponse:
        """Answer ``req`` (a log, exec, attach or portforward request) for ``pod`` on ``node``."""
        sub = req.ri.subresource
        if sub in ("exec", "attach") and req.http.method not in ("GET", "POST"):
            raise errors.method_not_supported(req.gr, req.ri.verb)
        if sub == "log" and req.http.method != "GET":
            raise errors.method_not_supported(req.gr, req.ri.verb)
        base = _kubelet_base(pod, node)
        namespace, name = req.namespace, req.name
        if sub == "portforward":
            path = f"/portforward/{namespace}/{name}"
            params = _params(req, PORTFORWARD_PARAMS)
        else:
            container = _container(pod, req.query.get("container", ""))
            kubelet_sub = "containerLogs" if sub == "log" else sub
            path = f"/{kubelet_sub}/{namespace}/{name}/{container}"
            params = _params(req, LOG_PARAMS if sub == "log" else STREAM_PARAMS)
        if sub == "log":
            return await self._stream_logs(req, base + path, params)
        return await self._websocket(req, base + path, params)

    async def _stream_logs(self, req: Request, url: str, params: list[tuple[str, str]]) -> web.StreamResponse:
        try:
            upstream = await self.session().get(url, params=params, ssl=self._ssl, timeout=aiohttp.ClientTimeout(sock_connect=5))
        except (aiohttp.ClientError, OSError) as e:
            raise errors.internal_error(f"unable to reach the kubelet at {url}: {e}") from e
        async with upstream:
            if upstream.status >= 300:
                raise _kubelet_error(upstream.status, (await upstream.read()).decode(errors="replace"))
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(req.http)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except (ConnectionResetError, aiohttp.ClientError):
                pass
            return response

    async def _websocket(self, req: Request, url: str, params: list[tuple[str, str]]) -> web.StreamResponse:
        if req.http.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.bad_request(
                "this API server streams exec, attach and port-forward over websockets only "
                "(kubectl 1.30 or newer, or the Python client); SPDY is not supported"
            )
        protocols = [p.strip() for p in req.http.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        ws_url = "wss" + url[len("https"):]
        try:
            upstream = await self.session().ws_connect(
                ws_url, params=params, protocols=protocols, ssl=self._ssl, max_msg_size=0,
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
            )
        except aiohttp.WSServerHandshakeError as e:
            raise errors.StatusError(e.status, "InternalError", f"the kubelet refused the stream: {e.message}") from e
        except (aiohttp.ClientError, OSError) as e:
            raise errors.internal_error(f"unable to reach the kubelet at {url}: {e}") from e
        client = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (), max_msg_size=0)
        await client.prepare(req.http)
        await _pipe(client, upstream)
        return client


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}


def _kubelet_error(code: int, text: str) -> errors.StatusError:
    """The kubelet's refusal as the Status a client expects (``Error from server (BadRequest): ...``)."""
    try:
        status = json.loads(text)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return errors.StatusError(int(status.get("code") or code), str(status.get("reason") or ""),
                                  str(status.get("message") or ""), status.get("details"))
    return errors.StatusError(code, _REASONS.get(code, "InternalError"), text.strip())


async def _pipe(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Copy frames both ways until either side closes, then close the other."""

    async def forward(source: Any, sink: Any) -> None:
        async for message in source:
            if message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                break

    tasks = [asyncio.create_task(forward(client, upstream)), asyncio.create_task(forward(upstream, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionResetError, aiohttp.ClientError):
                await task
        await upstream.close()
        await client.close()


def _params(req: Request, names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in req.query.items() if k in names]


def _container(pod: Obj, wanted: str) -> str:
    """The container a request means: the one named, or the pod's only one (``validateContainer``)."""
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in (spec.get("containers") or [])]
    others = [c.get("name", "") for c in (spec.get("initContainers") or []) + (spec.get("ephemeralContainers") or [])]
    pod_name = (pod.get("metadata") or {}).get("name", "")
    if not wanted:
        if len(names) == 1:
            return names[0]
        choices = " ".join(names)
        message = f"a container name must be specified for pod {pod_name}, choose one of: [{choices}]"
        if others:
            message += f" or one of the init containers: [{' '.join(others)}]"
        raise errors.bad_request(message)
    if wanted not in names + others:
        raise errors.bad_request(f"container {wanted} is not valid for pod {pod_name}")
    return wanted


def _kubelet_base(pod: Obj, node: Obj | None) -> str:
    """``https://<InternalIP>:<kubelet port>`` of the pod's node; a clear error when there is none."""
    pod_name = (pod.get("metadata") or {}).get("name", "")
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if not node_name:
        raise errors.bad_request(f"pod {pod_name} does not have a host assigned")
    if node is None:
        raise errors.not_found(errors.GroupResource("", "nodes"), node_name)
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or [] if isinstance(a, dict)}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    if not port or not host:
        raise errors.service_unavailable(
            f"node {node_name} has no kubelet endpoint (status.daemonEndpoints.kubeletEndpoint.Port "
            "and an InternalIP address): is its kubelet running?"
        )
    return f"https://{host}:{port}"
