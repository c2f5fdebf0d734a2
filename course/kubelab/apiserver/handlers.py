"""The HTTP side of the API server: authenticate, route, decode, call the registry, encode.

Mirrors ``k8s.io/apiserver/pkg/endpoints`` (``filters`` for authentication, ``request``
for :mod:`~kubelab.apiserver.request_info`, ``handlers/{get,create,update,patch,delete}.go``
for the verbs, ``handlers/responsewriters`` for Status errors). Watches are served by
:mod:`kubelab.apiserver.watch`, the pod subresources that reach a kubelet by
:mod:`kubelab.apiserver.proxy`.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubelab.api import field
from kubelab.apiserver import errors, fieldmanager, negotiation, openapi, patching, request_info, tables
from kubelab.apiserver.negotiation import Target
from kubelab.apiserver.registry import DeleteOptions, ListOptions, Registry
from kubelab.store import errors as storage_errors

if TYPE_CHECKING:
    from kubelab.apiserver.server import APIServer

log = logging.getLogger("kubelab.apiserver")
Obj = dict[str, Any]

PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
"""Paths anyone may read without a token (upstream's ``system:public-info-viewer``)."""
NOT_FOUND_MESSAGE = "the server could not find the requested resource"
FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def encode(obj: Any, target: Target) -> bytes:
    if target.encoding == "yaml":
        import yaml

        return yaml.safe_dump(obj, sort_keys=False).encode()
    return dumps(obj)


def status_response(err: errors.StatusError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=dumps(err.status()), status=err.code, content_type="application/json", headers=headers
    )


def resource_not_found() -> errors.StatusError:
    return errors.StatusError(404, "NotFound", NOT_FOUND_MESSAGE, {})


class Request:
    """One resource request: the parsed path, the resource, its registry and the negotiated answer."""

    def __init__(self, http: web.BaseRequest, info: request_info.RequestInfo, server: APIServer) -> None:
        self.http = http
        self.server = server
        self.ri = info
        self.query = http.query
        resource = server.resources.get(info.api_group, info.api_version, info.resource)
        if resource is None:
            raise resource_not_found()
        if info.subresource and info.subresource not in resource.subresources:
            raise resource_not_found()
        self.resource = resource
        if resource.namespaced:
            self.namespace = info.namespace
            if info.name and not self.namespace:
                raise resource_not_found()
        else:
            if info.namespace and resource.plural != "namespaces":
                raise resource_not_found()
            self.namespace = ""
        self.name = info.name
        self.gr = errors.GroupResource(resource.group, resource.plural)
        self.dry_run = bool(http.query.getall("dryRun", []))
        self.warnings: list[str] = []

    async def body(self, limit: int) -> bytes:
        """The request body; 413 beyond ``limit`` bytes, read no further."""
        length = self.http.content_length
        if length is not None and length > limit:
            raise errors.request_entity_too_large(f"limit is {limit}")
        chunks = []
        size = 0
        while True:
            chunk = await self.http.content.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise errors.request_entity_too_large(f"limit is {limit}")
            chunks.append(chunk)
        return b"".join(chunks)

    def headers(self) -> dict[str, str] | None:
        if not self.warnings:
            return None
        return {"Warning": ", ".join(f'299 - {json.dumps(w)}' for w in self.warnings)}


def decode_object(body: bytes, content_type: str, kind: str) -> Obj:
    """Decode a request body (JSON, or YAML) into an object; 400 for anything but a JSON object."""
    if not body.strip():
        raise errors.bad_request("the request body is empty: send the object as JSON")
    media = negotiation.body_type(content_type)
    if media not in ("", negotiation.JSON, negotiation.YAML, negotiation.PROTOBUF, *negotiation.PATCH_TYPES):
        raise errors.unsupported_media_type(media, negotiation.ACCEPTED)
    if "protobuf" in content_type:
        from kubelab.apiserver import protobuf

        try:
            return protobuf.decode(body)
        except protobuf.ProtobufError as e:
            raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind}): {e}") from e
    try:
        obj = json.loads(body)
    except ValueError as e:
        if media not in (negotiation.YAML, negotiation.APPLY_PATCH):
            summary = body[:30].decode(errors="replace")
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; "
                f"json parse error: {e} ({summary})"
            ) from e
        obj = _yaml_load(body, kind)
    if not isinstance(obj, dict):
        raise errors.bad_request(
            f"the object provided is unrecognized (must be of type {kind}): "
            f"expected a JSON object, got {type(obj).__name__}"
        )
    return obj


def _yaml_load(body: bytes, kind: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as e:
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind}): {e}") from e


def check_kind(obj: Obj, group: str, version: str, kind: str) -> None:
    """Default a missing kind/apiVersion from the URL; 400 for a different one (``DecoderToVersion``)."""
    expected = f"{group}/{version}" if group else version
    api_version = obj.get("apiVersion") or expected
    obj_kind = obj.get("kind") or kind
    if not isinstance(api_version, str) or not isinstance(obj_kind, str):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind}): bad kind or apiVersion")
    obj_group = api_version.rpartition("/")[0]
    if obj_group != group:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )
    if obj_kind != kind:
        raise errors.bad_request(
            f'{obj_kind} in version "{api_version.rpartition("/")[2]}" cannot be handled as a {kind}: '
            f"no kind \"{obj_kind}\" is registered for version \"{api_version}\""
        )
    obj["apiVersion"] = expected
    obj["kind"] = kind


def _body_kind(req: Request) -> tuple[str, str, str]:
    """The group, version and kind a request body must have: the resource's, or Scale for ``/scale``."""
    if req.ri.subresource == "scale":
        return "autoscaling", "v1", "Scale"
    info = req.resource
    return info.group, info.version, info.kind


class APIHandler:
    """The server's one request handler: every request of every client comes through ``__call__``."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.token = server.token.encode()
        self._encoded: dict[str, tuple[Obj, bytes]] = {}

    # -- entry --------------------------------------------------------------------------

    async def __call__(self, http: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._serve(http)
        except errors.StatusError as e:
            return status_response(e)
        except storage_errors.StorageError as e:
            return status_response(errors.from_storage(e, errors.GroupResource("", "")))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as e:
            log.exception("internal error serving %s %s", http.method, http.path)
            return status_response(errors.internal_error(e))

    def _authenticated(self, http: web.BaseRequest) -> bool:
        header = http.headers.get("Authorization")
        if header is None:
            return http.path in PUBLIC_PATHS
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.token)

    async def _serve(self, http: web.BaseRequest) -> web.StreamResponse:
        if not self._authenticated(http):
            raise errors.unauthorized()
        path = http.path
        if path.startswith("/api/") or path.startswith("/apis/") or path in ("/api", "/apis"):
            info = request_info.parse(http.method, path, http.query.get("watch"))
            if info.is_resource_request:
                return await self._resource(http, info)
            return self._discovery(http, info)
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return await self.server.health.serve(http)
        if path in ("/version", "/version/"):  # the official client's VersionApi asks for /version/
            return web.Response(body=dumps(self.server.version_info()), content_type="application/json")
        if path in ("/openapi/v2", "/openapi/v3") or path.startswith("/openapi/v3/"):
            return self._openapi(http)
        return web.Response(status=404, text="404 page not found\n")

    # -- discovery ----------------------------------------------------------------------

    def _discovery(self, http: web.BaseRequest, info: request_info.RequestInfo) -> web.Response:
        discovery = self.server.discovery
        parts = [p for p in http.path.split("/") if p]
        if http.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        if len(parts) == 1:
            target = negotiation.negotiate(http.headers.get("Accept", ""), discovery=True)
            if target.kind:
                doc = discovery.document("aggregated", target.version, parts[0])
                return web.Response(body=doc, headers={"Content-Type": target.content_type, "Vary": "Accept"})
            doc = discovery.document(parts[0])
        elif parts[0] == "apis" and len(parts) == 2:
            doc = discovery.document("apis", parts[1])
        else:
            doc = discovery.document("gv", info.api_group, info.api_version)
        if doc is None:
            raise resource_not_found()
        return web.Response(body=doc, content_type="application/json")

    # -- openapi ------------------------------------------------------------------------

    def _openapi(self, http: web.BaseRequest) -> web.Response:
        """``/openapi/v2`` (JSON, or protobuf when asked), ``/openapi/v3`` and its group-version documents."""
        docs = self.server.openapi
        path = http.path
        if path == "/openapi/v2":
            if "protobuf" in http.headers.get("Accept", ""):
                return web.Response(body=docs.v2_protobuf(), headers={"Content-Type": OPENAPI_V2_PROTOBUF})
            return self._json_document("v2", docs.v2())
        if path == "/openapi/v3":
            return self._json_document("v3", docs.v3_index())
        doc = docs.v3(path[len("/openapi/v3/"):])
        if doc is None:
            return web.Response(status=404, text="404 page not found\n")
        return self._json_document(path, doc)

    def _json_document(self, key: str, doc: Obj) -> web.Response:
        """A large document encoded once, for as long as the documents do not change."""
        cached = self._encoded.get(key)
        if cached is None or cached[0] is not doc:
            cached = (doc, dumps(doc))
            self._encoded[key] = cached
        return web.Response(body=cached[1], content_type="application/json")

    # -- resources ----------------------------------------------------------------------

    async def _resource(self, http: web.BaseRequest, info: request_info.RequestInfo) -> web.StreamResponse:
        req = Request(http, info, self.server)
        sub = info.subresource
        if sub in ("log", "exec", "attach", "portforward"):
            return await self._kubelet(req)
        if sub in ("binding", "eviction"):
            if info.verb != "create":
                raise errors.method_not_supported(req.gr, info.verb)
            return await self._named_create(req)
        verb = info.verb
        if verb not in req.resource.verbs:  # e.g. deletecollection on namespaces: no such route upstream
            raise errors.method_not_allowed()
        if verb == "get":
            return await self._get(req)
        if verb == "list":
            return await self._list(req)
        if verb == "watch":
            from kubelab.apiserver import watch

            return await watch.serve(req, self.server.registry_for(req.resource), self._target(req))
        if verb == "create":
            if info.name:
                raise errors.method_not_supported(req.gr, "create")
            return await self._create(req)
        if verb == "update":
            return await self._update(req)
        if verb == "patch":
            return await self._patch(req)
        if verb == "delete":
            return await self._delete(req)
        if verb == "deletecollection":
            return await self._delete_collection(req)
        raise errors.method_not_supported(req.gr, verb)

    async def _kubelet(self, req: Request) -> web.StreamResponse:
        """A pod subresource the pod's kubelet serves: find the pod and its node, then forward."""
        pod = await self.server.registry_for(req.resource).get(req.namespace, req.name)
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        node = None
        if node_name:
            nodes = self.server.resources.get("", "v1", "nodes")
            assert nodes is not None
            try:
                node = await self.server.registry_for(nodes).get("", node_name)
            except errors.StatusError as e:
                if e.code != 404:
                    raise
        return await self.server.proxy.serve(req, pod, node)

    def _target(self, req: Request) -> Target:
        return negotiation.negotiate(req.http.headers.get("Accept", ""))

    def _registry(self, req: Request) -> Registry:
        return self.server.registry_for(req.resource, req.ri.subresource)

    def _respond(self, req: Request, obj: Obj, code: int = 200, registry: Registry | None = None) -> web.Response:
        """Encode one object as the client asked: itself, a one-row Table, or its metadata."""
        target = self._target(req)
        if target.kind and obj.get("kind") != "Status" and not req.ri.subresource:
            if target.kind == "Table":
                strategy = (registry or self._registry(req)).strategy
                obj = tables.table(
                    strategy, [obj],
                    list_meta={"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")},
                    include_object=req.query.get("includeObject", "Metadata"),
                    version=target.version,
                )
            elif target.kind == "PartialObjectMetadata":
                obj = tables.partial_object_metadata(obj, target.version)
            else:
                raise errors.not_acceptable(
                    f"you requested {target.kind}, but the requested object is not a list"
                )
        return web.Response(body=encode(obj, target), status=code, content_type=target.content_type, headers=req.headers())

    def _respond_list(self, req: Request, registry: Registry, listed: Obj) -> web.Response:
        target = self._target(req)
        if target.kind == "Table":
            listed = tables.table(
                registry.strategy, listed["items"], list_meta=listed["metadata"],
                include_object=req.query.get("includeObject", "Metadata"), version=target.version,
            )
        elif target.kind == "PartialObjectMetadataList":
            listed = tables.partial_object_metadata_list(listed, target.version)
        elif target.kind:
            raise errors.not_acceptable(f"you requested {target.kind}, but the requested object is a list")
        return web.Response(body=encode(listed, target), content_type=target.content_type)

    async def _get(self, req: Request) -> web.Response:
        registry = self._registry(req)
        if req.ri.subresource == "scale" or req.ri.subresource == "status" or not req.ri.subresource:
            obj = await registry.get(req.namespace, req.name, req.query.get("resourceVersion", ""))
            return self._respond(req, obj, registry=registry)
        raise errors.method_not_supported(req.gr, "get")

    async def _list(self, req: Request) -> web.Response:
        registry = self._registry(req)
        listed = await registry.list(req.namespace, ListOptions.parse(req.query))
        return self._respond_list(req, registry, listed)

    # -- writes -------------------------------------------------------------------------

    def _field_validation(self, req: Request) -> str:
        directive = req.query.get("fieldValidation", "") or "Warn"
        if directive not in FIELD_VALIDATION:
            raise errors.bad_request(
                f'fieldValidation parameter unsupported: {directive}. Valid values are: Ignore, Warn, Strict'
            )
        return directive

    def _check_fields(self, req: Request, obj: Obj, directive: str) -> None:
        """Refuse a mistyped field (400, as Go's decoder); report unknown fields per ``fieldValidation``."""
        group, version, kind = _body_kind(req)
        mistyped = openapi.decode_error(obj, group, version, kind)
        if mistyped:
            raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {mistyped}')
        if directive == "Ignore":
            return
        unknown = self.server.openapi.unknown_fields(obj, group, version, kind)
        if not unknown:
            return
        messages = [f'unknown field "{path}"' for path in unknown]
        if directive == "Strict":
            detail = messages[0] if len(messages) == 1 else ", ".join(messages)
            raise errors.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {detail}'
            )
        req.warnings.extend(messages)

    def _decode(self, req: Request, body: bytes) -> Obj:
        group, version, kind = _body_kind(req)
        obj = decode_object(body, req.http.headers.get("Content-Type", ""), kind)
        check_kind(obj, group, version, kind)
        return obj

    async def _create(self, req: Request) -> web.Response:
        directive = self._field_validation(req)
        obj = self._decode(req, await req.body(self.server.config.max_request_bytes))
        self._check_fields(req, obj, directive)
        registry = self._registry(req)
        registry.strategy.default(obj)
        admission = self.server.admission
        name = (obj.get("metadata") or {}).get("name") or ""
        await admission.admit("CREATE", req.resource, "", req.namespace, name, obj, None)
        obj = fieldmanager.update(req.resource, "", None, obj, self._manager(req))
        out = await registry.create(
            req.namespace, obj, validate=admission.validator("CREATE", req.resource, "", req.namespace),
            dry_run=req.dry_run,
        )
        return self._respond(req, out, 201, registry)

    async def _named_create(self, req: Request) -> web.Response:
        obj = decode_object(
            await req.body(self.server.config.max_request_bytes), req.http.headers.get("Content-Type", ""),
            req.ri.subresource.capitalize(),
        )
        registry = self.server.registry_for(req.resource, req.ri.subresource)
        code, out = await registry.create_named(req.namespace, req.name, obj, dry_run=req.dry_run)  # type: ignore[attr-defined]
        return web.Response(body=dumps(out), status=code, content_type="application/json")

    async def _update(self, req: Request) -> web.Response:
        directive = self._field_validation(req)
        obj = self._decode(req, await req.body(self.server.config.max_request_bytes))
        self._check_fields(req, obj, directive)
        registry = self._registry(req)
        registry.strategy.default(obj)
        admission = self.server.admission
        sub = req.ri.subresource

        manager = self._manager(req)

        async def updated(current: Obj) -> Obj:
            new = copy.deepcopy(obj)
            await admission.admit("UPDATE", req.resource, sub, req.namespace, req.name, new, current or None)
            return fieldmanager.update(req.resource, sub, current or None, new, manager)

        out, created = await registry.update(
            req.namespace, req.name, updated,
            validate=admission.validator("UPDATE", req.resource, sub, req.namespace),
            create_if_missing=self.server.allow_create_on_update(req.resource) and not sub,
            dry_run=req.dry_run,
        )
        return self._respond(req, out, 201 if created else 200, registry)

    async def _patch(self, req: Request) -> web.Response:
        patch_type = negotiation.body_type(req.http.headers.get("Content-Type", ""))
        patching.check_patch_type(req.resource, patch_type)
        directive = self._field_validation(req)
        is_apply = patch_type == negotiation.APPLY_PATCH
        manager = self._manager(req, apply=is_apply)
        force = req.query.get("force", "")
        if force not in ("", "true", "false"):
            raise errors.bad_request(f'invalid value for "force": {force}')
        if force and not is_apply:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [
                field.forbidden("force", "may not be specified for non-apply patch"),
            ])
        patch = patching.decode_patch(await req.body(self.server.config.max_request_bytes), patch_type)
        registry = self._registry(req)
        admission = self.server.admission
        sub = req.ri.subresource
        group, version, kind = _body_kind(req)

        async def patched(current: Obj) -> Obj:
            if is_apply:
                new = fieldmanager.apply(req.resource, sub, current or None, patch, manager, force == "true")
            else:
                new = patching.apply_patch(req.resource, sub, current, patch, patch_type)
            check_kind(new, group, version, kind)
            self._check_fields(req, new, directive)
            registry.strategy.default(new)
            operation = "UPDATE" if current else "CREATE"
            await admission.admit(operation, req.resource, sub, req.namespace, req.name, new, current or None)
            if is_apply:
                return new
            return fieldmanager.update(req.resource, sub, current, new, manager)

        out, created = await registry.update(
            req.namespace, req.name, patched,
            validate=admission.validator("UPDATE", req.resource, sub, req.namespace),
            create_if_missing=is_apply and not sub,
            dry_run=req.dry_run,
        )
        return self._respond(req, out, 201 if created else 200, registry)

    def _manager(self, req: Request, *, apply: bool = False) -> str:
        return fieldmanager.manager_name(
            req.query.get("fieldManager", ""), req.http.headers.get("User-Agent", ""), apply=apply
        )

    async def _delete_options(self, req: Request) -> DeleteOptions:
        body = await req.body(self.server.config.max_request_bytes)
        parsed = decode_object(body, req.http.headers.get("Content-Type", ""), "DeleteOptions") if body.strip() else None
        options = DeleteOptions.parse(parsed, req.query)
        options.dry_run = options.dry_run or req.dry_run
        return options

    async def _delete(self, req: Request) -> web.Response:
        if req.ri.subresource:
            raise errors.method_not_supported(req.gr, "delete")
        options = await self._delete_options(req)
        await self.server.admission.admit("DELETE", req.resource, "", req.namespace, req.name, None, None)
        registry = self._registry(req)
        obj, deleted = await registry.delete(req.namespace, req.name, options)
        if deleted and not getattr(registry, "return_deleted_object", False):
            meta = obj.get("metadata") or {}
            details = {"name": req.name}
            if req.resource.group:
                details["group"] = req.resource.group
            details["kind"] = req.resource.plural
            if meta.get("uid"):
                details["uid"] = meta["uid"]
            obj = errors.success(200, details)
        code = 202 if not deleted and options.orphan_dependents is False else 200
        return self._respond(req, obj, code, registry)

    async def _delete_collection(self, req: Request) -> web.Response:
        options = await self._delete_options(req)
        registry = self._registry(req)
        listed = await registry.delete_collection(req.namespace, options, ListOptions.parse(req.query))
        return web.Response(body=dumps(listed), content_type="application/json")
