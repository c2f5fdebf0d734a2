"""The ingress controller's data plane: an HTTP and HTTPS reverse proxy routed by a :class:`~kubelab.ingress.routing.RoutingTable`.

Like ingress-nginx, it sends each request straight to a ready endpoint of the backend
Service (not through the ClusterIP), trying the next endpoint when one refuses; adds
``X-Forwarded-For``, ``-Host``, ``-Port``, ``-Proto``, ``X-Real-IP`` and ``X-Request-ID``;
terminates TLS with the certificate of the requested host (SNI), or a self-signed "fake"
certificate when none matches; redirects plain HTTP to HTTPS (308) for hosts with a certificate;
and answers 404 when no rule matches, 503 when the backend has no endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import secrets
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubelab import network
from kubelab.ingress.routing import Backend, RoutingTable
from kubelab.proxy.endpoints import Endpoint
from kubelab.proxy.loadbalancer import RoundRobin

log = logging.getLogger(__name__)

SERVER = "kubelab-ingress"
FAKE_CERTIFICATE_NAME = "Kubernetes Ingress Controller Fake Certificate"
CONNECT_ATTEMPTS = 3
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"})


@dataclass
class Upstream:
    """A backend's endpoints, or why there are none (``problem``)."""

    endpoints: list[Endpoint] = field(default_factory=list)
    problem: str = ""


@dataclass
class Configuration:
    """Everything the proxy routes by; replaced as a whole on every sync."""

    table: RoutingTable = field(default_factory=lambda: RoutingTable([]))
    upstreams: Mapping[Backend, Upstream] = field(default_factory=dict)
    certificates: Mapping[tuple[str, str], ssl.SSLContext] = field(default_factory=dict)


def _page(status: int, reason: str) -> str:
    return (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>{SERVER}</center>\r\n</body>\r\n</html>\r\n")


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS server context for a PEM certificate (chain) and key; ssl.SSLError if they are not a pair."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory) / "tls.crt", Path(directory) / "tls.key"
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        key.chmod(0o600)
        context.load_cert_chain(cert, key)
    return context


def fake_certificate() -> tuple[bytes, bytes]:
    """A self-signed certificate and key like ingress-nginx's default one (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Co"),
                      x509.NameAttribute(NameOID.COMMON_NAME, FAKE_CERTIFICATE_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


class IngressProxy:
    """Serves HTTP on ``address:http_port`` and HTTPS on ``address:https_port`` (run on one event loop)."""

    def __init__(self, address: str, http_port: int, https_port: int) -> None:
        self.address = address
        self.http_port = http_port
        self.https_port = https_port
        self.configuration = Configuration()
        self._balancers: dict[Backend, RoundRobin] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._session: aiohttp.ClientSession | None = None
        self._default_context = server_context(*fake_certificate())
        self._default_context.sni_callback = self._choose_certificate

    def configure(self, configuration: Configuration) -> None:
        """Route by ``configuration`` from now on (call on the proxy's event loop)."""
        for backend, upstream in configuration.upstreams.items():
            self._balancers.setdefault(backend, RoundRobin()).update(upstream.endpoints, 0)
        for backend in [b for b in self._balancers if b not in configuration.upstreams]:
            del self._balancers[backend]
        self.configuration = configuration

    async def start(self) -> None:
        """Listen on both ports; OSError if either cannot be bound."""
        loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(auto_decompress=False, connector=aiohttp.TCPConnector(limit=0))
        handler = web.Server(self.handle, access_log=None)
        try:
            self._servers.append(await loop.create_server(handler, self.address, self.http_port, reuse_address=True))
            self._servers.append(await loop.create_server(handler, self.address, self.https_port, reuse_address=True,
                                                          ssl=self._default_context))
        except OSError:
            await self.stop()
            raise

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
        self._servers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _choose_certificate(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        secret = self.configuration.table.tls_secret(server_name or "")
        context = self.configuration.certificates.get(secret) if secret else None
        if context is not None:
            connection.context = context

    # -- requests ---------------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Route one request and relay the backend's answer."""
        secure = request.transport is not None and request.transport.get_extra_info("sslcontext") is not None
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").endswith("]") else request.host
        table = self.configuration.table
        # Only a host whose certificate could be loaded is sent to HTTPS.
        if not secure and table.redirects_to_https(host) and table.tls_secret(host) in self.configuration.certificates:
            location = f"https://{request.host}{request.raw_path}"
            return web.Response(status=308, text=_page(308, "Permanent Redirect"), content_type="text/html",
                                headers={"Location": location, "Server": SERVER})
        route = table.match(host, request.path)
        if route is None or not route.backend.service:
            return self._error(404, "Not Found")
        upstream = self.configuration.upstreams.get(route.backend)
        balancer = self._balancers.get(route.backend)
        if upstream is None or balancer is None or not upstream.endpoints:
            return self._error(503, "Service Temporarily Unavailable")
        return await self._forward(request, balancer, secure)

    async def _forward(self, request: web.BaseRequest, balancer: RoundRobin, secure: bool) -> web.StreamResponse:
        assert self._session is not None
        peer = request.remote or ""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = request.host
        forwarded_for = request.headers.get("X-Forwarded-For")
        headers.update({
            "X-Request-ID": secrets.token_hex(16),
            "X-Real-IP": peer,
            "X-Forwarded-For": f"{forwarded_for}, {peer}" if forwarded_for else peer,
            "X-Forwarded-Host": request.host,
            "X-Forwarded-Port": "443" if secure else "80",
            "X-Forwarded-Proto": "https" if secure else "http",
            "X-Forwarded-Scheme": "https" if secure else "http",
            "X-Scheme": "https" if secure else "http",
        })
        body = await request.read() if request.body_exists else None
        tried: list[Endpoint] = []
        for _ in range(CONNECT_ATTEMPTS):
            endpoint = balancer.next(peer, exclude=tried)
            if endpoint is None:
                break
            url = f"http://{endpoint.ip}:{network.host_port(endpoint.port)}{request.raw_path}"
            try:
                answer = await self._session.request(request.method, url, headers=headers, data=body,
                                                     allow_redirects=False)
            except aiohttp.ClientConnectorError as e:
                log.info("ingress: %s refused %s %s (%s); trying another endpoint", endpoint, request.method,
                         request.path, e)
                tried.append(endpoint)
                continue
            except (TimeoutError, aiohttp.ClientError) as e:
                log.warning("ingress: %s failed for %s %s: %s", endpoint, request.method, request.path, e)
                return self._error(502, "Bad Gateway")
            async with answer:
                response = web.StreamResponse(status=answer.status, reason=answer.reason)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        response.headers.add(name, value)
                if answer.content_length is not None:
                    response.content_length = answer.content_length
                await response.prepare(request)
                # Once the answer has begun, a backend that breaks off can only cut it short.
                with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                    async for chunk in answer.content.iter_chunked(1 << 16):
                        await response.write(chunk)
                    await response.write_eof()
                return response
        return self._error(502, "Bad Gateway")

    def _error(self, status: int, reason: str) -> web.Response:
        return web.Response(status=status, text=_page(status, reason), content_type="text/html",
                            headers={"Server": SERVER})
