"""A small Kubernetes API client that speaks plain dicts, the shape of the YAML you write.

    client = Client(api_client)                      # any official-client ApiClient
    deployments = client.resource("apps/v1", "deployments")   # or "Deployment"
    d = deployments.get("web", "default")
    d["spec"]["replicas"] = 3
    deployments.update(d)
    for type, pod in client.resource("v1", "pods").watch("default"):
        print(type, pod["metadata"]["name"])

It rides on the official client's ``ApiClient`` for its configuration, TLS and credentials,
but sends and parses JSON itself: building pydantic models for every object is far too slow
for a scheduler placing hundreds of pods a second. Failures raise :mod:`kubelab.errors`.
The REST paths and query parameters are those of client-go's ``rest`` and ``dynamic`` clients.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urlencode

import kubernetes.client
import urllib3
from kubernetes.client import rest

from kubelab import errors
from kubelab.api.resources import BUILTIN, ResourceInfo
from kubelab.api.selectors import FieldSelector, LabelSelector

PatchType = Literal["merge", "strategic", "json", "apply"]
Selector = str | Mapping[str, Any] | LabelSelector | FieldSelector | None
"""A label or field selector: ``"app=web,tier!=db"``, ``{"app": "web"}``, ``{"matchLabels": ...}``, or a selector object."""

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

DEFAULT_TIMEOUT = 60.0
"""Seconds a single (non-watch) request may take before it fails with ConnectionFailed."""

_POOL_SIZE = 64
"""Connections kept open to the server: every informer's watch holds one, workers share the rest."""


class Client:
    """A connection to one cluster's API server, shared by every thread that uses it."""

    def __init__(self, api_client: kubernetes.client.ApiClient, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.api_client = api_client
        self.timeout = timeout
        configuration = copy.deepcopy(api_client.configuration)
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, _POOL_SIZE)
        self._pool = rest.RESTClientObject(configuration).pool_manager
        self._lock = threading.Lock()
        self._discovered: dict[str, list[ResourceInfo]] = {}

    @classmethod
    def from_kubeconfig(cls, path: str, context: str | None = None) -> Client:
        """A client for the cluster a kubeconfig file points at."""
        from kubelab.kubeconfig import api_client

        return cls(api_client(path, context))

    def close(self) -> None:
        """Close the connections this client opened (not the ``ApiClient``'s own)."""
        self._pool.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- resources ---------------------------------------------------------------------

    def resource(self, api_version: str, name: str) -> Resource:
        """The resource ``name`` (plural, singular, short name or Kind) of ``api_version``.

        Built-in resources are known without asking the server; others (custom resources)
        are found through the server's discovery documents.
        """
        group, _, version = api_version.rpartition("/")
        for info in _BUILTIN_BY_GV.get((group, version), ()):
            if _names(info, name):
                return Resource(self, info)
        for info in self._discover(group, version):
            if _names(info, name):
                return Resource(self, info)
        raise errors.NotFound(
            {"code": 404, "reason": "NotFound",
             "message": f'the server doesn\'t have a resource type "{name}" in {api_version}'}
        )

    def resource_for(self, obj: Mapping[str, Any]) -> Resource:
        """The resource an object belongs to, from its ``apiVersion`` and ``kind``."""
        try:
            return self.resource(obj["apiVersion"], obj["kind"])
        except KeyError as e:
            raise ValueError(f"the object has no {e.args[0]}: cannot tell which resource it is") from None

    def _discover(self, group: str, version: str) -> list[ResourceInfo]:
        api_version = f"{group}/{version}" if group else version
        with self._lock:
            if api_version in self._discovered:
                return self._discovered[api_version]
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        try:
            document = self.request("GET", path)
        except errors.NotFound:
            document = {}
        found = [
            ResourceInfo(
                group, version, r["kind"], r["name"], r.get("singularName") or r["kind"].lower(),
                bool(r.get("namespaced")), short_names=tuple(r.get("shortNames") or ()),
            )
            for r in document.get("resources", [])
            if "/" not in r["name"]
        ]
        with self._lock:
            self._discovered[api_version] = found
        return found

    # -- raw requests ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """Send one request; return the parsed JSON answer (or the text, if it is not JSON).

        ``path`` is the server-relative path, e.g. ``/version`` or
        ``/api/v1/namespaces/default/pods/web/log``.
        """
        response = self.open(method, path, query=query, body=body, content_type=content_type,
                             timeout=timeout)
        try:
            data = response.read()
        except urllib3.exceptions.HTTPError as e:
            raise errors.ConnectionFailed(f"{method} {path}: the connection broke: {e}") from e
        finally:
            response.release_conn()
        if "json" in (response.headers.get("Content-Type") or "application/json"):
            return json.loads(data) if data else None
        return data.decode("utf-8", "replace")

    def open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | urllib3.Timeout | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request and return the streaming answer once it is known to be a success."""
        _, url, headers, _, _ = self.api_client.param_serialize(
            method, path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        if query:
            url += "?" + urlencode({k: _query_value(v) for k, v in query.items() if v is not None})
        data: bytes | None = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = body if isinstance(body, bytes) else dumps(body).encode()
        try:
            response = self._pool.request(
                method, url, body=data, headers=headers, preload_content=False,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except urllib3.exceptions.HTTPError as e:
            raise errors.ConnectionFailed(
                f"{method} {path}: cannot reach the API server at {self.api_client.configuration.host}: {e}"
            ) from e
        if response.status >= 300:
            try:
                raise errors.from_response(response.status, response.read())
            finally:
                response.release_conn()
        return response


class Resource:
    """One kind of object on the server (``pods``, ``apps/v1 deployments``...): CRUD, watch, subresources.

    Namespaced calls take ``namespace``; where an object is passed its own
    ``metadata.namespace`` is used instead, and ``"default"`` when neither says.
    ``list`` and ``watch`` without a namespace cover every namespace.
    """

    def __init__(self, client: Client, info: ResourceInfo) -> None:
        self.client = client
        self.info = info

    def __repr__(self) -> str:
        return f"<Resource {self.info.group_resource} {self.info.api_version}>"

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path, e.g. ``/apis/apps/v1/namespaces/default/deployments/web/scale``."""
        info = self.info
        parts = [f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"]
        if info.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(info.plural)
        if name is not None:
            if not name:
                raise ValueError(f"a {info.kind} name must not be empty")
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def _namespace(self, namespace: str | None, obj: Mapping[str, Any] | None = None) -> str | None:
        if not self.info.namespaced:
            return None
        if obj is not None:
            namespace = (obj.get("metadata") or {}).get("namespace") or namespace
        return namespace or "default"

    # -- reading -----------------------------------------------------------------------------

    def get(self, name: str, namespace: str | None = None, *, subresource: str | None = None) -> dict[str, Any]:
        """The object called ``name`` (or its ``subresource``, e.g. ``"scale"``)."""
        return self.client.request("GET", self.path(self._namespace(namespace), name, subresource))  # type: ignore[no-any-return]

    def list(
        self,
        namespace: str | None = None,
        *,
        label_selector: Selector = None,
        field_selector: Selector = None,
        resource_version: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """The list object (``items`` and ``metadata.resourceVersion``) of every matching object.

        With ``limit`` the server may answer in pages; they are fetched and joined here.
        """
        query = {
            "labelSelector": _selector(label_selector),
            "fieldSelector": _selector(field_selector),
            "resourceVersion": resource_version,
            "limit": limit,
        }
        path = self.path(namespace)
        result: dict[str, Any] = self.client.request("GET", path, query=query)
        while (result.get("metadata") or {}).get("continue"):
            page = self.client.request(
                "GET", path, query={**query, "resourceVersion": None, "continue": result["metadata"]["continue"]}
            )
            result["items"].extend(page.get("items") or [])
            result["metadata"] = page.get("metadata") or {}
        result["items"] = result.get("items") or []
        return result

    def watch(
        self,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: Selector = None,
        field_selector: Selector = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
    ) -> Watch:
        """Open a watch of every change after ``resource_version`` (from now, when omitted).

        Raises :class:`~kubelab.errors.Expired` at once, or later from the iteration,
        when that version is too old: list again and watch from the list's version.
        """
        query = {
            "watch": True,
            "resourceVersion": resource_version,
            "labelSelector": _selector(label_selector),
            "fieldSelector": _selector(field_selector),
            "allowWatchBookmarks": allow_bookmarks or None,
            "timeoutSeconds": timeout_seconds,
        }
        return Watch(self.client, self.path(namespace), query, resource_version or "")

    # -- writing -----------------------------------------------------------------------------

    def create(
        self,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Create ``obj`` and return it as stored.

        With ``subresource`` (``"binding"``, ``"eviction"``), POST ``obj`` to that subresource
        of the object named by ``obj``'s own ``metadata.name``.
        """
        namespace = self._namespace(namespace, obj)
        name = _name(obj) if subresource else None
        return self.client.request(  # type: ignore[no-any-return]
            "POST", self.path(namespace, name, subresource), body=obj, query=_write_query(dry_run, field_manager)
        )

    def update(
        self,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Replace the object (PUT); fails with Conflict when ``metadata.resourceVersion`` is stale."""
        return self.client.request(  # type: ignore[no-any-return]
            "PUT",
            self.path(self._namespace(namespace, obj), _name(obj), subresource),
            body=obj,
            query=_write_query(dry_run, field_manager),
        )

    def update_status(self, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Replace the object's ``status`` (PUT on the status subresource); the rest is ignored."""
        return self.update(obj, namespace, subresource="status")

    def patch(
        self,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Patch the object: a JSON merge patch by default, or ``"strategic"``, ``"json"``, ``"apply"``.

        ``"apply"`` is server-side apply: ``patch`` is the whole intent and ``field_manager``
        is required.
        """
        if type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {type!r}: use one of {', '.join(PATCH_CONTENT_TYPES)}")
        if type == "apply" and not field_manager:
            raise ValueError("a server-side apply patch needs a field_manager")
        if type == "json" and not isinstance(patch, Sequence):
            raise ValueError("a JSON patch is a list of operations, e.g. [{'op': 'replace', 'path': ..., 'value': ...}]")
        query = {**_write_query(dry_run, field_manager), "force": force}
        return self.client.request(  # type: ignore[no-any-return]
            "PATCH",
            self.path(self._namespace(namespace), name, subresource),
            body=patch,
            content_type=PATCH_CONTENT_TYPES[type],
            query=query,
        )

    def delete(
        self,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: Literal["Background", "Foreground", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete the object; return what the server answers (the object while it finalizes, or a Status).

        ``preconditions`` (``{"uid": ..., "resourceVersion": ...}``) make the delete fail
        with Conflict if the object is no longer that one.
        """
        return self.client.request(  # type: ignore[no-any-return]
            "DELETE",
            self.path(self._namespace(namespace), name),
            body=_delete_options(propagation_policy, grace_period_seconds, preconditions, dry_run),
        )

    def delete_collection(
        self,
        namespace: str | None = None,
        *,
        label_selector: Selector = None,
        field_selector: Selector = None,
        propagation_policy: Literal["Background", "Foreground", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Delete every matching object (in ``namespace``, or in all namespaces)."""
        query = {"labelSelector": _selector(label_selector), "fieldSelector": _selector(field_selector)}
        return self.client.request(  # type: ignore[no-any-return]
            "DELETE",
            self.path(self._namespace(namespace) if namespace else None),
            query=query,
            body=_delete_options(propagation_policy, grace_period_seconds, None, False),
        )


WatchEvent = tuple[str, dict[str, Any]]
"""``(type, object)``: type is ADDED, MODIFIED, DELETED or BOOKMARK."""


class Watch:
    """An open watch stream: iterate it for ``(type, object)`` events; ``stop()`` ends it from any thread.

    The iteration ends when the server closes the stream (its ``timeoutSeconds``) or
    after ``stop()``; ``resource_version`` is then where to watch again from. An ERROR
    event raises its error (:class:`~kubelab.errors.Expired` for a too old version).
    """

    def __init__(self, client: Client, path: str, query: dict[str, Any], resource_version: str) -> None:
        self.resource_version = resource_version
        self._lock = threading.Lock()
        self._stopped = False
        self._reading = False
        timeout_seconds = query.get("timeoutSeconds")
        read_timeout = timeout_seconds + 30 if timeout_seconds else None
        self._response: urllib3.BaseHTTPResponse | None = client.open(
            "GET", path, query=query, timeout=urllib3.Timeout(connect=client.timeout, read=read_timeout)
        )

    def stop(self) -> None:
        """End the watch; an iteration in another thread finishes promptly."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            response = self._response
            if response is None:
                return
            if not self._reading:
                self._response = None
                response.close()
                return
        try:
            response.shutdown()
        except (ValueError, RuntimeError, OSError):
            response.close()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __iter__(self) -> Iterator[WatchEvent]:
        with self._lock:
            response = self._response
            if response is None or self._reading:
                return
            self._reading = True
        buffer = b""
        finished = False
        try:
            while not self._stopped:
                try:
                    chunk = response.read1(65536)
                except (urllib3.exceptions.HTTPError, OSError) as e:
                    if self._stopped:
                        return
                    raise errors.ConnectionFailed(f"the watch stream broke: {e}") from e
                if not chunk:
                    finished = True
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip() and not self._stopped:
                        yield self._event(json.loads(line))
        finally:
            with self._lock:
                self._reading = False
                self._response = None
            if finished and not self._stopped:
                response.release_conn()
            else:
                response.close()

    def _event(self, event: dict[str, Any]) -> WatchEvent:
        type, obj = event.get("type", ""), event.get("object") or {}
        if type == "ERROR":
            raise errors.from_status(obj)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = version
        return type, obj


def dumps(obj: Any) -> str:
    """JSON text of an object, read-only cache views included."""
    return json.dumps(obj, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be sent to the API server")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _selector(selector: Selector) -> str | None:
    """The query form of a selector: a string as is, a ``{"matchLabels": ...}`` LabelSelector or a
    plain ``{label: value}`` map converted, a selector object printed."""
    if selector is None or isinstance(selector, str):
        return selector or None
    if isinstance(selector, Mapping):
        if "matchLabels" in selector or "matchExpressions" in selector:
            return str(LabelSelector.from_label_selector(selector)) or None
        return ",".join(f"{k}={v}" for k, v in selector.items()) or None
    return str(selector) or None


def _name(obj: Mapping[str, Any]) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        raise ValueError("the object has no metadata.name")
    return str(name)


def _write_query(dry_run: bool, field_manager: str | None) -> dict[str, Any]:
    return {"dryRun": "All" if dry_run else None, "fieldManager": field_manager}


def _delete_options(
    propagation_policy: str | None,
    grace_period_seconds: int | None,
    preconditions: Mapping[str, str] | None,
    dry_run: bool,
) -> dict[str, Any]:
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if propagation_policy is not None:
        if propagation_policy not in ("Background", "Foreground", "Orphan"):
            raise ValueError(
                f"unknown propagation policy {propagation_policy!r}: use Background, Foreground or Orphan"
            )
        options["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        options["preconditions"] = dict(preconditions)
    if dry_run:
        options["dryRun"] = ["All"]
    return options


def _names(info: ResourceInfo, name: str) -> bool:
    return name in (info.plural, info.kind, info.singular) or name in info.short_names


_BUILTIN_BY_GV: dict[tuple[str, str], list[ResourceInfo]] = {}
for _info in BUILTIN:
    _BUILTIN_BY_GV.setdefault((_info.group, _info.version), []).append(_info)
