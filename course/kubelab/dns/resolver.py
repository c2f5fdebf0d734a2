"""A pod's DNS client: its ``resolv.conf``, the search path, and the hook that makes Python use them.

What glibc's stub resolver does for a container on a real node, done in Python, because here
a container shares the host's ``/etc/resolv.conf``:

- :func:`pod_resolv_conf` writes the ``resolv.conf`` the kubelet gives a pod for its
  ``dnsPolicy`` and ``dnsConfig`` (``nameserver 127.96.0.10``, ``search <ns>.svc.cluster.local
  svc.cluster.local cluster.local``, ``options ndots:5``);
- :class:`Resolver` resolves a name as ``res_search`` does: a name with fewer dots than
  ``ndots`` is tried with each search domain first, a name ending in a dot only as it is;
- :func:`install` replaces ``socket.getaddrinfo`` (and ``gethostbyname``) so every library in
  the process (urllib, http.client, requests...) resolves through the cluster DNS.

This module uses only the standard library and no other part of kubelab: containers run
Python without site-packages (``python -S``) and load it by its path::

    runpy.run_path(os.environ["KUBELAB_RESOLVER"])["install_from_environment"]()
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import socket
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

A, CNAME, AAAA = 1, 5, 28
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
MAX_NAMESERVERS, MAX_SEARCH = 3, 32


class ResolverError(OSError):
    """A name could not be resolved: it does not exist, or no nameserver answered."""


class NameNotFound(ResolverError):
    """No such name (NXDOMAIN, or no address of the asked type) under any search domain."""


class NoAnswer(ResolverError):
    """No nameserver answered (timeout, refused, or a server failure)."""


# -- resolv.conf -----------------------------------------------------------------------------------


@dataclass
class ResolvConf:
    """The parts of ``resolv.conf`` a stub resolver uses."""

    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    """``ndots:5`` is ``{"ndots": "5"}``; a flag such as ``rotate`` maps to ``""``."""

    @property
    def ndots(self) -> int:
        return _int_option(self.options.get("ndots"), 1, 0, 15)

    @property
    def timeout(self) -> float:
        return _int_option(self.options.get("timeout"), 5, 1, 30)

    @property
    def attempts(self) -> int:
        return _int_option(self.options.get("attempts"), 2, 1, 5)

    @classmethod
    def parse(cls, text: str) -> ResolvConf:
        """Read ``resolv.conf`` text (unknown lines and comments are ignored, as glibc does)."""
        conf = cls()
        for line in text.splitlines():
            words = line.split("#", 1)[0].split(";", 1)[0].split()
            if not words:
                continue
            key, values = words[0], words[1:]
            if key == "nameserver" and values:
                conf.nameservers.append(values[0])
            elif key in ("search", "domain"):
                conf.search = list(values)
            elif key == "options":
                for option in values:
                    name, _, value = option.partition(":")
                    conf.options[name] = value
        return conf

    @classmethod
    def read(cls, path: str) -> ResolvConf:
        with open(path, encoding="utf-8") as f:
            return cls.parse(f.read())

    def render(self) -> str:
        """The ``resolv.conf`` text."""
        lines = []
        if self.search:
            lines.append("search " + " ".join(self.search))
        lines += [f"nameserver {ns}" for ns in self.nameservers]
        if self.options:
            lines.append("options " + " ".join(f"{k}:{v}" if v else k for k, v in self.options.items()))
        return "\n".join(lines) + "\n"


def _int_option(value: str | None, default: int, low: int, high: int) -> int:
    """An option's number, clamped to glibc's bounds (``default`` when absent or not a number)."""
    try:
        return max(low, min(int(value or default), high))
    except ValueError:
        return default


def pod_resolv_conf(
    pod: Mapping[str, Any], *, nameserver: str, cluster_domain: str, host: ResolvConf | None = None,
) -> ResolvConf:
    """The ``resolv.conf`` the kubelet gives ``pod`` (``pkg/kubelet/network/dns``: ``GetPodDNS``).

    ``ClusterFirst`` (the default): the cluster DNS and the pod's namespace search path,
    ``ndots:5``; with ``hostNetwork`` it means ``Default`` instead, unless
    ``ClusterFirstWithHostNet``. ``Default``: the host's configuration (``host``). ``None``:
    only what ``dnsConfig`` gives. ``dnsConfig`` is merged into every policy: its
    nameservers and searches appended (at most 3 and 32), its options override.
    """
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        conf = ResolvConf(
            nameservers=[nameserver],
            search=[f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain],
            options={"ndots": "5"},
        )
        if host is not None:
            conf.search += [s for s in host.search if s not in conf.search]
    elif policy == "Default":
        conf = ResolvConf(list((host or ResolvConf()).nameservers), list((host or ResolvConf()).search),
                          dict((host or ResolvConf()).options))
    else:
        conf = ResolvConf()
    config = spec.get("dnsConfig") or {}
    conf.nameservers = list(dict.fromkeys([*conf.nameservers, *(config.get("nameservers") or [])]))[:MAX_NAMESERVERS]
    conf.search = list(dict.fromkeys([*conf.search, *(config.get("searches") or [])]))[:MAX_SEARCH]
    for option in config.get("options") or []:
        if option.get("name"):
            conf.options[option["name"]] = str(option.get("value") or "")
    return conf


# -- the wire format -------------------------------------------------------------------------------


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise NameNotFound(errno.EINVAL, f"invalid name {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def build_query(name: str, qtype: int, query_id: int) -> bytes:
    """A recursive query for ``name``/``qtype`` in wire format."""
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + _encode_name(name) + struct.pack("!HH", qtype, 1)


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The (possibly compressed) name at ``offset``, and the offset just after it."""
    labels: list[str] = []
    end = -1
    for _ in range(128):
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels) + ".", end if end >= 0 else offset + 1
        labels.append(message[offset + 1: offset + 1 + length].decode("ascii", errors="replace"))
        offset += 1 + length
    raise ValueError("name compression loop")


@dataclass
class Response:
    """What a nameserver said: its response code and answer records as ``(name, type, value)``."""

    rcode: int
    truncated: bool
    answers: list[tuple[str, int, str]]


def parse_response(message: bytes, query_id: int) -> Response:
    """Read a response to the query ``query_id``; ValueError if it is not one."""
    if len(message) < 12:
        raise ValueError("short response")
    rid, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", message[:12])
    if rid != query_id or not flags & 0x8000:
        raise ValueError("not the response to this query")
    offset = 12
    for _ in range(qdcount):
        _, offset = _read_name(message, offset)
        offset += 4
    answers = []
    for _ in range(ancount):
        name, offset = _read_name(message, offset)
        rtype, _, _, length = struct.unpack("!HHIH", message[offset: offset + 10])
        offset += 10
        data = message[offset: offset + length]
        if rtype == A and length == 4:
            answers.append((name, A, socket.inet_ntop(socket.AF_INET, data)))
        elif rtype == AAAA and length == 16:
            answers.append((name, AAAA, socket.inet_ntop(socket.AF_INET6, data)))
        elif rtype == CNAME:
            answers.append((name, CNAME, _read_name(message, offset)[0]))
        offset += length
    return Response(flags & 0x000F, bool(flags & 0x0200), answers)


# -- resolving ---------------------------------------------------------------------------------------


class Resolver:
    """Resolves names with a :class:`ResolvConf`, asking its nameservers on ``port``."""

    def __init__(self, conf: ResolvConf, *, port: int = 53) -> None:
        self.conf = conf
        self.port = port

    def candidates(self, name: str) -> list[str]:
        """The absolute names tried for ``name``, in order (``res_search``)."""
        if name.endswith("."):
            return [name]
        searched = [f"{name}.{domain.strip('.')}." for domain in self.conf.search if domain.strip(".")]
        if name.count(".") >= self.conf.ndots:
            return [f"{name}.", *searched]
        return [*searched, f"{name}."]

    def resolve(self, name: str, qtype: int = A) -> list[str]:
        """The addresses of ``name`` (A records by default, following CNAMEs).

        Raises :class:`NameNotFound` when no candidate exists, :class:`NoAnswer` when no
        nameserver could be asked.
        """
        failed = True
        for candidate in self.candidates(name):
            response = self.query(candidate, qtype)
            if response is None:
                continue
            failed = False
            addresses = _follow(candidate, qtype, response.answers)
            if addresses:
                return addresses
        if failed:
            raise NoAnswer(errno.EAGAIN, f"no nameserver answered for {name!r} ({', '.join(self.conf.nameservers)})")
        raise NameNotFound(errno.ENOENT, f"{name!r} not found")

    def query(self, name: str, qtype: int) -> Response | None:
        """Ask the nameservers in turn (UDP, TCP when truncated); None if none gave a usable answer."""
        for _ in range(self.conf.attempts):
            for nameserver in self.conf.nameservers[:MAX_NAMESERVERS]:
                query_id = random.randrange(1 << 16)
                wire = build_query(name, qtype, query_id)
                try:
                    response = self._udp(nameserver, wire, query_id)
                    if response.truncated:
                        response = self._tcp(nameserver, wire, query_id)
                except (OSError, ValueError, struct.error, IndexError):
                    continue
                if response.rcode in (NOERROR, NXDOMAIN):
                    return response
        return None

    def _udp(self, nameserver: str, wire: bytes, query_id: int) -> Response:
        family = socket.AF_INET6 if ":" in nameserver else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(self.conf.timeout)
            s.connect((nameserver, self.port))
            s.send(wire)
            while True:
                try:
                    return parse_response(s.recv(65535), query_id)
                except ValueError:
                    continue

    def _tcp(self, nameserver: str, wire: bytes, query_id: int) -> Response:
        with socket.create_connection((nameserver, self.port), timeout=self.conf.timeout) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    raise OSError(errno.ECONNRESET, "connection closed mid-answer")
                data += chunk
            return parse_response(data[2:], query_id)


def _follow(name: str, qtype: int, answers: Sequence[tuple[str, int, str]]) -> list[str]:
    """The ``qtype`` values for ``name``, through any chain of CNAMEs in the answer."""
    current = name.lower()
    for _ in range(16):
        found = [value for owner, rtype, value in answers if owner.lower() == current and rtype == qtype]
        if found:
            return found
        aliases = [value for owner, rtype, value in answers if owner.lower() == current and rtype == CNAME]
        if not aliases:
            return []
        current = aliases[0].lower()
    return []


# -- the hook ---------------------------------------------------------------------------------------


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def install(resolver: Resolver) -> None:
    """Make ``socket.getaddrinfo``, ``gethostbyname`` and ``gethostbyname_ex`` resolve through ``resolver``.

    Addresses and ``localhost`` are left to the host, as ``/etc/hosts`` would answer them;
    a missing name raises ``socket.gaierror`` (``EAI_NONAME``), an unreachable DNS
    ``EAI_AGAIN``, as glibc does.
    """
    original: Callable[..., Any] = getattr(socket.getaddrinfo, "__kubelab_original__", socket.getaddrinfo)

    def lookup(host: str, family: int) -> list[str]:
        try:
            if family == socket.AF_INET6:
                return resolver.resolve(host, AAAA)
            return resolver.resolve(host, A)
        except NameNotFound:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        except NoAnswer:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution") from None

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if not name or not isinstance(name, str) or _is_address(name) or name.rstrip(".").lower() == "localhost":
            return original(host, port, family, type, proto, flags)
        results = []
        for address in lookup(name, family):
            results += original(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        return results

    def gethostbyname(host: str) -> str:
        return str(getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])

    def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
        addresses = [info[4][0] for info in getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)]
        return host, [], list(dict.fromkeys(addresses))

    getaddrinfo.__kubelab_original__ = original  # type: ignore[attr-defined]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex


def install_from_environment(environ: Mapping[str, str] = os.environ) -> Resolver | None:
    """Install the resolver a container's environment describes; None when it describes none.

    Reads ``$KUBELAB_RESOLV_CONF`` (default ``$KUBELAB_ROOT/etc/resolv.conf``) and asks its
    nameservers on port 53, plus ``$KUBELAB_PORT_OFFSET`` (set where ports below 1024 are
    moved, see :mod:`kubelab.network`).
    """
    path = environ.get("KUBELAB_RESOLV_CONF") or os.path.join(environ.get("KUBELAB_ROOT", "/"), "etc", "resolv.conf")
    try:
        conf = ResolvConf.read(path)
    except OSError:
        return None
    if not conf.nameservers:
        return None
    resolver = Resolver(conf, port=53 + int(environ.get("KUBELAB_PORT_OFFSET") or 0))
    install(resolver)
    return resolver
