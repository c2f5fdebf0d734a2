"""The cluster's DNS records, as CoreDNS's ``kubernetes`` plugin derives them from the API.

A pure function of Services and EndpointSlices (:class:`ClusterZone`), following the
Kubernetes DNS specification (``cluster-dns-spec``) and CoreDNS's answers:

- ``<svc>.<ns>.svc.<domain>``: A with the ClusterIP; for a headless Service, one A per
  ready endpoint (every endpoint with ``publishNotReadyAddresses``);
- ``<hostname>.<svc>.<ns>.svc.<domain>``: A of the endpoint with that hostname (a pod with
  ``hostname``/``subdomain``, as StatefulSets have); endpoints without one are named by their
  dashed address (``127-244-1-5``);
- ``_<port>._<proto>.<svc>.<ns>.svc.<domain>``: SRV for each named port, the targets'
  A records in the additional section;
- an ExternalName Service: CNAME to its ``externalName``;
- ``1-2-3-4.<ns>.pod.<domain>``: A 1.2.3.4 (``pods insecure``, as kubeadm's Corefile);
- PTR for ClusterIPs and headless endpoints;
- anything else in the domain: NXDOMAIN, with the zone's SOA in the authority section
  (NOERROR and no answer for a name that exists with other types).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

DEFAULT_TTL = 5
"""Seconds answers may be cached (the kubernetes plugin's default ``ttl``)."""

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass
class Answer:
    """What the zone says about one question: a response code and the three record sections."""

    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


def dashed(ip: str) -> str:
    """An address as a DNS label: ``127.244.1.5`` → ``127-244-1-5``."""
    return ip.replace(".", "-").replace(":", "-")


class ClusterZone:
    """The records of the cluster domain (``cluster.local``) and of the reverse zones of its addresses."""

    def __init__(
        self,
        services: Iterable[Mapping[str, Any]],
        endpoint_slices: Iterable[Mapping[str, Any]],
        *,
        domain: str = "cluster.local",
        ttl: int = DEFAULT_TTL,
        serial: int | None = None,
    ) -> None:
        self.origin = dns.name.from_text(domain)
        self.ttl = ttl
        self.serial = serial if serial is not None else int(time.time())
        self._records: dict[dns.name.Name, dict[dns.rdatatype.RdataType, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._namespaces: set[str] = set()
        self._reverse: dict[str, str] = {}
        services = list(services)
        by_service: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
        for slice_ in endpoint_slices:
            meta = slice_.get("metadata") or {}
            owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if owner and slice_.get("addressType", "IPv4") == "IPv4":
                by_service[(meta.get("namespace") or "default", owner)].append(slice_)
        for service in services:
            self._add_service(service, by_service)

    # -- building ------------------------------------------------------------------------------

    def _name(self, *labels: str) -> dns.name.Name:
        return dns.name.Name([label.encode() for label in labels] + list(self.origin.labels))

    def _add(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, text: str) -> None:
        if text not in self._records[name][rdtype]:
            self._records[name][rdtype].append(text)

    def _add_service(self, service: Mapping[str, Any], slices: Mapping[tuple[str, str], list[Mapping[str, Any]]]) -> None:
        meta, spec = service.get("metadata") or {}, service.get("spec") or {}
        namespace, name = meta.get("namespace") or "default", meta.get("name") or ""
        self._namespaces.add(namespace)
        owner = self._name(name, namespace, "svc")
        if spec.get("type") == "ExternalName":
            target = str(spec.get("externalName") or "").rstrip(".") + "."
            self._add(owner, dns.rdatatype.CNAME, target)
            return
        cluster_ip = spec.get("clusterIP")
        headless = cluster_ip == "None"
        if cluster_ip and not headless:
            for ip in spec.get("clusterIPs") or [cluster_ip]:
                self._add(owner, dns.rdatatype.A if ":" not in ip else dns.rdatatype.AAAA, ip)
                self._reverse[ip] = owner.to_text()
            for port in spec.get("ports") or []:
                if port.get("name"):
                    self._add_srv(owner, port["name"], port.get("protocol") or "TCP", [(owner, int(port["port"]))])
            return
        if not headless:
            return
        publish_all = bool(spec.get("publishNotReadyAddresses"))
        srv: dict[tuple[str, str], list[tuple[dns.name.Name, int]]] = defaultdict(list)
        for slice_ in slices.get((namespace, name), []):
            for endpoint in slice_.get("endpoints") or []:
                conditions = endpoint.get("conditions") or {}
                if not (publish_all or conditions.get("ready") is not False):
                    continue
                for ip in (endpoint.get("addresses") or [])[:1]:
                    host = self._name(endpoint.get("hostname") or dashed(ip), name, namespace, "svc")
                    self._add(owner, dns.rdatatype.A, ip)
                    self._add(host, dns.rdatatype.A, ip)
                    self._reverse.setdefault(ip, host.to_text())
                    for port in slice_.get("ports") or []:
                        if port.get("name") and port.get("port") is not None:
                            srv[(port["name"], port.get("protocol") or "TCP")].append((host, int(port["port"])))
        for (port_name, protocol), targets in srv.items():
            self._add_srv(owner, port_name, protocol, targets)

    def _add_srv(self, owner: dns.name.Name, port: str, protocol: str,
                 targets: list[tuple[dns.name.Name, int]]) -> None:
        name = dns.name.Name([f"_{port}".encode(), f"_{protocol.lower()}".encode(), *owner.labels])
        # Equal shares of 100, as CoreDNS weighs the targets of one priority.
        weight = math.floor(100.0 / (100 * len(targets)) * 100)
        for target, number in targets:
            self._add(name, dns.rdatatype.SRV, f"0 {weight} {number} {target.to_text()}")

    # -- answering ------------------------------------------------------------------------------

    def is_authoritative_for(self, qname: dns.name.Name) -> bool:
        """Whether ``qname`` is this zone's to answer: in the cluster domain, or a PTR name of a known address."""
        return qname.is_subdomain(self.origin) or self._ptr_target(qname) is not None

    def resolve(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
        """The answer to ``qname``/``qtype`` (``qname`` must be one :meth:`is_authoritative_for`)."""
        qname = qname.canonicalize()
        ptr = self._ptr_target(qname)
        if ptr is not None:
            if qtype in (dns.rdatatype.PTR, dns.rdatatype.ANY):
                return Answer(answer=[self._rrset(qname, dns.rdatatype.PTR, [ptr])])
            return Answer()
        if qname == self.origin and qtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
            text = self._soa_text() if qtype == dns.rdatatype.SOA else f"ns.dns.{self.origin}"
            return Answer(answer=[self._rrset(qname, qtype, [text])])
        pod_ip = self._pod_address(qname)
        records = self._records.get(qname)
        if pod_ip is not None:
            records = {dns.rdatatype.A: [pod_ip]}
        if not records:
            if self._exists_without_records(qname):
                return Answer(authority=[self._soa()])
            return Answer(rcode=dns.rcode.NXDOMAIN, authority=[self._soa()])
        answer = Answer()
        cname = records.get(dns.rdatatype.CNAME)
        if cname and qtype != dns.rdatatype.CNAME:
            answer.answer.append(self._rrset(qname, dns.rdatatype.CNAME, cname))
            target = dns.name.from_text(cname[0])
            if target.is_subdomain(self.origin) and target in self._records:
                followed = self.resolve(target, qtype)
                answer.answer += followed.answer
            return answer
        types = list(records) if qtype == dns.rdatatype.ANY else [qtype]
        for rdtype in types:
            if records.get(rdtype):
                answer.answer.append(self._rrset(qname, rdtype, records[rdtype]))
        if not answer.answer:
            answer.authority.append(self._soa())
        for rrset in [r for r in answer.answer if r.rdtype == dns.rdatatype.SRV]:
            for rdata in rrset:
                target_records = self._records.get(rdata.target, {})
                if target_records.get(dns.rdatatype.A):
                    answer.additional.append(self._rrset(rdata.target, dns.rdatatype.A,
                                                         target_records[dns.rdatatype.A]))
        return answer

    def _exists_without_records(self, qname: dns.name.Name) -> bool:
        """Whether ``qname`` is an empty non-terminal: the zone itself, ``svc``, ``pod``, a namespace, a parent of a name."""
        relative = qname.relativize(self.origin).labels
        if len(relative) <= 1 and (not relative or relative[0] in (b"svc", b"pod")):
            return True
        if len(relative) == 2 and relative[1] in (b"svc", b"pod"):
            return relative[0].decode(errors="replace") in self._namespaces
        return any(name.is_subdomain(qname) for name in self._records)

    def _pod_address(self, qname: dns.name.Name) -> str | None:
        relative = qname.relativize(self.origin).labels
        if len(relative) != 3 or relative[2] != b"pod":
            return None
        try:
            return str(ipaddress.IPv4Address(relative[0].decode().replace("-", ".")))
        except (ValueError, UnicodeDecodeError):
            return None

    def _ptr_target(self, qname: dns.name.Name) -> str | None:
        try:
            address = dns.reversename.to_address(qname)
        except (dns.exception.SyntaxError, ValueError):
            return None
        return self._reverse.get(address)

    def _soa_text(self) -> str:
        return f"ns.dns.{self.origin} hostmaster.{self.origin} {self.serial} 7200 1800 86400 {self.ttl}"

    def _soa(self) -> dns.rrset.RRset:
        return self._rrset(self.origin, dns.rdatatype.SOA, [self._soa_text()])

    def _rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, texts: list[str]) -> dns.rrset.RRset:
        rdatas = [dns.rdata.from_text(dns.rdataclass.IN, rdtype, text) for text in texts]
        return dns.rrset.from_rdata_list(name, self.ttl, rdatas)
