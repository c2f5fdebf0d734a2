"""A pod's DNS client: resolv.conf for each DNS policy, the search path, and the wire format."""

from __future__ import annotations

from typing import Any

import dns.message
import dns.rrset
import pytest

from kubelab.dns.resolver import (
    AAAA,
    CNAME,
    NXDOMAIN,
    A,
    ResolvConf,
    Resolver,
    build_query,
    parse_response,
    pod_resolv_conf,
)

HOST = ResolvConf(nameservers=["10.0.0.2"], search=["corp.example"], options={"edns0": ""})


def pod(namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def conf_text(p: dict[str, Any]) -> str:
    return pod_resolv_conf(p, nameserver="127.96.0.10", cluster_domain="cluster.local", host=HOST).render()


def test_cluster_first_is_the_default() -> None:
    assert conf_text(pod()) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 127.96.0.10\n"
        "options ndots:5\n"
    )


@pytest.mark.parametrize(("spec", "expected"), [
    ({"dnsPolicy": "Default"}, "search corp.example\nnameserver 10.0.0.2\noptions edns0\n"),
    ({"hostNetwork": True}, "search corp.example\nnameserver 10.0.0.2\noptions edns0\n"),
    ({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"},
     "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 127.96.0.10\n"
     "options ndots:5\n"),
    ({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["a.example"],
                                         "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}},
     "search a.example\nnameserver 1.1.1.1\noptions ndots:2 rotate\n"),
    ({"dnsConfig": {"nameservers": ["1.1.1.1", "8.8.8.8", "9.9.9.9"], "options": [{"name": "ndots", "value": "1"}]}},
     "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
     "nameserver 127.96.0.10\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:1\n"),
], ids=["default", "host-network", "cluster-first-with-host-net", "none", "dns-config-merged"])
def test_dns_policies(spec: dict[str, Any], expected: str) -> None:
    assert conf_text(pod(**spec)) == expected


def test_resolv_conf_round_trip_and_glibc_limits() -> None:
    conf = ResolvConf.parse("# comment\nnameserver 127.96.0.10 ; trailing\ndomain old.example\n"
                            "search a b\noptions ndots:99 timeout:x attempts:3 rotate\nunknown line\n")
    assert conf.nameservers == ["127.96.0.10"] and conf.search == ["a", "b"]
    assert (conf.ndots, conf.timeout, conf.attempts) == (15, 5, 3)
    assert ResolvConf.parse(conf.render()) == conf


@pytest.mark.parametrize(("name", "expected"), [
    ("web", ["web.shop.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web."]),
    ("web.shop", ["web.shop.shop.svc.cluster.local.", "web.shop.svc.cluster.local.", "web.shop.cluster.local.",
                  "web.shop."]),
    ("a.b.c.d.example.com", ["a.b.c.d.example.com.", "a.b.c.d.example.com.shop.svc.cluster.local.",
                             "a.b.c.d.example.com.svc.cluster.local.", "a.b.c.d.example.com.cluster.local."]),
    ("example.com.", ["example.com."]),
])
def test_search_path_with_ndots(name: str, expected: list[str]) -> None:
    conf = pod_resolv_conf(pod(), nameserver="127.96.0.10", cluster_domain="cluster.local")
    assert Resolver(conf).candidates(name) == expected


def test_queries_are_what_dnspython_reads() -> None:
    message = dns.message.from_wire(build_query("web.shop.svc.cluster.local.", A, 4242))
    assert message.id == 4242 and message.question[0].to_text() == "web.shop.svc.cluster.local. IN A"


def test_responses_from_dnspython_are_read_with_compression_and_cnames() -> None:
    query = dns.message.make_query("alias.example.", "A")
    response = dns.message.make_response(query)
    response.answer = [
        dns.rrset.from_text("alias.example.", 30, "IN", "CNAME", "web.example."),
        dns.rrset.from_text("web.example.", 30, "IN", "A", "127.96.0.7", "127.96.0.8"),
        dns.rrset.from_text("web.example.", 30, "IN", "AAAA", "::1"),
    ]
    parsed = parse_response(response.to_wire(), query.id)
    assert parsed.rcode == 0 and not parsed.truncated
    assert sorted(parsed.answers) == [("alias.example.", CNAME, "web.example."), ("web.example.", A, "127.96.0.7"),
                                      ("web.example.", A, "127.96.0.8"), ("web.example.", AAAA, "::1")]


def test_a_response_to_another_query_is_refused() -> None:
    query = dns.message.make_query("web.example.", "A")
    nx = dns.message.make_response(query)
    nx.set_rcode(NXDOMAIN)
    assert parse_response(nx.to_wire(), query.id).rcode == NXDOMAIN
    with pytest.raises(ValueError, match="not the response"):
        parse_response(nx.to_wire(), (query.id + 1) % 65536)
