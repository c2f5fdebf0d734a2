"""Watch streams: newline-delimited JSON events over one long chunked HTTP response.

Mirrors ``k8s.io/apiserver/pkg/endpoints/handlers/watch.go``. Each line is one event,
``{"type": "ADDED", "object": {...}}``; ``kubectl get -w`` gets each object as a one-row
Table (column headers only on the first). The stream ends after ``timeoutSeconds`` (or a
random 30 to 60 minutes), when the client goes away, or after an ``ERROR`` event: a
resourceVersion too old to replay is answered ``200`` with an ``ERROR`` event holding a
410 ``Expired`` Status, which tells clients to list again.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubelab.api.selectors import FieldSelector
from kubelab.apiserver import errors, tables
from kubelab.apiserver.negotiation import Target
from kubelab.apiserver.registry import ListOptions, Registry

if TYPE_CHECKING:
    from kubelab.apiserver.handlers import Request

Obj = dict[str, Any]


def _timeout(req: Request, minimum: int) -> float:
    value = req.query.get("timeoutSeconds", "")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError as e:
            raise errors.bad_request(f'invalid value for "timeoutSeconds": {value}') from e
    return float(random.randint(minimum, 2 * minimum))


def _options(req: Request) -> ListOptions:
    options = ListOptions.parse(req.query)
    if req.name:  # the deprecated /watch/.../<name> form watches one object
        options.field_selector = FieldSelector.parse(f"metadata.name={req.name}")
    if options.send_initial_events is not None:
        if options.resource_version_match != "NotOlderThan":
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [_forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )])
        if options.send_initial_events and not options.allow_watch_bookmarks:
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [_forbidden(
                "allowWatchBookmarks", "allowWatchBookmarks must be set to true when sendInitialEvents is true",
            )])
    return options


def _forbidden(path: str, detail: str) -> Any:
    from kubelab.api import field

    return field.forbidden(path, detail)


class _Encoder:
    """Turns events into lines, converting objects to Tables when the client asked for them."""

    def __init__(self, req: Request, registry: Registry, target: Target) -> None:
        self.target = target
        self.registry = registry
        self.kind = req.resource.kind
        self.api_version = req.resource.group_version
        self.include_object = req.query.get("includeObject", "Metadata")
        self.headers_sent = False

    def line(self, event_type: str, obj: Obj) -> bytes:
        if event_type == "BOOKMARK":
            obj = {"kind": self.kind, "apiVersion": self.api_version, "metadata": obj.get("metadata", {})}
        if self.target.kind == "Table" and event_type != "ERROR":
            rows = [] if event_type == "BOOKMARK" else [obj]
            obj = tables.table(
                self.registry.strategy, rows,
                list_meta={"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")},
                include_object=self.include_object, no_headers=self.headers_sent, version=self.target.version,
            )
            self.headers_sent = True
        elif self.target.kind == "PartialObjectMetadata" and event_type != "ERROR":
            obj = tables.partial_object_metadata(obj, self.target.version)
        return b'{"type":"' + event_type.encode() + b'","object":' + json.dumps(obj, separators=(",", ":")).encode() + b"}\n"


async def serve(req: Request, registry: Registry, target: Target) -> web.StreamResponse:
    """Answer a ``?watch=true`` request with a stream of events."""
    options = _options(req)
    timeout = _timeout(req, req.server.config.min_request_timeout)
    if target.kind == "PartialObjectMetadataList":
        raise errors.not_acceptable("you requested PartialObjectMetadataList, but a watch streams single objects")
    encoder = _Encoder(req, registry, target)
    events = registry.watch(req.namespace, options)
    response = web.StreamResponse(status=200, headers={"Content-Type": target.content_type})
    response.enable_chunked_encoding()
    try:
        await response.prepare(req.http)
        async with asyncio.timeout(timeout):
            try:
                async for event in events:
                    await response.write(encoder.line(event.type, event.object))
            except errors.StatusError as e:
                await response.write(encoder.line("ERROR", e.status()))
        await response.write_eof()
    except TimeoutError:
        await response.write_eof()
    except ConnectionResetError:
        pass
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return response
