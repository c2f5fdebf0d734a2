"""What a request asks for, read from its method, path and query: verb, group, version, resource.

Mirrors ``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``::

    GET    /api/v1/namespaces/default/pods            list pods in default
    GET    /apis/apps/v1/deployments?watch=true        watch deployments in every namespace
    PATCH  /api/v1/namespaces/default/pods/web/status  patch the status subresource of pod web
    DELETE /api/v1/namespaces/default/pods             deletecollection
"""

from __future__ import annotations

from dataclasses import dataclass, field

API_PREFIXES = ("api", "apis")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass
class RequestInfo:
    """The parsed request; ``is_resource_request`` is False for ``/version``, ``/healthz``..."""

    path: str
    verb: str
    is_resource_request: bool = False
    api_prefix: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)

    @property
    def extra(self) -> list[str]:
        """Path segments after the subresource (``proxy/some/path``)."""
        return self.parts[3:]


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def parse(method: str, path: str, watch_param: str | None = None) -> RequestInfo:
    """Parse one request; ``watch_param`` is the ``watch`` query parameter, if any."""
    verb = _METHOD_VERBS.get(method, method.lower())
    info = RequestInfo(path=path, verb=verb)
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) < 2 or parts[0] not in API_PREFIXES:
        return info
    info.api_prefix = parts[0]
    parts = parts[1:]
    if info.api_prefix == "apis":
        if len(parts) < 2:  # /apis/<group>: a discovery document
            return info
        info.api_group, parts = parts[0], parts[1:]
    info.api_version, parts = parts[0], parts[1:]
    if not parts:
        return info
    info.is_resource_request = True
    if parts[0] == "watch":  # the deprecated /api/v1/watch/... form
        info.verb, parts = "watch", parts[1:]
        if not parts:
            info.is_resource_request = False
            return info
    if parts[0] == "namespaces" and len(parts) > 1:
        info.namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    info.parts = parts
    info.resource = parts[0]
    if len(parts) >= 2:
        info.name = parts[1]
    if len(parts) >= 3:
        info.subresource = parts[2]
    if info.verb == "get" and not info.name and info.resource:
        info.verb = "watch" if _truthy(watch_param) else "list"
    elif info.verb == "delete" and not info.name:
        info.verb = "deletecollection"
    return info
