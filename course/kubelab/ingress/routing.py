"""Which backend a request goes to: the Ingress rules of one class, merged into one routing table.

Follows the Ingress specification (``networking.k8s.io/v1``) and ingress-nginx where the
specification leaves a choice:

- hosts: an exact host beats a wildcard (``*.example.com`` matches exactly one more label),
  which beats the rules without a host; a request whose host has rules is routed by those
  rules only;
- paths, among those of the chosen host: the longest matching path wins, an ``Exact`` path
  before a ``Prefix`` one of the same length; ``Prefix`` matches whole path elements
  (``/foo`` matches ``/foo`` and ``/foo/bar``, not ``/foobar``; a trailing slash is ignored);
  ``ImplementationSpecific`` is matched as ``Prefix``;
- no path matches: the ``defaultBackend`` of the Ingress that owns the host's rules, else the
  cluster-wide one (of the oldest Ingress that has one), else nothing (a 404);
- the same host and path in two Ingresses: the older Ingress wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


@dataclass(frozen=True)
class Backend:
    """Where matched requests go: a Service port (by number or name), or a resource (not served here)."""

    namespace: str
    service: str = ""
    port: int | str = 0
    resource: str = ""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port}" if self.service else f"{self.namespace}/{self.resource}"


@dataclass(frozen=True)
class Route:
    """The outcome of matching: the backend, and which Ingress (``namespace/name``) and path sent it there."""

    backend: Backend
    ingress: str
    path: str = ""
    path_type: str = ""


@dataclass(frozen=True)
class _Path:
    path: str
    path_type: str
    route: Route


def ingress_key(ingress: Mapping[str, Any]) -> str:
    meta = ingress.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def _age(ingress: Mapping[str, Any]) -> tuple[str, str]:
    return (ingress.get("metadata") or {}).get("creationTimestamp") or "", ingress_key(ingress)


def is_ours(ingress: Mapping[str, Any], class_name: str, is_default: bool) -> bool:
    """Whether ``ingress`` is for the class ``class_name`` (by name, the old annotation, or by default)."""
    spec = ingress.get("spec") or {}
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    if spec.get("ingressClassName"):
        return bool(spec["ingressClassName"] == class_name)
    if annotations.get(CLASS_ANNOTATION):
        return bool(annotations[CLASS_ANNOTATION] == class_name)
    return is_default


def backend_of(ingress: Mapping[str, Any], backend: Mapping[str, Any] | None) -> Backend | None:
    """An IngressBackend as a :class:`Backend` (None when it names nothing)."""
    if not backend:
        return None
    namespace = (ingress.get("metadata") or {}).get("namespace") or "default"
    service = backend.get("service")
    if service:
        port = service.get("port") or {}
        return Backend(namespace, service.get("name") or "", port.get("number") or port.get("name") or 0)
    resource = backend.get("resource")
    if resource:
        return Backend(namespace, resource=f"{resource.get('kind')}/{resource.get('name')}")
    return None


def _elements(path: str) -> list[str]:
    return [e for e in path.split("/") if e]


def path_matches(path: str, path_type: str, request_path: str) -> bool:
    """Whether an Ingress path of ``path_type`` matches ``request_path`` (the Ingress specification's table)."""
    if path_type == "Exact":
        return request_path == path
    wanted = _elements(path)
    return _elements(request_path)[: len(wanted)] == wanted


def host_matches(rule_host: str, host: str) -> bool:
    """Whether a rule's host (possibly ``*.domain``) matches a request's host."""
    if rule_host.startswith("*."):
        suffix = rule_host[1:]
        return host.endswith(suffix) and "." not in host[: -len(suffix)] and len(host) > len(suffix)
    return rule_host == host


class RoutingTable:
    """Every rule of the Ingresses of one class, ready to route requests."""

    def __init__(self, ingresses: Iterable[Mapping[str, Any]]) -> None:
        self.hosts: dict[str, list[_Path]] = {}
        self._host_defaults: dict[str, Route] = {}
        self.default: Route | None = None
        self.tls: dict[str, tuple[str, str]] = {}
        """host (or ``*.domain``, or "" for any) → (namespace, Secret name), the older Ingress first."""
        self.ssl_redirect: dict[str, bool] = {}
        seen: set[tuple[str, str, str]] = set()
        for ingress in sorted(ingresses, key=_age):
            key = ingress_key(ingress)
            spec = ingress.get("spec") or {}
            meta = ingress.get("metadata") or {}
            default = backend_of(ingress, spec.get("defaultBackend"))
            if default is not None and self.default is None:
                self.default = Route(default, key)
            for tls in spec.get("tls") or []:
                for host in tls.get("hosts") or [""]:
                    if tls.get("secretName"):
                        self.tls.setdefault(host.lower(), (meta.get("namespace") or "default", tls["secretName"]))
            redirect = (meta.get("annotations") or {}).get("nginx.ingress.kubernetes.io/ssl-redirect") != "false"
            for rule in spec.get("rules") or []:
                host = (rule.get("host") or "").lower()
                paths = self.hosts.setdefault(host, [])
                self.ssl_redirect.setdefault(host, redirect)
                if default is not None:
                    self._host_defaults.setdefault(host, Route(default, key))
                for path in (rule.get("http") or {}).get("paths") or []:
                    backend = backend_of(ingress, path.get("backend"))
                    path_type = path.get("pathType") or "ImplementationSpecific"
                    value = path.get("path") or "/"
                    if backend is None or (host, value, path_type) in seen:
                        continue
                    seen.add((host, value, path_type))
                    paths.append(_Path(value, path_type, Route(backend, key, value, path_type)))

    def backends(self) -> set[Backend]:
        """Every backend some request may be routed to."""
        routes = [p.route for paths in self.hosts.values() for p in paths]
        routes += [*self._host_defaults.values(), *([self.default] if self.default else [])]
        return {route.backend for route in routes}

    def host_rules(self, host: str) -> str | None:
        """The rule host a request's host is routed by: itself, a wildcard, "" (rules without a host), or None."""
        host = host.lower()
        if host in self.hosts and host:
            return host
        wildcards = [h for h in self.hosts if h.startswith("*.") and host_matches(h, host)]
        if wildcards:
            return max(wildcards, key=len)
        return "" if "" in self.hosts else None

    def match(self, host: str, path: str) -> Route | None:
        """The route for a request to ``host`` (no port) and ``path`` (no query), or None for the 404."""
        rule_host = self.host_rules(host)
        if rule_host is None:
            return self.default
        matching = [p for p in self.hosts[rule_host] if path_matches(p.path, p.path_type, path)]
        if matching:
            best = max(matching, key=lambda p: (len(p.path.rstrip("/") or "/"), p.path_type == "Exact"))
            return best.route
        return self._host_defaults.get(rule_host, self.default)

    def tls_secret(self, host: str) -> tuple[str, str] | None:
        """The (namespace, Secret) holding the certificate for ``host``: exact, wildcard, else a TLS entry without hosts."""
        return self._tls_for(host) or self.tls.get("")

    def _tls_for(self, host: str) -> tuple[str, str] | None:
        host = host.lower()
        if host and host in self.tls:
            return self.tls[host]
        wildcards = [h for h in self.tls if h.startswith("*.") and host_matches(h, host)]
        return self.tls[max(wildcards, key=len)] if wildcards else None

    def redirects_to_https(self, host: str) -> bool:
        """Whether plain HTTP to ``host`` is redirected to HTTPS: it has TLS of its own and no annotation says otherwise."""
        rule_host = self.host_rules(host)
        return self._tls_for(host) is not None and self.ssl_redirect.get(rule_host or "", True)
