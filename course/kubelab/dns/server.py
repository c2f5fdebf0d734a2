"""A DNS server on UDP and TCP: the cluster zone answered here, every other name forwarded.

Like CoreDNS with ``kubernetes cluster.local in-addr.arpa`` and ``forward . /etc/resolv.conf``:
questions about the cluster are answered from a :class:`~kubelab.dns.records.ClusterZone`
(authoritative, ``aa`` set); anything else is sent on, as it is, to the host's own
nameservers. Answers too big for a UDP datagram (512 bytes, or the client's EDNS size)
are truncated (``tc``) so that the client asks again over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from typing import cast

import dns.asyncquery
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.resolver

from kubelab.dns.records import ClusterZone

log = logging.getLogger(__name__)

FORWARD_TIMEOUT = 2.0


def host_nameservers(path: str = "/etc/resolv.conf") -> list[str]:
    """The nameservers this host uses (empty when it has none)."""
    try:
        return [str(ns) for ns in dns.resolver.Resolver(filename=path).nameservers]
    except (dns.resolver.NoResolverConfiguration, OSError):
        return []


class DNSServer:
    """Answers DNS queries on ``host:port`` (UDP and TCP) from the zone ``zone()`` returns, forwarding the rest."""

    def __init__(self, zone: Callable[[], ClusterZone], *, upstreams: list[str] | None = None) -> None:
        self.zone = zone
        self.upstreams = host_nameservers() if upstreams is None else upstreams
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (UDP and TCP); raise OSError if either cannot be bound."""
        loop = asyncio.get_running_loop()
        self._tcp = await loop.create_server(lambda: _TCPProtocol(self), host, port, reuse_address=True)
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _UDPProtocol(self), local_addr=(host, port))
        except OSError:
            self._tcp.close()
            raise
        self._udp = cast(asyncio.DatagramTransport, transport)

    async def stop(self) -> None:
        """Stop listening; return once both sockets are closed."""
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        # Transports close their sockets on the loop's next turn.
        await asyncio.sleep(0)

    async def handle(self, wire: bytes, *, udp: bool = False) -> bytes | None:
        """The response to one query in wire format (None: not a query worth answering).

        Over ``udp`` the response is cut to 512 bytes, or to the size the client's EDNS allows.
        """
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _format_error(wire)
        if query.flags & dns.flags.QR:
            return None
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR)
            return response.to_wire()
        zone = self.zone()
        question = query.question[0]
        if zone.is_authoritative_for(question.name):
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA | dns.flags.RA
            answer = zone.resolve(question.name, question.rdtype)
            response.set_rcode(answer.rcode)
            response.answer, response.authority, response.additional = answer.answer, answer.authority, answer.additional
        else:
            response = await self._forward(query)
        max_size = (max(query.payload, 512) if query.edns >= 0 else 512) if udp else 65535
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer, response.authority, response.additional = [], [], []
            response.flags |= dns.flags.TC
            return response.to_wire()

    async def _forward(self, query: dns.message.Message) -> dns.message.Message:
        """Ask the host's nameservers; SERVFAIL if none answers."""
        for upstream in self.upstreams:
            try:
                response = await dns.asyncquery.udp(query, upstream, timeout=FORWARD_TIMEOUT, ignore_unexpected=True)
                if response.flags & dns.flags.TC:
                    response = await dns.asyncquery.tcp(query, upstream, timeout=FORWARD_TIMEOUT)
                return response
            except (dns.exception.DNSException, OSError) as e:
                log.info("dns: forwarding %s to %s failed: %s", query.question[0].name, upstream, e)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        response.set_rcode(dns.rcode.SERVFAIL)
        return response


def _format_error(wire: bytes) -> bytes | None:
    """A FORMERR reply echoing the query's id, or None when not even a header came."""
    if len(wire) < 12:
        return None
    (query_id,) = struct.unpack("!H", wire[:2])
    return struct.pack("!HHHHHH", query_id, 0x8000 | dns.rcode.FORMERR, 0, 0, 0, 0)


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.get_running_loop().create_task(self._answer(data, addr))

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server.handle(data, udp=True)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class _TCPProtocol(asyncio.Protocol):
    """DNS over TCP: each message prefixed by its two-byte length; several may share a connection."""

    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            (length,) = struct.unpack("!H", self.buffer[:2])
            if len(self.buffer) < 2 + length:
                return
            message, self.buffer = self.buffer[2:2 + length], self.buffer[2 + length:]
            asyncio.get_running_loop().create_task(self._answer(message))

    async def _answer(self, message: bytes) -> None:
        reply = await self.server.handle(message)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(OSError):
                self.transport.write(struct.pack("!H", len(reply)) + reply)
