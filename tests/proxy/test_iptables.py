"""iptables rendering: the rules upstream's iptables proxier writes, as iptables-save prints them."""

from __future__ import annotations

from typing import Any

import pytest

from kubelab.proxy import iptables
from kubelab.proxy.serviceport import ServicePort, ServicePortName


def service(name: str, ip: str, *, ports: list[dict[str, Any]] | None = None, namespace: str = "default",
            **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                 "ports": ports or [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}], **spec},
    }


def slice_(service: str, endpoints: list[tuple[str, dict[str, bool], str]], *, port: int = 8080,
           port_name: str = "http", protocol: str = "TCP", namespace: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{service}-abcde", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": protocol}],
        "endpoints": [{"addresses": [ip], "conditions": conditions, "nodeName": node}
                      for ip, conditions, node in endpoints],
    }


READY = {"ready": True}


def table(rendered: str, name: str) -> list[str]:
    """The lines of one table of iptables-save output, without the header comment."""
    lines = rendered.splitlines()
    start = lines.index(f"*{name}")
    return lines[start + 1: lines.index("COMMIT", start)]


def kube_rules(rendered: str, name: str, chain_prefix: str) -> list[str]:
    return [line for line in table(rendered, name) if line.startswith(f"-A {chain_prefix}")]


# -- names and numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(("port_name", "protocol", "expected"), [
    # Chain names that appear in upstream's own tests and on every real cluster.
    ("ns1/svc1:p80", "tcp", "XPGD46QRK7WJZT7O"),
    ("ns2/svc2:p80", "tcp", "GNZBNJ2PO5MGZ6GT"),
    ("default/kubernetes:https", "tcp", "NPX46M4PTMTKRN6Y"),
    ("kube-system/kube-dns:dns", "udp", "TCOU7JCQXEZGVUNU"),
    ("kube-system/kube-dns:dns-tcp", "tcp", "ERIFXISQEP7F7OF4"),
])
def test_chain_hashes_match_upstream(port_name: str, protocol: str, expected: str) -> None:
    assert iptables.port_proto_hash(port_name, protocol) == expected


def test_endpoint_chain_matches_upstream() -> None:
    port = ServicePort(ServicePortName("ns1", "svc1", "p80"), "172.30.0.41", 80)
    assert iptables.endpoint_chain(port, "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert iptables.service_chain(port) == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert iptables.external_chain(port) == "KUBE-EXT-XPGD46QRK7WJZT7O"


@pytest.mark.parametrize(("n", "printed"), [
    (2, "0.50000000000"), (3, "0.33333333349"), (4, "0.25000000000"), (5, "0.20000000019"), (10, "0.10000000009"),
])
def test_probability_as_iptables_save_prints_it(n: int, printed: str) -> None:
    assert iptables.probability(n) == printed


# -- whole tables -------------------------------------------------------------------------------------


def test_cluster_ip_service_with_three_ready_endpoints_and_one_unready() -> None:
    rendered = iptables.render(
        [service("web", "127.96.12.34")],
        [slice_("web", [("127.224.1.2", READY, "node-1"), ("127.224.1.3", READY, "node-1"),
                        ("127.224.2.2", READY, "node-2"), ("127.224.2.3", {"ready": False}, "node-2")])],
        "node-1", node_ip="127.18.0.2",
    )
    svc, ep1, ep2, ep3 = "KUBE-SVC-CDGGSHYLG3RE2FKL", "KUBE-SEP-BUYQWHCZLXRRDOW3", "KUBE-SEP-CFOLE3WYWUUDSPVM", \
        "KUBE-SEP-5K2PRRWC5OXVS4LH"
    assert table(rendered, "nat") == [
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        f":{ep3} - [0:0]",
        f":{ep1} - [0:0]",
        f":{ep2} - [0:0]",
        ":KUBE-SERVICES - [0:0]",
        f":{svc} - [0:0]",
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
        "--random-fully",
        f'-A {ep3} -s 127.224.2.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ',
        f'-A {ep3} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 127.224.2.2:8080',
        f'-A {ep1} -s 127.224.1.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ',
        f'-A {ep1} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 127.224.1.2:8080',
        f'-A {ep2} -s 127.224.1.3/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ',
        f'-A {ep2} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 127.224.1.3:8080',
        f'-A KUBE-SERVICES -d 127.96.12.34/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp '
        f"--dport 80 -j {svc}",
        '-A KUBE-SERVICES -d 127.18.0.2/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be '
        'the last rule in this chain" -j KUBE-NODEPORTS',
        f'-A {svc} ! -s 127.224.0.0/16 -d 127.96.12.34/32 -p tcp -m comment --comment "default/web:http cluster IP" '
        "-m tcp --dport 80 -j KUBE-MARK-MASQ",
        f'-A {svc} -m comment --comment "default/web:http -> 127.224.1.2:8080" -m statistic --mode random '
        f"--probability 0.33333333349 -j {ep1}",
        f'-A {svc} -m comment --comment "default/web:http -> 127.224.1.3:8080" -m statistic --mode random '
        f"--probability 0.50000000000 -j {ep2}",
        f'-A {svc} -m comment --comment "default/web:http -> 127.224.2.2:8080" -j {ep3}',
    ]
    assert "127.224.2.3" not in rendered


def test_filter_table_jumps_and_forwarding_rules() -> None:
    rendered = iptables.render([], [], "node-1")
    assert table(rendered, "filter") == [
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":KUBE-EXTERNAL-SERVICES - [0:0]",
        ":KUBE-FORWARD - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-PROXY-FIREWALL - [0:0]",
        ":KUBE-SERVICES - [0:0]",
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
        "-j KUBE-EXTERNAL-SERVICES",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
        "-j KUBE-EXTERNAL-SERVICES",
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" '
        "-j KUBE-PROXY-FIREWALL",
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate '
        "RELATED,ESTABLISHED -j ACCEPT",
    ]
    # Without a node IP, NodePorts are on every local address but loopback (upstream's default).
    assert ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule '
            'in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS') in rendered


def test_service_without_endpoints_is_rejected_in_the_filter_table() -> None:
    rendered = iptables.render(
        [service("db", "127.96.0.77", ports=[{"port": 5432, "protocol": "TCP"}], type="NodePort")],
        [], "node-1",
    )
    rendered_with_nodeport = iptables.render(
        [service("db", "127.96.0.77", ports=[{"port": 5432, "protocol": "TCP", "nodePort": 30432}], type="NodePort")],
        [slice_("db", [("127.224.1.9", {"ready": False}, "node-1")], port=5432, port_name="")], "node-1",
    )
    assert kube_rules(rendered, "filter", "KUBE-SERVICES") == [
        '-A KUBE-SERVICES -d 127.96.0.77/32 -p tcp -m comment --comment "default/db has no endpoints" -m tcp '
        "--dport 5432 -j REJECT --reject-with icmp-port-unreachable",
    ]
    assert kube_rules(rendered_with_nodeport, "filter", "KUBE-EXTERNAL-SERVICES") == [
        '-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/db has no endpoints" -m addrtype '
        "--dst-type LOCAL -m tcp --dport 30432 -j REJECT --reject-with icmp-port-unreachable",
    ]
    assert not [line for line in table(rendered_with_nodeport, "nat") if "KUBE-SVC-" in line or "KUBE-SEP-" in line]


def test_terminating_but_serving_endpoints_are_used_only_when_none_is_ready() -> None:
    terminating = {"ready": False, "serving": True, "terminating": True}
    only_terminating = iptables.render([service("web", "127.96.0.50")],
                                       [slice_("web", [("127.224.1.2", terminating, "node-1")])], "node-1")
    mixed = iptables.render([service("web", "127.96.0.50")],
                            [slice_("web", [("127.224.1.2", terminating, "node-1"),
                                            ("127.224.1.3", READY, "node-1")])], "node-1")
    assert "--to-destination 127.224.1.2:8080" in only_terminating
    assert "--to-destination 127.224.1.2:8080" not in mixed
    assert "--to-destination 127.224.1.3:8080" in mixed


def test_session_affinity_checks_recent_clients_first() -> None:
    rendered = iptables.render(
        [service("web", "127.96.0.50", sessionAffinity="ClientIP",
                 sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}})],
        [slice_("web", [("127.224.1.2", READY, "node-1"), ("127.224.1.3", READY, "node-1")])], "node-1",
    )
    svc = "KUBE-SVC-CDGGSHYLG3RE2FKL"
    ep1 = "KUBE-SEP-BUYQWHCZLXRRDOW3"
    assert [line for line in kube_rules(rendered, "nat", svc) if "recent" in line][0] == (
        f'-A {svc} -m comment --comment "default/web:http -> 127.224.1.2:8080" -m recent --rcheck --seconds 600 '
        f"--reap --name {ep1} --mask 255.255.255.255 --rsource -j {ep1}"
    )
    assert kube_rules(rendered, "nat", ep1)[1] == (
        f'-A {ep1} -p tcp -m comment --comment "default/web:http" -m recent --set --name {ep1} --mask 255.255.255.255 '
        "--rsource -m tcp -j DNAT --to-destination 127.224.1.2:8080"
    )


def test_node_port_with_cluster_policy_masquerades() -> None:
    rendered = iptables.render(
        [service("web", "127.96.0.50", type="NodePort", externalTrafficPolicy="Cluster",
                 ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [slice_("web", [("127.224.2.2", READY, "node-2")])], "node-1", node_ip="127.18.0.2",
    )
    ext, svc = "KUBE-EXT-CDGGSHYLG3RE2FKL", "KUBE-SVC-CDGGSHYLG3RE2FKL"
    assert kube_rules(rendered, "nat", "KUBE-NODEPORTS") == [
        f'-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j {ext}',
    ]
    assert kube_rules(rendered, "nat", ext) == [
        f'-A {ext} -m comment --comment "masquerade traffic for default/web:http external destinations" '
        "-j KUBE-MARK-MASQ",
        f"-A {ext} -j {svc}",
    ]


def test_external_traffic_policy_local_keeps_remote_endpoints_out() -> None:
    rendered = iptables.render(
        [service("web", "127.96.0.50", type="LoadBalancer", externalTrafficPolicy="Local",
                 ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
         | {"status": {"loadBalancer": {"ingress": [{"ip": "127.240.0.1"}]}}}],
        [slice_("web", [("127.224.1.2", READY, "node-1"), ("127.224.2.2", READY, "node-2")])], "node-1",
    )
    ext, svc, svl = "KUBE-EXT-CDGGSHYLG3RE2FKL", "KUBE-SVC-CDGGSHYLG3RE2FKL", "KUBE-SVL-CDGGSHYLG3RE2FKL"
    assert kube_rules(rendered, "nat", ext) == [
        f'-A {ext} -s 127.224.0.0/16 -m comment --comment "pod traffic for default/web:http external destinations" '
        f"-j {svc}",
        f'-A {ext} -m comment --comment "masquerade LOCAL traffic for default/web:http external destinations" '
        "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
        f'-A {ext} -m comment --comment "route LOCAL traffic for default/web:http external destinations" '
        f"-m addrtype --src-type LOCAL -j {svc}",
        f"-A {ext} -j {svl}",
    ]
    assert kube_rules(rendered, "nat", svl) == [
        f'-A {svl} -m comment --comment "default/web:http -> 127.224.1.2:8080" -j KUBE-SEP-BUYQWHCZLXRRDOW3',
    ]
    assert ('-A KUBE-SERVICES -d 127.240.0.1/32 -p tcp -m comment --comment "default/web:http loadbalancer IP" '
            f"-m tcp --dport 80 -j {ext}") in rendered
    on_node_3 = iptables.render(
        [service("web", "127.96.0.50", type="LoadBalancer", externalTrafficPolicy="Local",
                 ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
         | {"status": {"loadBalancer": {"ingress": [{"ip": "127.240.0.1"}]}}}],
        [slice_("web", [("127.224.1.2", READY, "node-1")])], "node-3",
    )
    assert ('-A KUBE-EXTERNAL-SERVICES -d 127.240.0.1/32 -p tcp -m comment --comment "default/web:http has no local '
            'endpoints" -m tcp --dport 80 -j DROP') in on_node_3


def test_internal_traffic_policy_local_without_local_endpoints_drops() -> None:
    rendered = iptables.render([service("web", "127.96.0.50", internalTrafficPolicy="Local")],
                               [slice_("web", [("127.224.2.2", READY, "node-2")])], "node-1")
    assert kube_rules(rendered, "filter", "KUBE-SERVICES") == [
        '-A KUBE-SERVICES -d 127.96.0.50/32 -p tcp -m comment --comment "default/web:http has no local endpoints" '
        "-m tcp --dport 80 -j DROP",
    ]


def test_load_balancer_source_ranges_add_a_firewall_chain() -> None:
    rendered = iptables.render(
        [service("web", "127.96.0.50", type="LoadBalancer", loadBalancerSourceRanges=["127.0.0.0/24"],
                 ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
         | {"status": {"loadBalancer": {"ingress": [{"ip": "127.240.0.1"}]}}}],
        [slice_("web", [("127.224.1.2", READY, "node-1")])], "node-1",
    )
    fw, ext = "KUBE-FW-CDGGSHYLG3RE2FKL", "KUBE-EXT-CDGGSHYLG3RE2FKL"
    assert kube_rules(rendered, "nat", fw) == [
        f'-A {fw} -s 127.0.0.0/24 -m comment --comment "default/web:http loadbalancer IP" -j {ext}',
        f'-A {fw} -m comment --comment "other traffic to default/web:http will be dropped by KUBE-PROXY-FIREWALL"',
    ]
    assert kube_rules(rendered, "filter", "KUBE-PROXY-FIREWALL") == [
        f'-A KUBE-PROXY-FIREWALL -d 127.240.0.1/32 -p tcp -m comment --comment "default/web:http traffic not '
        f'accepted by {fw}" -m tcp --dport 80 -j DROP',
    ]


def test_udp_ports_and_unnamed_ports() -> None:
    rendered = iptables.render(
        [service("kube-dns", "127.96.0.10", namespace="kube-system", ports=[
            {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]),
         service("db", "127.96.0.77", ports=[{"port": 5432, "protocol": "TCP"}])],
        [slice_("kube-dns", [("127.224.0.2", READY, "")], port=53, port_name="dns", protocol="UDP",
                namespace="kube-system"),
         slice_("db", [("127.224.1.5", READY, "node-1")], port=5432, port_name="")],
        "node-1",
    )
    assert ('-A KUBE-SERVICES -d 127.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" '
            "-m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU") in rendered
    assert ('-A KUBE-SERVICES -d 127.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp has no '
            'endpoints" -m tcp --dport 53 -j REJECT --reject-with icmp-port-unreachable') in rendered
    assert '--comment "default/db cluster IP"' in rendered


def test_headless_and_external_name_services_have_no_rules() -> None:
    rendered = iptables.render(
        [service("headless", "None"),
         {"metadata": {"name": "ext", "namespace": "default"},
          "spec": {"type": "ExternalName", "externalName": "example.com"}}],
        [slice_("headless", [("127.224.1.2", READY, "node-1")])], "node-1",
    )
    assert "headless" not in rendered and "default/ext" not in rendered


def test_comments_are_dropped_in_large_clusters() -> None:
    endpoints = [(f"127.224.{i // 200 + 1}.{i % 200 + 2}", READY, "node-1") for i in range(1001)]
    rendered = iptables.render([service("big", "127.96.0.60")], [slice_("big", endpoints)], "node-1")
    sep_rules = [line for line in table(rendered, "nat") if line.startswith("-A KUBE-SEP-")]
    assert len(sep_rules) == 2002 and not any("--comment" in line for line in sep_rules)
