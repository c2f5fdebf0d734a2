"""The cluster zone: what CoreDNS's kubernetes plugin answers, built from Services and EndpointSlices."""

from __future__ import annotations

from typing import Any

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from kubelab.dns.records import ClusterZone


def service(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def slice_(service_name: str, endpoints: list[dict[str, Any]], namespace: str = "default",
           ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": f"{service_name}-x", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def ready(ip: str, **extra: Any) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": {"ready": True}, **extra}


ZONE = ClusterZone(
    [
        service("web", type="ClusterIP", clusterIP="127.96.12.34", clusterIPs=["127.96.12.34"],
                ports=[{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 9090, "protocol": "TCP"}]),
        service("db", "data", type="ClusterIP", clusterIP="None",
                ports=[{"name": "postgres", "port": 5432, "protocol": "TCP"}]),
        service("all", "data", type="ClusterIP", clusterIP="None", publishNotReadyAddresses=True),
        service("search", type="ExternalName", externalName="search.example.com"),
        service("alias", type="ExternalName", externalName="web.default.svc.cluster.local"),
    ],
    [
        slice_("db", [ready("127.244.1.5", hostname="db-0"), ready("127.244.2.6", hostname="db-1"),
                      ready("127.244.3.7"), {"addresses": ["127.244.1.9"], "conditions": {"ready": False}}],
               namespace="data", ports=[{"name": "postgres", "port": 5432, "protocol": "TCP"}]),
        slice_("all", [{"addresses": ["127.244.1.10"], "conditions": {"ready": False}}], namespace="data"),
    ],
    serial=1700000000,
)


def ask(name: str, rdtype: str = "A") -> tuple[str, list[str], list[str], list[str]]:
    answer = ZONE.resolve(dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
    return (dns.rcode.to_text(answer.rcode), [r.to_text() for r in answer.answer],
            [r.to_text() for r in answer.authority], [r.to_text() for r in answer.additional])


SOA = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5"


def test_a_service_name_answers_its_cluster_ip() -> None:
    assert ask("web.default.svc.cluster.local") == (
        "NOERROR", ["web.default.svc.cluster.local. 5 IN A 127.96.12.34"], [], [])


def test_names_are_case_insensitive() -> None:
    assert ask("WEB.Default.SVC.cluster.local")[1] == ["web.default.svc.cluster.local. 5 IN A 127.96.12.34"]


def test_an_unknown_name_is_nxdomain_with_the_zone_soa() -> None:
    assert ask("nope.default.svc.cluster.local") == ("NXDOMAIN", [], [SOA], [])


def test_a_known_name_without_that_type_is_nodata() -> None:
    assert ask("web.default.svc.cluster.local", "AAAA") == ("NOERROR", [], [SOA], [])


@pytest.mark.parametrize(("name", "rcode"), [
    ("cluster.local", "NOERROR"), ("svc.cluster.local", "NOERROR"), ("default.svc.cluster.local", "NOERROR"),
    ("data.svc.cluster.local", "NOERROR"), ("empty.svc.cluster.local", "NXDOMAIN"),
])
def test_namespaces_and_the_zone_itself_exist(name: str, rcode: str) -> None:
    assert ask(name)[0] == rcode


def test_srv_for_a_named_port_of_a_cluster_ip_service() -> None:
    assert ask("_http._tcp.web.default.svc.cluster.local", "SRV") == (
        "NOERROR",
        ["_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."],
        [],
        ["web.default.svc.cluster.local. 5 IN A 127.96.12.34"],
    )
    assert ask("_http._udp.web.default.svc.cluster.local", "SRV")[0] == "NXDOMAIN"


def test_a_headless_service_answers_its_ready_endpoints() -> None:
    rcode, answer, _, _ = ask("db.data.svc.cluster.local")
    assert rcode == "NOERROR"
    assert answer[0].splitlines() == [
        "db.data.svc.cluster.local. 5 IN A 127.244.1.5",
        "db.data.svc.cluster.local. 5 IN A 127.244.2.6",
        "db.data.svc.cluster.local. 5 IN A 127.244.3.7",
    ]


def test_headless_endpoints_have_names_of_their_own() -> None:
    assert ask("db-0.db.data.svc.cluster.local")[1] == ["db-0.db.data.svc.cluster.local. 5 IN A 127.244.1.5"]
    assert ask("127-244-3-7.db.data.svc.cluster.local")[1] == [
        "127-244-3-7.db.data.svc.cluster.local. 5 IN A 127.244.3.7"]
    assert ask("127-244-1-9.db.data.svc.cluster.local")[0] == "NXDOMAIN"


def test_srv_of_a_headless_service_names_each_endpoint() -> None:
    rcode, answer, _, additional = ask("_postgres._tcp.db.data.svc.cluster.local", "SRV")
    assert answer[0].splitlines() == [
        "_postgres._tcp.db.data.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.data.svc.cluster.local.",
        "_postgres._tcp.db.data.svc.cluster.local. 5 IN SRV 0 33 5432 db-1.db.data.svc.cluster.local.",
        "_postgres._tcp.db.data.svc.cluster.local. 5 IN SRV 0 33 5432 127-244-3-7.db.data.svc.cluster.local.",
    ]
    assert "db-1.db.data.svc.cluster.local. 5 IN A 127.244.2.6" in additional


def test_publish_not_ready_addresses_includes_unready_endpoints() -> None:
    assert ask("all.data.svc.cluster.local")[1] == ["all.data.svc.cluster.local. 5 IN A 127.244.1.10"]


def test_external_name_is_a_cname() -> None:
    assert ask("search.default.svc.cluster.local") == (
        "NOERROR", ["search.default.svc.cluster.local. 5 IN CNAME search.example.com."], [], [])


def test_a_cname_into_the_cluster_is_followed() -> None:
    assert ask("alias.default.svc.cluster.local")[1] == [
        "alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.",
        "web.default.svc.cluster.local. 5 IN A 127.96.12.34",
    ]


def test_pod_names_answer_the_address_they_spell() -> None:
    assert ask("127-244-1-5.data.pod.cluster.local")[1] == ["127-244-1-5.data.pod.cluster.local. 5 IN A 127.244.1.5"]
    assert ask("not-an-ip.data.pod.cluster.local")[0] == "NXDOMAIN"


def test_reverse_lookups_of_cluster_addresses() -> None:
    assert ask("34.12.96.127.in-addr.arpa", "PTR")[1] == [
        "34.12.96.127.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."]
    assert ask("5.1.244.127.in-addr.arpa", "PTR")[1] == [
        "5.1.244.127.in-addr.arpa. 5 IN PTR db-0.db.data.svc.cluster.local."]
    assert not ZONE.is_authoritative_for(dns.name.from_text("1.1.1.1.in-addr.arpa"))
    assert not ZONE.is_authoritative_for(dns.name.from_text("example.com"))


def test_the_zone_soa() -> None:
    assert ask("cluster.local", "SOA")[1] == [SOA]


def test_another_cluster_domain() -> None:
    zone = ClusterZone([service("web", clusterIP="127.96.0.7", ports=[])], [], domain="lab.internal")
    answer = zone.resolve(dns.name.from_text("web.default.svc.lab.internal"), dns.rdatatype.A)
    assert [r.to_text() for r in answer.answer] == ["web.default.svc.lab.internal. 5 IN A 127.96.0.7"]
