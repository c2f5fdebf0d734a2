"""Ingress routing: the specification's path-matching table, host precedence, classes, defaults, TLS."""

from __future__ import annotations

from typing import Any

import pytest

from kubelab.ingress.routing import Backend, RoutingTable, host_matches, is_ours, path_matches


@pytest.mark.parametrize(("path_type", "path", "request_path", "matches"), [
    # The examples table of the Ingress documentation.
    ("Prefix", "/", "/anything/at/all", True),
    ("Exact", "/foo", "/foo", True),
    ("Exact", "/foo", "/bar", False),
    ("Exact", "/foo", "/foo/", False),
    ("Exact", "/foo/", "/foo", False),
    ("Prefix", "/foo", "/foo", True),
    ("Prefix", "/foo", "/foo/", True),
    ("Prefix", "/foo/", "/foo", True),
    ("Prefix", "/foo/", "/foo/", True),
    ("Prefix", "/aaa/bb", "/aaa/bbb", False),
    ("Prefix", "/aaa/bbb", "/aaa/bbb", True),
    ("Prefix", "/aaa/bbb/", "/aaa/bbb", True),
    ("Prefix", "/aaa/bbb", "/aaa/bbb/", True),
    ("Prefix", "/aaa/bbb", "/aaa/bbb/ccc", True),
    ("Prefix", "/aaa/bbb", "/aaa/bbbxyz", False),
    ("ImplementationSpecific", "/aaa", "/aaa/ccc", True),
])
def test_path_matching(path_type: str, path: str, request_path: str, matches: bool) -> None:
    assert path_matches(path, path_type, request_path) is matches


def ingress(name: str, rules: list[dict[str, Any]], *, created: str = "2024-01-01T00:00:00Z", namespace: str = "default",
            **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created,
                         "annotations": spec.pop("annotations", {})},
            "spec": {"rules": rules, **spec}}


def rule(host: str | None, *paths: tuple[str, str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {"http": {"paths": [
        {"path": path, "pathType": kind, "backend": {"service": {"name": service, "port": {"number": 80}}}}
        for path, kind, service in paths]}}
    if host is not None:
        result["host"] = host
    return result


def service_of(table: RoutingTable, host: str, path: str) -> str | None:
    route = table.match(host, path)
    return route.backend.service if route else None


@pytest.mark.parametrize(("paths", "request_path", "expected"), [
    ([("/", "Prefix", "root"), ("/aaa", "Prefix", "aaa")], "/aaa/ccc", "aaa"),
    ([("/", "Prefix", "root"), ("/aaa", "Prefix", "aaa"), ("/aaa/bbb", "Prefix", "bbb")], "/aaa/bbb", "bbb"),
    ([("/", "Prefix", "root"), ("/aaa", "Prefix", "aaa"), ("/aaa/bbb", "Prefix", "bbb")], "/ccc", "root"),
    ([("/aaa", "Prefix", "aaa")], "/ccc", None),
    ([("/foo", "Prefix", "prefix"), ("/foo", "Exact", "exact")], "/foo", "exact"),
    ([("/foo", "Prefix", "prefix"), ("/foo", "Exact", "exact")], "/foo/bar", "prefix"),
], ids=["longest-prefix", "longer-still", "falls-back-to-root", "no-match", "exact-beats-prefix", "prefix-only"])
def test_longest_path_wins_and_exact_beats_prefix(paths: list[tuple[str, str, str]], request_path: str,
                                                  expected: str | None) -> None:
    assert service_of(RoutingTable([ingress("i", [rule("example.com", *paths)])]), "example.com", request_path) == expected


def test_host_precedence_exact_then_wildcard_then_any() -> None:
    table = RoutingTable([ingress("i", [
        rule("foo.example.com", ("/", "Prefix", "foo")),
        rule("*.example.com", ("/", "Prefix", "wild")),
        rule(None, ("/", "Prefix", "any")),
    ])])
    assert service_of(table, "foo.example.com", "/") == "foo"
    assert service_of(table, "FOO.Example.com", "/") == "foo"
    assert service_of(table, "bar.example.com", "/") == "wild"
    assert service_of(table, "a.bar.example.com", "/") == "any"
    assert service_of(table, "example.com", "/") == "any"
    assert service_of(table, "127.0.0.1", "/") == "any"


@pytest.mark.parametrize(("rule_host", "host", "matches"), [
    ("*.example.com", "foo.example.com", True), ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False), ("foo.example.com", "foo.example.com", True),
])
def test_wildcard_hosts_match_one_label(rule_host: str, host: str, matches: bool) -> None:
    assert host_matches(rule_host, host) is matches


def test_a_host_with_rules_never_falls_through_to_rules_without_a_host() -> None:
    table = RoutingTable([ingress("i", [rule("api.example.com", ("/v1", "Prefix", "v1")), rule(None, ("/", "Prefix", "any"))])])
    assert service_of(table, "api.example.com", "/v2") is None


def test_default_backends_of_the_host_then_of_the_cluster() -> None:
    default = {"service": {"name": "fallback", "port": {"number": 80}}}
    older = ingress("catch-all", [], created="2024-01-01T00:00:00Z", defaultBackend=default)
    newer = ingress("shop", [rule("shop.example.com", ("/cart", "Prefix", "cart"))], created="2024-02-01T00:00:00Z",
                    defaultBackend={"service": {"name": "shop-home", "port": {"number": 80}}})
    table = RoutingTable([newer, older])
    assert service_of(table, "shop.example.com", "/cart/1") == "cart"
    assert service_of(table, "shop.example.com", "/other") == "shop-home"
    assert service_of(table, "unknown.example.com", "/") == "fallback"


def test_the_older_ingress_wins_a_conflict() -> None:
    first = ingress("first", [rule("x.example.com", ("/", "Prefix", "first"))], created="2024-01-01T00:00:00Z")
    second = ingress("second", [rule("x.example.com", ("/", "Prefix", "second"))], created="2024-03-01T00:00:00Z")
    route = RoutingTable([second, first]).match("x.example.com", "/")
    assert route is not None and route.backend.service == "first" and route.ingress == "default/first"


def test_backends_by_port_name_and_namespace() -> None:
    table = RoutingTable([ingress("i", [{"host": "a", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "web", "port": {"name": "http"}}}}]}}], namespace="shop")])
    route = table.match("a", "/")
    assert route is not None and route.backend == Backend("shop", "web", "http")
    assert table.backends() == {Backend("shop", "web", "http")}


@pytest.mark.parametrize(("spec", "annotations", "is_default", "ours"), [
    ({"ingressClassName": "kubelab"}, {}, False, True),
    ({"ingressClassName": "nginx"}, {}, True, False),
    ({}, {"kubernetes.io/ingress.class": "kubelab"}, False, True),
    ({}, {"kubernetes.io/ingress.class": "nginx"}, True, False),
    ({}, {}, True, True),
    ({}, {}, False, False),
])
def test_which_ingresses_are_ours(spec: dict[str, Any], annotations: dict[str, str], is_default: bool,
                                  ours: bool) -> None:
    obj = {"metadata": {"name": "i", "annotations": annotations}, "spec": spec}
    assert is_ours(obj, "kubelab", is_default) is ours


def test_tls_secrets_by_host_and_the_https_redirect() -> None:
    table = RoutingTable([
        ingress("secure", [rule("secure.example.com", ("/", "Prefix", "web")), rule("plain.example.com")],
                tls=[{"hosts": ["secure.example.com", "*.wild.example.com"], "secretName": "cert"}]),
        ingress("relaxed", [rule("relaxed.example.com", ("/", "Prefix", "web"))], namespace="other",
                tls=[{"hosts": ["relaxed.example.com"], "secretName": "other-cert"}],
                annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
    ])
    assert table.tls_secret("secure.example.com") == ("default", "cert")
    assert table.tls_secret("a.wild.example.com") == ("default", "cert")
    assert table.tls_secret("plain.example.com") is None
    assert table.redirects_to_https("secure.example.com")
    assert not table.redirects_to_https("plain.example.com")
    assert table.tls_secret("relaxed.example.com") == ("other", "other-cert")
    assert not table.redirects_to_https("relaxed.example.com")
