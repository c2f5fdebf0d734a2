"""The data plane: listen on every Service address and relay each connection to an endpoint.

Where iptables would rewrite packets, this proxier accepts the connection (TCP) or the
datagrams (UDP) on the Service's address and opens its own to the chosen endpoint. It keeps
what a client of iptables would notice:

- a Service port with no usable endpoint is not listened on, so a client is refused at
  once, as upstream's ``REJECT`` does (``Local`` policies without a local endpoint are
  refused too, where upstream drops);
- only ready endpoints get traffic (:func:`~kubelab.proxy.endpoints.categorize`), in turn
  (:class:`~kubelab.proxy.loadbalancer.RoundRobin`), with ``sessionAffinity: ClientIP``;
- the endpoint sees the address upstream's NAT would leave it: the client's own for pod
  traffic and for ``externalTrafficPolicy: Local``, this node's (masquerade) otherwise.
  On loopback every 127.x address is ours to bind, so this is done by choosing the source
  address of the outgoing connection.

Every address is bound without ``SO_REUSEPORT``: when two kube-proxies on this host want the
same ClusterIP (two nodes of one cluster), the first serves it and the other retries every
:attr:`Proxier.retry_interval` seconds, so it takes over if the first stops. ``Local``
traffic policies therefore mean the endpoints of the node whose kube-proxy accepted the
connection (NodePorts, which are per node, behave exactly as upstream's).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, cast

from kubelab import network
from kubelab.proxy.endpoints import Endpoint, EndpointsMap, categorize
from kubelab.proxy.loadbalancer import RoundRobin
from kubelab.proxy.serviceport import ServicePort, ServicePortName
from kubelab.runtime.clock import REAL_CLOCK, Clock

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 3
"""Endpoints tried for one connection before giving up (a refused endpoint is skipped)."""

UDP_IDLE_TIMEOUT = 30.0
"""Seconds a UDP client's flow lives without traffic (conntrack's ``nf_conntrack_udp_timeout``)."""


@dataclass(frozen=True, order=True)
class Frontend:
    """An address kube-proxy listens on: IP, the port actually bound, and protocol."""

    ip: str
    port: int
    protocol: str

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Route:
    """What arrives at a frontend: which Service port, whether from outside, and the balancers to use."""

    service: ServicePort
    external: bool
    load_balancer: bool
    cluster: RoundRobin | None
    local: RoundRobin | None


@dataclass(frozen=True)
class Choice:
    """Where one connection goes, and the source address it arrives from."""

    endpoint: Endpoint
    source: str


def choose(
    route: Route, client_ip: str, *, node_ip: str, addresses: network.AddressPlan | None = None,
    exclude: Iterable[Endpoint] = (),
) -> Choice | None:
    """Pick the endpoint for a connection from ``client_ip``, and its source address (None: refuse).

    The same decisions as the iptables rules (:mod:`kubelab.proxy.iptables`): pod traffic
    keeps its address; ClusterIP traffic from outside the pod network, and external
    traffic under ``Cluster`` policy, is masqueraded to ``node_ip``; under
    ``externalTrafficPolicy: Local``, pods and nodes are sent anywhere (short-circuit)
    while other clients (the host's 127.0.0.1: "outside the cluster") reach only this
    node's endpoints and keep their address.
    """
    port = route.service
    pod_network, node_network = _networks(addresses or network.AddressPlan())
    from_pod = _within(client_ip, pod_network)
    masquerade = not from_pod
    balancer = route.local if port.internal_policy_local else route.cluster
    if route.external:
        if route.load_balancer and port.load_balancer_source_ranges and not any(
            _within(client_ip, cidr) for cidr in port.load_balancer_source_ranges
        ):
            return None
        if not port.external_local:
            balancer, masquerade = route.cluster, True
        elif from_pod:
            balancer = route.cluster
        elif _within(client_ip, node_network):
            balancer, masquerade = route.cluster, True
        else:
            balancer, masquerade = route.local, False
    if balancer is None:
        return None
    endpoint = balancer.next(client_ip, exclude=tuple(exclude))
    if endpoint is None:
        return None
    # A pod that reaches itself through its Service is masqueraded (upstream's hairpin rule).
    if endpoint.ip == client_ip:
        masquerade = True
    return Choice(endpoint, node_ip if masquerade and node_ip else client_ip)


@functools.lru_cache(maxsize=64)
def _networks(addresses: network.AddressPlan) -> tuple[str, str]:
    """The pod and node networks of a plan, as strings (cached: asked for every connection)."""
    return str(addresses.pod_network), str(addresses.node_network)


@functools.lru_cache(maxsize=64)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _within(ip: str, cidr: str) -> bool:
    """Whether ``ip`` is in ``cidr`` (cached: it is asked for every connection)."""
    network_ = _network(cidr)
    try:
        return network_ is not None and ipaddress.ip_address(ip) in network_
    except ValueError:
        return False


class Proxier:
    """Listens on every Service address of one node and relays what arrives (a running event loop)."""

    retry_interval = 2.0

    def __init__(self, node_name: str, *, addresses: network.AddressPlan | None = None,
                 clock: Clock = REAL_CLOCK) -> None:
        self.node_name = node_name
        self.node_ip = ""
        self.addresses = addresses or network.AddressPlan()
        self.clock = clock
        self.routes: dict[Frontend, Route] = {}
        self.failed: dict[Frontend, str] = {}
        """Frontends that could not be bound, and why (retried every :attr:`retry_interval` seconds)."""
        self._balancers: dict[tuple[ServicePortName, str], RoundRobin] = {}
        self._listeners: dict[Frontend, asyncio.AbstractServer | asyncio.DatagramTransport] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._retry: asyncio.Task[None] | None = None
        self._relays: set[_Relay] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the event loop thread; return at once."""
        if self._thread is not None:
            return
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"kube-proxy {self.node_name}", daemon=True)
        self._thread.start()
        ready.wait()
        self._retry = self._call(self._retry_loop_task())

    def stop(self) -> None:
        """Close every listener and relayed connection; return when the loop thread has ended."""
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._shutdown(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def _run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        return self._run(_as_task(coroutine))

    async def _shutdown(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        for frontend in list(self._listeners):
            self._close(frontend)
        self.routes = {}
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for relay in list(self._relays):
            relay.abort()

    # -- syncing -------------------------------------------------------------------------------

    def sync(self, ports: Iterable[ServicePort], endpoints: EndpointsMap, node_ip: str = "") -> None:
        """Serve exactly these Service ports with these endpoints (from any thread)."""
        self._run(self._sync(list(ports), endpoints, node_ip))

    async def _sync(self, ports: list[ServicePort], endpoints: EndpointsMap, node_ip: str) -> None:
        self.node_ip = node_ip
        routes: dict[Frontend, Route] = {}
        balancers: dict[tuple[ServicePortName, str], RoundRobin] = {}
        for port in ports:
            if port.protocol not in ("TCP", "UDP"):
                continue
            categorized = categorize(endpoints.get(port.name, []), port, self.node_name)
            cluster = self._balancer(balancers, port, "cluster", categorized.cluster) if categorized.cluster else None
            local = self._balancer(balancers, port, "local", categorized.local) if categorized.local else None
            internal = local if port.internal_policy_local else cluster
            if internal is not None:
                frontend = Frontend(port.cluster_ip, network.host_port(port.port), port.protocol)
                routes.setdefault(frontend, Route(port, False, False, cluster, local))
            if not categorized.has_any:
                continue
            for ip in port.external_ips:
                if _within(ip, "127.0.0.0/8"):
                    routes.setdefault(Frontend(ip, network.host_port(port.port), port.protocol),
                                      Route(port, True, False, cluster, local))
            for ip in port.load_balancer_ips:
                routes.setdefault(Frontend(ip, network.host_port(port.port), port.protocol),
                                  Route(port, True, True, cluster, local))
            if port.node_port and node_ip:
                routes.setdefault(Frontend(node_ip, port.node_port, port.protocol), Route(port, True, False, cluster, local))
        self._balancers = balancers
        self.routes = routes
        for frontend in [f for f in self._listeners if f not in routes]:
            self._close(frontend)
        for frontend in [f for f in self.failed if f not in routes]:
            del self.failed[frontend]
        await self._open_missing()

    def _balancer(self, balancers: dict[tuple[ServicePortName, str], RoundRobin], port: ServicePort, policy: str,
                  endpoints: list[Endpoint]) -> RoundRobin:
        key = (port.name, policy)
        balancer = self._balancers.get(key) or RoundRobin(clock=self.clock)
        balancer.update(endpoints, port.sticky_seconds)
        balancers[key] = balancer
        return balancer

    async def _open_missing(self) -> None:
        for frontend in [f for f in self.routes if f not in self._listeners]:
            try:
                self._listeners[frontend] = await self._listen(frontend)
            except OSError as e:
                if self.failed.get(frontend) != e.strerror:
                    log.warning("kube-proxy %s: cannot listen on %s for %s: %s (retrying every %.0fs)", self.node_name,
                                frontend, self.routes[frontend].service.name, e.strerror, self.retry_interval)
                self.failed[frontend] = e.strerror or str(e)
            else:
                if self.failed.pop(frontend, None) is not None:
                    log.info("kube-proxy %s: now listening on %s", self.node_name, frontend)

    async def _retry_loop_task(self) -> None:
        while True:
            await asyncio.sleep(self.retry_interval)
            if self.failed:
                await self._open_missing()

    async def _listen(self, frontend: Frontend) -> asyncio.AbstractServer | asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        if frontend.protocol == "UDP":
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UDPFrontend(self, frontend), local_addr=(frontend.ip, frontend.port),
            )
            return transport
        return await loop.create_server(lambda: _Relay(self, frontend), frontend.ip, frontend.port,
                                        reuse_address=True, backlog=512)

    def _close(self, frontend: Frontend) -> None:
        listener = self._listeners.pop(frontend)
        listener.close()

    @property
    def listening(self) -> list[Frontend]:
        """The frontends being served now."""
        return sorted(self._listeners)

    def choose(self, frontend: Frontend, client_ip: str, exclude: Iterable[Endpoint] = ()) -> Choice | None:
        route = self.routes.get(frontend)
        if route is None:
            return None
        return choose(route, client_ip, node_ip=self.node_ip, addresses=self.addresses, exclude=exclude)


async def _as_task(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coroutine)


async def _connect(
    proxier: Proxier, frontend: Frontend, client_ip: str, factory: Any, *, udp: bool = False,
) -> tuple[asyncio.BaseTransport, Choice] | None:
    """Open a connection to an endpoint for this client, trying the next endpoint when one refuses."""
    loop = asyncio.get_running_loop()
    tried: list[Endpoint] = []
    for _ in range(CONNECT_ATTEMPTS):
        choice = proxier.choose(frontend, client_ip, tried)
        if choice is None:
            return None
        address = (choice.endpoint.ip, network.host_port(choice.endpoint.port))
        source = (choice.source, 0) if choice.source else None
        try:
            transport: asyncio.BaseTransport
            if udp:
                transport, _ = await loop.create_datagram_endpoint(factory, remote_addr=address, local_addr=source)
            else:
                # No timeout: on loopback a connection is accepted or refused at once.
                transport, _ = await loop.create_connection(factory, *address, local_addr=source)
            return transport, choice
        except OSError as e:
            log.info("kube-proxy: %s for %s refused or unreachable (%s); trying another endpoint",
                     choice.endpoint, frontend, e)
            tried.append(choice.endpoint)
    return None


class _Relay(asyncio.Protocol):
    """One client connection and its twin to the endpoint; bytes copied both ways with back-pressure."""

    def __init__(self, proxier: Proxier, frontend: Frontend) -> None:
        self.proxier = proxier
        self.frontend = frontend
        self.transport: asyncio.Transport | None = None
        self.backend: _Backend | None = None
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()
        self.proxier._relays.add(self)
        client_ip = transport.get_extra_info("peername")[0]
        asyncio.get_running_loop().create_task(self._open(client_ip))

    async def _open(self, client_ip: str) -> None:
        assert self.transport is not None
        result = await _connect(self.proxier, self.frontend, client_ip, lambda: _Backend(self))
        if result is None:
            self.transport.abort()
        elif self.transport.is_closing():
            result[0].close()
        else:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        backend = self.backend.transport if self.backend else None
        if backend is not None and backend.can_write_eof():
            backend.write_eof()
        return not (self.backend is not None and self.backend.eof)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.proxier._relays.discard(self)
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.close()

    def pause_writing(self) -> None:
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.abort()


class _Backend(asyncio.Protocol):
    """The relay's connection to the endpoint."""

    def __init__(self, relay: _Relay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.relay.backend = self

    def data_received(self, data: bytes) -> None:
        assert self.relay.transport is not None
        self.relay.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        client = self.relay.transport
        if client is not None and client.can_write_eof():
            client.write_eof()
        return not self.relay.eof

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.relay.transport is not None:
            self.relay.transport.close()

    def pause_writing(self) -> None:
        if self.relay.transport is not None:
            self.relay.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.relay.transport is not None:
            self.relay.transport.resume_reading()


class _UDPFrontend(asyncio.DatagramProtocol):
    """A UDP Service address: each client address gets a flow of its own to one endpoint."""

    def __init__(self, proxier: Proxier, frontend: Frontend) -> None:
        self.proxier = proxier
        self.frontend = frontend
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple[str, int], _UDPFlow] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        flow = self.flows.get(addr)
        if flow is None:
            flow = self.flows[addr] = _UDPFlow(self, addr)
            asyncio.get_running_loop().create_task(flow.open())
        flow.send(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for flow in list(self.flows.values()):
            flow.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(UDP_IDLE_TIMEOUT / 3)
            now = self.proxier.clock.now()
            for flow in [f for f in self.flows.values() if now - f.last_used > UDP_IDLE_TIMEOUT]:
                flow.close()


class _UDPFlow(asyncio.DatagramProtocol):
    """One UDP client's flow to its endpoint: datagrams out, replies back to the client."""

    def __init__(self, frontend: _UDPFrontend, client: tuple[str, int]) -> None:
        self.frontend = frontend
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.last_used = frontend.proxier.clock.now()
        self.closed = False

    async def open(self) -> None:
        result = await _connect(self.frontend.proxier, self.frontend.frontend, self.client[0], lambda: self, udp=True)
        if result is None or self.closed:
            self.close()
            return
        for data in self.pending:
            self.send(data)
        self.pending.clear()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def send(self, data: bytes) -> None:
        self.last_used = self.frontend.proxier.clock.now()
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.sendto(data)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last_used = self.frontend.proxier.clock.now()
        if self.frontend.transport is not None:
            self.frontend.transport.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True
        self.frontend.flows.pop(self.client, None)
        if self.transport is not None:
            self.transport.close()
