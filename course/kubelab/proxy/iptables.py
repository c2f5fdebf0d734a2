"""The rules an iptables-mode kube-proxy would program, printed as ``iptables-save`` prints them.

kubelab's kube-proxy moves bytes in user space (:mod:`kubelab.proxy.proxier`), but it
decides exactly what upstream's iptables proxier (``pkg/proxy/iptables/proxier.go``) decides,
and :func:`render` shows those decisions as the real thing would: the ``*filter`` table
(REJECT for Services without endpoints) and the ``*nat`` table (``KUBE-SERVICES`` →
``KUBE-SVC-…`` → ``KUBE-SEP-…`` with DNAT), with upstream's chain names, comments and
``-m statistic --mode random --probability`` rules, in the normalized form ``iptables-save``
reads back (addresses as ``/32``, ``--probability 0.33333333349``, ``--set-xmark``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubelab.network import AddressPlan
from kubelab.proxy.endpoints import Endpoint, categorize, endpoints_map
from kubelab.proxy.serviceport import ServicePort, all_service_ports

MASQUERADE_MARK = "0x4000"
"""The mark ``KUBE-MARK-MASQ`` sets (bit 14, ``--iptables-masquerade-bit=14``)."""

LARGE_CLUSTER_ENDPOINTS = 1000
"""Above this many endpoints, per-endpoint comments are left out (``largeClusterEndpointsThreshold``)."""

_NAT_BUILTINS = ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")
_FILTER_BUILTINS = ("INPUT", "FORWARD", "OUTPUT")
_SAFE = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


# -- chain names -----------------------------------------------------------------------------------


def port_proto_hash(service_port_name: str, protocol: str) -> str:
    """The 16-character hash in a Service's chain names (``portProtoHash``)."""
    digest = hashlib.sha256((service_port_name + protocol.lower()).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def service_chain(port: ServicePort) -> str:
    """``KUBE-SVC-…``: the chain that picks among the Service's endpoints on any node."""
    return "KUBE-SVC-" + port_proto_hash(str(port.name), port.protocol)


def local_service_chain(port: ServicePort) -> str:
    """``KUBE-SVL-…``: the chain that picks among this node's endpoints (``Local`` policies)."""
    return "KUBE-SVL-" + port_proto_hash(str(port.name), port.protocol)


def external_chain(port: ServicePort) -> str:
    """``KUBE-EXT-…``: where NodePort, external-IP and load-balancer traffic goes first."""
    return "KUBE-EXT-" + port_proto_hash(str(port.name), port.protocol)


def firewall_chain(port: ServicePort) -> str:
    """``KUBE-FW-…``: the ``loadBalancerSourceRanges`` filter."""
    return "KUBE-FW-" + port_proto_hash(str(port.name), port.protocol)


def endpoint_chain(port: ServicePort, endpoint: Endpoint | str) -> str:
    """``KUBE-SEP-…``: the chain that DNATs to one endpoint."""
    digest = hashlib.sha256((str(port.name) + port.protocol.lower() + str(endpoint)).encode()).digest()
    return "KUBE-SEP-" + base64.b32encode(digest).decode()[:16]


# -- rule text ----------------------------------------------------------------------------------------


def probability(n: int) -> str:
    """``1/n`` as ``iptables-save`` prints it back (``0.33333333349`` for 3).

    kube-proxy writes ``%0.10f``; the kernel keeps it as a 31-bit fraction, which
    ``iptables-save`` prints with 11 decimals.
    """
    written = float(f"{1.0 / n:0.10f}")
    stored = round(written * 0x80000000)
    return f"{stored / 0x80000000:.11f}"


def _quote(value: str) -> str:
    """A string as ``iptables-save`` quotes it (``xtables_save_string``)."""
    if value and all(c in _SAFE for c in value):
        return value
    return '"' + "".join("\\" + c if c in "\"\\'" else c for c in value) + '"'


def _address(value: str) -> str:
    network = ipaddress.ip_network(value, strict=False)
    return f"{network.network_address}/{network.prefixlen}"


def _contains(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", _quote(text)]


class _Table:
    """A table being built: its chains in order of creation and each chain's rules."""

    def __init__(self, name: str, builtins: Sequence[str]) -> None:
        self.name = name
        self.builtins = list(builtins)
        self.chains: dict[str, list[str]] = {chain: [] for chain in builtins}

    def chain(self, name: str) -> None:
        self.chains.setdefault(name, [])

    def rule(
        self, chain: str, *, source: str = "", not_source: str = "", destination: str = "", protocol: str = "",
        matches: Sequence[Sequence[str]] = (), jump: str = "", args: Sequence[str] = (),
    ) -> None:
        """Append a rule, its parts in the order ``iptables-save`` prints them (no ``jump``: only counts)."""
        parts = ["-A", chain]
        if not_source:
            parts += ["!", "-s", _address(not_source)]
        if source:
            parts += ["-s", _address(source)]
        if destination:
            parts += ["-d", _address(destination)]
        if protocol:
            parts += ["-p", protocol]
        for match in matches:
            parts += match
        if jump:
            parts += ["-j", jump, *args]
        self.chain(chain)
        self.chains[chain].append(" ".join(parts))

    def save(self, header: str) -> list[str]:
        """The table in ``iptables-save`` form: built-in chains first, then the others by name."""
        order = self.builtins + sorted(c for c in self.chains if c not in self.builtins)
        lines = [header, f"*{self.name}"]
        lines += [f":{c} ACCEPT [0:0]" if c in self.builtins else f":{c} - [0:0]" for c in order]
        for chain in order:
            lines += self.chains[chain]
        lines.append("COMMIT")
        return lines


# -- the rules -------------------------------------------------------------------------------------


def render(
    services: Iterable[Mapping[str, Any]],
    endpoint_slices: Iterable[Mapping[str, Any]],
    node_name: str,
    *,
    node_ip: str = "",
    cluster_cidr: str = str(AddressPlan().pod_network),
) -> str:
    """The ``iptables-save`` output kube-proxy on ``node_name`` would produce for these objects.

    ``node_ip`` is where NodePorts are served (upstream's ``--nodeport-addresses=primary``);
    without it, on every local address. ``cluster_cidr`` tells pod traffic from the rest
    (``--cluster-cidr``): only traffic from outside it is masqueraded on its way to a ClusterIP.
    """
    ports = all_service_ports(services)
    endpoints = endpoints_map(endpoint_slices)
    filter_table = _Table("filter", _FILTER_BUILTINS)
    nat = _Table("nat", _NAT_BUILTINS)
    _jump_rules(filter_table, nat)
    total = sum(len(endpoints.get(p.name, ())) for p in ports)
    large = total > LARGE_CLUSTER_ENDPOINTS
    for port in ports:
        _service_rules(filter_table, nat, port, endpoints.get(port.name, []), node_name, node_ip, cluster_cidr, large)
    node_ports_comment = _comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
    if node_ip:
        nat.rule("KUBE-SERVICES", destination=node_ip, matches=[node_ports_comment], jump="KUBE-NODEPORTS")
    else:
        nat.rule("KUBE-SERVICES", matches=[node_ports_comment, ["-m", "addrtype", "--dst-type", "LOCAL"],
                                           ["!", "-d", "127.0.0.0/8"]], jump="KUBE-NODEPORTS")
    _forward_rules(filter_table)
    header = f"# Generated by kubelab kube-proxy: the rules an iptables-mode kube-proxy on {node_name} would program"
    return "\n".join(filter_table.save(header) + nat.save(header)) + "\n"


def _jump_rules(filter_table: _Table, nat: _Table) -> None:
    """The rules that lead from the built-in chains into kube-proxy's (``iptablesJumpChains``)."""
    new = ["-m", "conntrack", "--ctstate", "NEW"]
    # Each jump is inserted at the top of its chain, so the last one inserted comes first.
    filter_jumps = [
        ("INPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", new),
        ("INPUT", "KUBE-NODEPORTS", "kubernetes health check service ports", None),
        ("INPUT", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", new),
        ("FORWARD", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", new),
        ("FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules", None),
        ("FORWARD", "KUBE-SERVICES", "kubernetes service portals", new),
        ("FORWARD", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", new),
        ("OUTPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", new),
        ("OUTPUT", "KUBE-SERVICES", "kubernetes service portals", new),
    ]
    for chain in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"):
        filter_table.chain(chain)
    for src, dst, comment, extra in filter_jumps:
        filter_table.rule(src, matches=[*([extra] if extra else []), _comment(comment)], jump=dst)
    for chain in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"):
        nat.chain(chain)
    nat.rule("PREROUTING", matches=[_comment("kubernetes service portals")], jump="KUBE-SERVICES")
    nat.rule("OUTPUT", matches=[_comment("kubernetes service portals")], jump="KUBE-SERVICES")
    nat.rule("POSTROUTING", matches=[_comment("kubernetes postrouting rules")], jump="KUBE-POSTROUTING")
    mark = f"{MASQUERADE_MARK}/{MASQUERADE_MARK}"
    nat.rule("KUBE-POSTROUTING", matches=[["-m", "mark", "!", "--mark", mark]], jump="RETURN")
    nat.rule("KUBE-POSTROUTING", jump="MARK", args=["--set-xmark", f"{MASQUERADE_MARK}/0x0"])
    nat.rule("KUBE-POSTROUTING", matches=[_comment("kubernetes service traffic requiring SNAT")], jump="MASQUERADE",
             args=["--random-fully"])
    nat.rule("KUBE-MARK-MASQ", jump="MARK", args=["--set-xmark", mark])


def _forward_rules(filter_table: _Table) -> None:
    filter_table.rule("KUBE-FORWARD", matches=[["-m", "conntrack", "--ctstate", "INVALID"]], jump="DROP")
    filter_table.rule("KUBE-FORWARD", matches=[
        _comment("kubernetes forwarding rules"), ["-m", "mark", "--mark", f"{MASQUERADE_MARK}/{MASQUERADE_MARK}"],
    ], jump="ACCEPT")
    filter_table.rule("KUBE-FORWARD", matches=[
        _comment("kubernetes forwarding conntrack rule"), ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"],
    ], jump="ACCEPT")


def _service_rules(
    filter_table: _Table, nat: _Table, port: ServicePort, endpoints: list[Endpoint], node_name: str, node_ip: str,
    cluster_cidr: str, large: bool,
) -> None:
    """Every rule of one Service port (the loop body of ``syncProxyRules``)."""
    name = str(port.name)
    protocol = port.protocol.lower()
    categorized = categorize(endpoints, port, node_name)
    cluster_chain, local_chain = service_chain(port), local_service_chain(port)
    ext_chain = external_chain(port)
    has_any = categorized.has_any
    internal_chain, has_internal = cluster_chain, has_any
    if port.internal_policy_local:
        internal_chain, has_internal = local_chain, bool(categorized.local)
    external_policy_chain, has_external = cluster_chain, has_any
    if port.external_local:
        external_policy_chain, has_external = local_chain, bool(categorized.local)
    lb_chain = ext_chain
    uses_fw = has_any and bool(port.load_balancer_ips) and bool(port.load_balancer_source_ranges)
    if uses_fw:
        lb_chain = firewall_chain(port)
    if not has_any:
        internal_filter = external_filter = ("REJECT", f"{name} has no endpoints")
    else:
        internal_filter = ("DROP", f"{name} has no local endpoints")
        external_filter = internal_filter

    def dport(number: int) -> list[str]:
        return ["-m", protocol, "--dport", str(number)]

    def filter_rule(chain: str, target: tuple[str, str], number: int, destination: str = "",
                    extra: Sequence[Sequence[str]] = ()) -> None:
        args = ["--reject-with", "icmp-port-unreachable"] if target[0] == "REJECT" else []
        filter_table.rule(chain, destination=destination, protocol=protocol,
                          matches=[_comment(target[1]), *extra, dport(number)], jump=target[0], args=args)

    # Capture the ClusterIP.
    if has_internal:
        nat.rule("KUBE-SERVICES", destination=port.cluster_ip, protocol=protocol,
                 matches=[_comment(f"{name} cluster IP"), dport(port.port)], jump=internal_chain)
    else:
        filter_rule("KUBE-SERVICES", internal_filter, port.port, port.cluster_ip)
    # Capture external IPs and load-balancer IPs.
    for ip in port.external_ips:
        if has_any:
            nat.rule("KUBE-SERVICES", destination=ip, protocol=protocol,
                     matches=[_comment(f"{name} external IP"), dport(port.port)], jump=ext_chain)
        if not has_external:
            filter_rule("KUBE-EXTERNAL-SERVICES", external_filter, port.port, ip)
    for ip in port.load_balancer_ips:
        if has_any:
            nat.rule("KUBE-SERVICES", destination=ip, protocol=protocol,
                     matches=[_comment(f"{name} loadbalancer IP"), dport(port.port)], jump=lb_chain)
        if uses_fw:
            filter_rule("KUBE-PROXY-FIREWALL", ("DROP", f"{name} traffic not accepted by {firewall_chain(port)}"),
                        port.port, ip)
    if not has_external:
        for ip in port.load_balancer_ips:
            filter_rule("KUBE-EXTERNAL-SERVICES", external_filter, port.port, ip)
    # Capture the NodePort.
    if port.node_port:
        if has_any:
            nat.rule("KUBE-NODEPORTS", protocol=protocol, matches=[_comment(name), dport(port.node_port)],
                     jump=ext_chain)
        if not has_external:
            filter_rule("KUBE-EXTERNAL-SERVICES", external_filter, port.node_port,
                        extra=[["-m", "addrtype", "--dst-type", "LOCAL"]])
    if port.health_check_node_port:
        filter_table.rule("KUBE-NODEPORTS", protocol="tcp", matches=[
            _comment(f"{name} health check node port"), ["-m", "tcp", "--dport", str(port.health_check_node_port)],
        ], jump="ACCEPT")
    # Masquerade ClusterIP traffic from outside the pod network.
    if has_internal:
        nat.rule(internal_chain, not_source=cluster_cidr, destination=port.cluster_ip, protocol=protocol,
                 matches=[_comment(f"{name} cluster IP"), dport(port.port)], jump="KUBE-MARK-MASQ")
    # External traffic: masquerade it, or keep the client's address when only local endpoints serve it.
    if has_any and port.externally_accessible:
        nat.chain(ext_chain)
        if not port.external_local:
            nat.rule(ext_chain, matches=[_comment(f"masquerade traffic for {name} external destinations")],
                     jump="KUBE-MARK-MASQ")
        else:
            nat.rule(ext_chain, source=cluster_cidr,
                     matches=[_comment(f"pod traffic for {name} external destinations")], jump=cluster_chain)
            nat.rule(ext_chain, matches=[_comment(f"masquerade LOCAL traffic for {name} external destinations"),
                                         ["-m", "addrtype", "--src-type", "LOCAL"]], jump="KUBE-MARK-MASQ")
            nat.rule(ext_chain, matches=[_comment(f"route LOCAL traffic for {name} external destinations"),
                                         ["-m", "addrtype", "--src-type", "LOCAL"]], jump=cluster_chain)
        if has_external:
            nat.rule(ext_chain, jump=external_policy_chain)
    if uses_fw:
        fw = firewall_chain(port)
        nat.chain(fw)
        for cidr in port.load_balancer_source_ranges:
            nat.rule(fw, source=cidr, matches=[_comment(f"{name} loadbalancer IP")], jump=ext_chain)
        # A load balancer that loops back to the node arrives from its own IP: let the node reach it.
        if node_ip and any(_contains(cidr, node_ip) for cidr in port.load_balancer_source_ranges):
            for ip in port.load_balancer_ips:
                nat.rule(fw, source=ip, matches=[_comment(f"{name} loadbalancer IP")], jump=ext_chain)
        nat.rule(fw, matches=[_comment(f"other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL")])
    if categorized.cluster and port.uses_cluster_endpoints:
        _balance(nat, port, cluster_chain, categorized.cluster, large)
    if categorized.local and port.uses_local_endpoints:
        _balance(nat, port, local_chain, categorized.local, large)
    for endpoint in categorized.reachable:
        chain = endpoint_chain(port, endpoint)
        comment = [] if large else [_comment(name)]
        nat.rule(chain, source=endpoint.ip, matches=comment, jump="KUBE-MARK-MASQ")
        recent = [["-m", "recent", "--set", "--name", chain, "--mask", "255.255.255.255", "--rsource"]]
        nat.rule(chain, protocol=protocol, matches=[*comment, *(recent if port.sticky_seconds else []),
                                                   ["-m", protocol]],
                 jump="DNAT", args=["--to-destination", str(endpoint)])


def _balance(nat: _Table, port: ServicePort, chain: str, endpoints: list[Endpoint], large: bool) -> None:
    """The rules that send a connection to one endpoint: sticky first, then at random (``writeServiceToEndpointRules``)."""
    nat.chain(chain)
    name = str(port.name)

    def comment(endpoint: Endpoint) -> list[list[str]]:
        return [] if large else [_comment(f"{name} -> {endpoint}")]

    if port.sticky_seconds:
        for endpoint in endpoints:
            sep = endpoint_chain(port, endpoint)
            nat.rule(chain, matches=[*comment(endpoint), [
                "-m", "recent", "--rcheck", "--seconds", str(port.sticky_seconds), "--reap", "--name", sep,
                "--mask", "255.255.255.255", "--rsource",
            ]], jump=sep)
    for i, endpoint in enumerate(endpoints):
        # Rule i takes 1/(n-i) of what reaches it, so every endpoint gets 1/n overall; the last takes the rest.
        statistic = [["-m", "statistic", "--mode", "random", "--probability", probability(len(endpoints) - i)]]
        nat.rule(chain, matches=[*comment(endpoint), *(statistic if i < len(endpoints) - 1 else [])],
                 jump=endpoint_chain(port, endpoint))
