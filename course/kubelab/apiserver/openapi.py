"""The OpenAPI documents kubectl reads, and the unknown-field check of ``fieldValidation``.

``/openapi/v2`` (swagger 2.0, one document) and ``/openapi/v3`` (an index of one document
per group-version) are built from the official client's models (:mod:`kubelab.api.schema`)
and, for custom resources, from their CRDs' schemas. kubectl uses them to:

- find the PATCH operation of a kind (``x-kubernetes-group-version-kind``) and check it
  takes ``fieldValidation`` before asking the server to validate strictly (``apply``, ``create``);
- print ``kubectl explain`` (descriptions, ``<type>``, ``-required-``);
- compute strategic merge patches (``x-kubernetes-patch-merge-key`` / ``-strategy``).

Documents are built on first use and cached until the served resources change, so the
API server starts without paying for them. Mirrors ``k8s.io/kube-openapi`` (``builder``,
``handler3``) in what it produces, not in how.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from kubelab.api import schema
from kubelab.api.patch import patch_meta
from kubelab.api.resources import ResourceInfo, ResourceRegistry
from kubelab.apiserver import crd_schema

Obj = dict[str, Any]

V2_PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
"""What client-go asks ``/openapi/v2`` for."""
V2_PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""What the reply must be labelled: Go's MIME parser rejects the ``@`` of the Accept form."""
TITLE = "Kubernetes"
VERSION = "v1.33.0"
_META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
_META_MODELS = {
    "V1ObjectMeta", "V1ListMeta", "V1LabelSelector", "V1LabelSelectorRequirement", "V1OwnerReference",
    "V1ManagedFieldsEntry", "V1Status", "V1StatusDetails", "V1StatusCause", "V1Condition", "V1DeleteOptions",
    "V1Preconditions", "V1WatchEvent", "V1APIResource", "V1APIResourceList", "V1GroupVersionForDiscovery",
}
_CLASS_PREFIX = re.compile(r"^([A-Z][a-z0-9]*)?V\d+((alpha|beta)\d+)?(?=[A-Z])")
_PREFIX_GROUPS = {"Core": "", "Events": "events.k8s.io", "Discovery": "discovery.k8s.io", "Apiextensions": "apiextensions.k8s.io"}
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_SPECIAL = {
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number (e.g. 500m, 1Gi).",
        "type": "string",
    },
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "type": "string", "format": "int-or-string",
    },
}
_QUANTITY_FIELDS = {
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"), ("V1VolumeResourceRequirements", "requests"),
    ("V1NodeStatus", "capacity"), ("V1NodeStatus", "allocatable"), ("V1PersistentVolumeSpec", "capacity"),
    ("V1PersistentVolumeClaimStatus", "capacity"), ("V1PersistentVolumeClaimStatus", "allocatedResources"),
    ("V1ContainerStatus", "allocatedResources"), ("V1PodSpec", "overhead"), ("V1EmptyDirVolumeSource", "sizeLimit"),
    ("V1ResourceFieldSelector", "divisor"),
}
_INT_OR_STRING_FIELDS = {
    ("V1ServicePort", "targetPort"), ("V1HTTPGetAction", "port"), ("V1TCPSocketAction", "port"),
    ("V1RollingUpdateDeployment", "maxSurge"), ("V1RollingUpdateDeployment", "maxUnavailable"),
    ("V1RollingUpdateDaemonSet", "maxSurge"), ("V1RollingUpdateDaemonSet", "maxUnavailable"),
    ("V1RollingUpdateStatefulSetStrategy", "maxUnavailable"), ("V1NetworkPolicyPort", "port"),
}
_OBJECT_FIELDS = {("V1ManagedFieldsEntry", "fieldsV1"), ("V1ControllerRevision", "data")}


_MULTI_KEY_LISTS = {
    ("V1Container", "ports"): ["containerPort", "protocol"],
    ("V1EphemeralContainer", "ports"): ["containerPort", "protocol"],
    ("V1ServiceSpec", "ports"): ["port", "protocol"],
    ("V1PodSpec", "topologySpreadConstraints"): ["topologyKey", "whenUnsatisfiable"],
}
"""Lists keyed by more fields than their patch merge key (``x-kubernetes-list-map-keys``)."""


def _patch_extensions(model_name: str, field_name: str, is_list: bool) -> Obj:
    """``x-kubernetes-patch-strategy`` / ``-merge-key`` (and for keyed lists, the list type) of one field."""
    meta = patch_meta(model_name, field_name)
    out: Obj = {}
    if meta.merge_key:
        out["x-kubernetes-list-map-keys"] = _MULTI_KEY_LISTS.get((model_name, field_name), [meta.merge_key])
        out["x-kubernetes-list-type"] = "map"
        out["x-kubernetes-patch-merge-key"] = meta.merge_key
    elif is_list and "merge" in meta.strategies:
        out["x-kubernetes-list-type"] = "set"
    if meta.strategies:
        out["x-kubernetes-patch-strategy"] = ",".join(meta.strategies)
    return out


_LIST_PARAMS = (
    ("allowWatchBookmarks", "boolean"), ("continue", "string"), ("fieldSelector", "string"),
    ("labelSelector", "string"), ("limit", "integer"), ("resourceVersion", "string"),
    ("resourceVersionMatch", "string"), ("sendInitialEvents", "boolean"), ("timeoutSeconds", "integer"),
    ("watch", "boolean"),
)
_WRITE_PARAMS = (("dryRun", "string"), ("fieldManager", "string"), ("fieldValidation", "string"))
_DELETE_PARAMS = (
    ("dryRun", "string"), ("gracePeriodSeconds", "integer"), ("orphanDependents", "boolean"),
    ("propagationPolicy", "string"),
)
_PARAM_DOCS = {
    "fieldValidation": (
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing "
        "unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are "
        "silently dropped from the object, and will ignore all but the last duplicate field that the decoder "
        "encounters. - Warn: This will send a warning via the standard warning response header for each unknown "
        "field that is dropped from the object, and for each duplicate field that is encountered. - Strict: This "
        "will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or "
        "if any duplicate fields are present."
    ),
    "dryRun": "When present, indicates that modifications should not be persisted.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these changes.",
    "force": "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people.",
    "pretty": "If 'true', then the output is pretty printed.",
    "name": "name of the {kind}",
    "namespace": "object name and auth scope, such as for teams and projects",
}
_PATCH_TYPES = [
    "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]
_PRODUCES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]


def _short_name(model_name: str) -> str:
    return _CLASS_PREFIX.sub("", model_name)


def _group_package(group: str, version: str) -> str:
    if group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}"
    return f"io.k8s.api.{group.split('.')[0] if group else 'core'}.{version}"


def _crd_definition_name(group: str, version: str, kind: str) -> str:
    """How the real server names a custom kind's schema: ``com.example.stable.v1.CronTab``."""
    return f"{'.'.join(reversed(group.split('.')))}.{version}.{kind}"


def _gvk(group: str, version: str, kind: str) -> list[Obj]:
    return [{"group": group, "kind": kind, "version": version}]


class _ModelDefinitions:
    """Definitions of the client's models reachable from some roots, named as the real server names them."""

    def __init__(self, roots: Iterable[tuple[str, str, str]]) -> None:
        self.names: dict[str, str] = {}
        """Model class name → definition name."""
        self.kinds: dict[str, list[Obj]] = {}
        queue: list[tuple[str, str]] = []
        for group, version, kind in roots:
            model_name = schema.model_name_for_kind(group, version, kind)
            if model_name is None:
                continue
            self.kinds.setdefault(model_name, []).extend(
                g for g in _gvk(group, version, kind) if g not in self.kinds.get(model_name, [])
            )
            if model_name not in self.names:
                self.names[model_name] = self._name(model_name, _group_package(group, version))
                queue.append((model_name, _group_package(group, version)))
        while queue:
            model_name, package = queue.pop(0)
            model = schema.model(model_name)
            for ft in model.fields.values() if model else ():
                if ft.model and ft.model not in self.names:
                    self.names[ft.model] = self._name(ft.model, package)
                    queue.append((ft.model, self.names[ft.model].rsplit(".", 1)[0]))

    @staticmethod
    def _name(model_name: str, package: str) -> str:
        if model_name in _META_MODELS:
            return f"{_META_PACKAGE}.{_short_name(model_name)}"
        prefix = _CLASS_PREFIX.match(model_name)
        if prefix and prefix.group(1) in _PREFIX_GROUPS:
            package = _group_package(_PREFIX_GROUPS[prefix.group(1)], "v1")
        return f"{package}.{_short_name(model_name)}"

    def schemas(self, ref_prefix: str, v3: bool) -> dict[str, Obj]:
        out: dict[str, Obj] = {}
        for model_name, name in self.names.items():
            model = schema.model(model_name)
            if model is None:
                continue
            props = {
                field_name: self._property(model_name, field_name, ft, ref_prefix, v3)
                for field_name, ft in sorted(model.fields.items())
            }
            definition: Obj = {"description": model.description, "type": "object", "properties": props}
            if model.required:
                definition["required"] = sorted(model.required)
            if model_name in self.kinds:
                definition["x-kubernetes-group-version-kind"] = self.kinds[model_name]
            out[name] = definition
        out.update(copy.deepcopy(_SPECIAL))
        return out

    def _property(self, model_name: str, field_name: str, ft: schema.FieldType, ref_prefix: str, v3: bool) -> Obj:
        key = (model_name, field_name)
        if ft.model:
            item: Obj = {"$ref": ref_prefix + self.names[ft.model]}
        elif key in _QUANTITY_FIELDS:
            item = {"$ref": ref_prefix + QUANTITY}
        elif key in _INT_OR_STRING_FIELDS:
            item = {"$ref": ref_prefix + INT_OR_STRING}
        elif key in _OBJECT_FIELDS:
            item = {"type": "object"}
        else:
            item = _primitive(ft.primitive)
        description = ft.description
        if ft.container == "list":
            prop: Obj = {"type": "array", "items": item}
        elif ft.container == "map":
            prop = {"type": "object", "additionalProperties": item}
        elif "$ref" in item:
            prop = {"allOf": [item]} if v3 else dict(item)
        else:
            prop = item
        prop.update(_patch_extensions(model_name, field_name, ft.container == "list"))
        if description:
            prop["description"] = description
        return prop


def _primitive(primitive: str | None) -> Obj:
    if primitive == "date-time":
        return {"type": "string", "format": "date-time"}
    if primitive == "byte":
        return {"type": "string", "format": "byte"}
    if primitive == "integer":
        return {"type": "integer", "format": "int64"}
    if primitive == "number":
        return {"type": "number", "format": "double"}
    if primitive in ("string", "boolean"):
        return {"type": primitive}
    return {}


def _op_group(info: ResourceInfo) -> str:
    if not info.group:
        return "CoreV1" if info.version == "v1" else f"Core{info.version.capitalize()}"
    parts = [info.group.split(".")[0]] if info.group.endswith(".k8s.io") or "." not in info.group else info.group.split(".")
    return "".join(p.capitalize() for p in parts) + info.version.capitalize()


def _param(name: str, kind: str, where: str, v3: bool, required: bool = False, kind_name: str = "") -> Obj:
    param: Obj = {"name": name, "in": where, "description": _PARAM_DOCS.get(name, "").format(kind=kind_name)}
    if required:
        param["required"] = True
    if v3:
        param["schema"] = {"type": kind, "uniqueItems": True}
    else:
        param["type"] = kind
        param["uniqueItems"] = True
    return param


class OpenAPIDocuments:
    """The ``/openapi/v2`` and ``/openapi/v3`` documents of the served resources, built lazily and cached."""

    def __init__(self, resources: ResourceRegistry) -> None:
        self.resources = resources
        self._lock = threading.RLock()
        self._crds: dict[str, Obj] = {}
        self._cache: dict[str, Any] = {}
        self._cache_key: tuple[Any, ...] = ()

    def set_custom_resource_definitions(self, crds: Iterable[Obj]) -> None:
        """The CRDs whose versions are served: their schemas describe the custom resources."""
        with self._lock:
            self._crds = {c["metadata"]["name"]: copy.deepcopy(c) for c in crds}
            self._cache.clear()

    def _cached(self, key: str, build: Any) -> Any:
        with self._lock:
            current = (tuple(sorted((i.group, i.version, i.plural, i.crd) for i in self.resources)),)
            if current != self._cache_key:
                self._cache.clear()
                self._cache_key = current
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    # -- custom resources --------------------------------------------------------

    def _crd_version(self, group: str, version: str, kind: str) -> tuple[Obj, Obj] | None:
        for crd in self._crds.values():
            spec = crd.get("spec") or {}
            if spec.get("group") != group or (spec.get("names") or {}).get("kind") != kind:
                continue
            for v in spec.get("versions") or []:
                if v.get("name") == version:
                    return crd, v
        return None

    def _crd_definitions(self, infos: Iterable[ResourceInfo], ref_prefix: str) -> dict[str, Obj]:
        out: dict[str, Obj] = {}
        for info in infos:
            found = self._crd_version(info.group, info.version, info.kind)
            if found is None:
                continue
            item_name = _crd_definition_name(info.group, info.version, info.kind)
            for kind, is_list in ((info.kind, False), (info.list_kind, True)):
                name = _crd_definition_name(info.group, info.version, kind)
                if is_list:
                    out[name] = {
                        "description": f"{kind} is a list of {info.kind}",
                        "type": "object", "required": ["items"],
                        "properties": {
                            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "items": {"type": "array", "items": {"$ref": ref_prefix + item_name}},
                            "metadata": {"$ref": ref_prefix + f"{_META_PACKAGE}.ListMeta"},
                        },
                        "x-kubernetes-group-version-kind": _gvk(info.group, info.version, kind),
                    }
                else:
                    out[name] = crd_schema.openapi_definition(found[1], ref_prefix + f"{_META_PACKAGE}.ObjectMeta")
                    out[name]["x-kubernetes-group-version-kind"] = _gvk(info.group, info.version, kind)
        return out

    # -- documents -----------------------------------------------------------------

    def _roots(self, infos: Iterable[ResourceInfo]) -> list[tuple[str, str, str]]:
        roots = [("", "v1", "PodTemplate")]
        for info in infos:
            if info.crd:
                continue
            roots += [(info.group, info.version, info.kind), (info.group, info.version, info.list_kind)]
            if "scale" in info.subresources:
                roots.append(("autoscaling", "v1", "Scale"))
        roots += [("", "v1", "Status"), ("", "v1", "DeleteOptions"), ("", "v1", "APIResourceList")]
        return roots

    def _paths(self, infos: Iterable[ResourceInfo], ref_prefix: str, v3: bool) -> dict[str, Obj]:
        paths: dict[str, Obj] = {}
        for info in sorted(infos, key=lambda i: (i.group, i.version, i.plural)):
            paths.update(_resource_paths(info, ref_prefix, v3))
        return paths

    def v2(self) -> Obj:
        """The swagger 2.0 document of every served resource (``/openapi/v2``, JSON form)."""
        return self._cached("v2", self._build_v2)

    def _build_v2(self) -> Obj:
        infos = list(self.resources)
        prefix = "#/definitions/"
        definitions = _ModelDefinitions(self._roots(infos)).schemas(prefix, v3=False)
        definitions.update(self._crd_definitions([i for i in infos if i.crd], prefix))
        return {
            "swagger": "2.0",
            "info": {"title": TITLE, "version": VERSION},
            "paths": self._paths(infos, prefix, v3=False),
            "definitions": dict(sorted(definitions.items())),
            "securityDefinitions": {"BearerToken": {
                "description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey",
            }},
            "security": [{"BearerToken": []}],
        }

    def v2_protobuf(self) -> bytes:
        """``/openapi/v2`` as client-go asks for it: the gnostic ``openapi_v2.Document`` protobuf."""
        from kubelab.apiserver.openapi_v2_proto import encode_document

        return self._cached("v2pb", lambda: encode_document(self.v2()))

    def v3_index(self) -> Obj:
        """``/openapi/v3``: each group-version's document path and ``serverRelativeURL`` (with a content hash)."""
        return self._cached("v3index", self._build_v3_index)

    def _build_v3_index(self) -> Obj:
        paths = {}
        for path in sorted(self._group_versions()):
            digest = hashlib.sha512(json.dumps(self.v3(path), sort_keys=True).encode()).hexdigest().upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
        return {"paths": paths}

    def _group_versions(self) -> dict[str, list[ResourceInfo]]:
        groups: dict[str, list[ResourceInfo]] = {}
        for info in self.resources:
            path = f"apis/{info.group}/{info.version}" if info.group else f"api/{info.version}"
            groups.setdefault(path, []).append(info)
        return groups

    def v3(self, path: str) -> Obj | None:
        """The OpenAPI 3 document of one group-version (``api/v1``, ``apis/apps/v1``), or None."""
        path = path.strip("/")
        infos = self._group_versions().get(path)
        if infos is None:
            return None
        return self._cached(f"v3:{path}", lambda: self._build_v3(infos))

    def _build_v3(self, infos: list[ResourceInfo]) -> Obj:
        prefix = "#/components/schemas/"
        all_schemas = _ModelDefinitions(self._roots(infos)).schemas(prefix, v3=True)
        all_schemas.update(self._crd_definitions([i for i in infos if i.crd], prefix))
        paths = self._paths(infos, prefix, v3=True)
        used = _closure(paths, all_schemas, prefix)
        return {
            "openapi": "3.0.0",
            "info": {"title": TITLE, "version": VERSION},
            "paths": paths,
            "components": {
                "schemas": {name: all_schemas[name] for name in sorted(used)},
                "securitySchemes": {"BearerToken": {
                    "type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header",
                }},
            },
        }

    # -- fieldValidation -----------------------------------------------------------

    def unknown_fields(self, obj: Obj, group: str, version: str, kind: str) -> list[str]:
        """Paths of the fields of ``obj`` its kind does not have, as upstream's strict decoding names them."""
        found = self._crd_version(group, version, kind)
        if found is not None:
            return crd_schema.unknown_fields(obj, crd_schema.version_schema(found[1]))
        return unknown_fields(obj, group, version, kind)


def _resource_paths(info: ResourceInfo, ref_prefix: str, v3: bool) -> dict[str, Obj]:
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    kind_ref = ref_prefix + (
        _crd_definition_name(info.group, info.version, info.kind) if info.crd
        else _ModelDefinitions._name(schema.model_name_for_kind(info.group, info.version, info.kind) or info.kind,
                                     _group_package(info.group, info.version))
    )
    list_ref = kind_ref + "List"
    gvk = {"group": info.group, "version": info.version, "kind": info.kind}
    scope = "Namespaced" if info.namespaced else ""
    collection = f"{base}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{base}/{info.plural}"
    item = f"{collection}/{{name}}"
    group_name = _op_group(info)
    common = [_param("pretty", "string", "query", v3)]
    ns_param = [_param("namespace", "string", "path", v3, required=True)] if info.namespaced else []
    name_param = [_param("name", "string", "path", v3, required=True, kind_name=info.kind)]

    def op(action: str, op_id: str, params: tuple[tuple[str, str], ...], response: str, *,
           body: str | None = None, consumes: list[str] | None = None, target: Obj = gvk, codes: tuple[str, ...] = ("200",)) -> Obj:
        operation: Obj = {
            "description": f"{action} {info.kind}",
            "operationId": op_id,
            "tags": [group_name[:1].lower() + group_name[1:]],
            "parameters": [_param(name, kind, "query", v3) for name, kind in params],
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": dict(target),
        }
        if v3:
            if body:
                media = consumes or ["application/json", "application/yaml"]
                operation["requestBody"] = {"content": {m: {"schema": {"$ref": body}} for m in media}, "required": True}
            operation["responses"] = {
                code: {"description": "OK", "content": {m: {"schema": {"$ref": response}} for m in _PRODUCES}}
                for code in codes
            } | {"401": {"description": "Unauthorized"}}
        else:
            if body:
                operation["parameters"].insert(0, {"name": "body", "in": "body", "required": True, "schema": {"$ref": body}})
            operation["consumes"] = consumes or ["*/*"]
            operation["produces"] = list(_PRODUCES)
            operation["schemes"] = ["https"]
            operation["responses"] = {code: {"description": "OK", "schema": {"$ref": response}} for code in codes} | {
                "401": {"description": "Unauthorized"}
            }
        return operation

    status_ref = ref_prefix + f"{_META_PACKAGE}.Status"
    delete_options = ref_prefix + f"{_META_PACKAGE}.DeleteOptions"
    paths: dict[str, Obj] = {
        collection: {
            "get": op("list", f"list{group_name}{scope}{info.kind}", _LIST_PARAMS, list_ref),
            "post": op("post", f"create{group_name}{scope}{info.kind}", _WRITE_PARAMS, kind_ref, body=kind_ref,
                       codes=("200", "201", "202")),
            "delete": op("deletecollection", f"deletecollection{group_name}{scope}{info.kind}",
                         _DELETE_PARAMS + _LIST_PARAMS, status_ref, body=delete_options),
            "parameters": ns_param + common,
        },
        item: {
            "get": op("get", f"read{group_name}{scope}{info.kind}", (), kind_ref),
            "put": op("put", f"replace{group_name}{scope}{info.kind}", _WRITE_PARAMS, kind_ref, body=kind_ref,
                      codes=("200", "201")),
            "patch": op("patch", f"patch{group_name}{scope}{info.kind}", (*_WRITE_PARAMS, ("force", "boolean")),
                        kind_ref, body=ref_prefix + f"{_META_PACKAGE}.Patch", consumes=_PATCH_TYPES, codes=("200", "201")),
            "delete": op("delete", f"delete{group_name}{scope}{info.kind}", _DELETE_PARAMS, status_ref,
                         body=delete_options, codes=("200", "202")),
            "parameters": name_param + ns_param + common,
        },
    }
    if info.namespaced:
        paths[f"{base}/{info.plural}"] = {
            "get": op("list", f"list{group_name}{info.kind}ForAllNamespaces", _LIST_PARAMS, list_ref),
            "parameters": common,
        }
    for sub in ("status", "scale"):
        if sub not in info.subresources:
            continue
        suffix = "Status" if sub == "status" else "Scale"
        target = gvk if sub == "status" else {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        ref = kind_ref if sub == "status" else ref_prefix + "io.k8s.api.autoscaling.v1.Scale"
        paths[f"{item}/{sub}"] = {
            "get": op("get", f"read{group_name}{scope}{info.kind}{suffix}", (), ref, target=target),
            "put": op("put", f"replace{group_name}{scope}{info.kind}{suffix}", _WRITE_PARAMS, ref, body=ref,
                      target=target, codes=("200", "201")),
            "patch": op("patch", f"patch{group_name}{scope}{info.kind}{suffix}", (*_WRITE_PARAMS, ("force", "boolean")),
                        ref, body=ref_prefix + f"{_META_PACKAGE}.Patch", consumes=_PATCH_TYPES, target=target,
                        codes=("200", "201")),
            "parameters": name_param + ns_param + common,
        }
    return paths


def _closure(paths: Obj, schemas: Mapping[str, Obj], prefix: str) -> set[str]:
    """Names of the schemas the paths refer to, directly or through other schemas."""
    used: set[str] = set()
    pending = _refs(paths, prefix)
    while pending:
        name = pending.pop()
        if name in used or name not in schemas:
            continue
        used.add(name)
        pending |= _refs(schemas[name], prefix)
    return used


def _refs(node: Any, prefix: str) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                found.add(ref[len(prefix):])
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def unknown_fields(obj: Obj, group: str, version: str, kind: str) -> list[str]:
    """Paths of the fields a built-in kind does not have (``spec.foo``, ``spec.containers[0].imagee``).

    As upstream's strict decoding error lists them: ``unknown field "spec.foo"``. A kind the
    client does not know (a custom resource) has none here: see :meth:`OpenAPIDocuments.unknown_fields`.
    """
    model_name = schema.model_name_for_kind(group, version, kind)
    if model_name is None:
        return []
    found: list[str] = []
    _walk(obj, model_name, "", found)
    return found


def _walk(value: Any, model_name: str, path: str, found: list[str]) -> None:
    model = schema.model(model_name)
    if model is None or not isinstance(value, dict):
        return
    for key, child in value.items():
        where = f"{path}.{key}" if path else key
        ft = model.field(key)
        if ft is None:
            found.append(where)
        elif ft.model and child is not None:
            if ft.container == "list" and isinstance(child, list):
                for i, element in enumerate(child):
                    _walk(element, ft.model, f"{where}[{i}]", found)
            elif ft.container == "map" and isinstance(child, dict):
                for name, element in child.items():
                    _walk(element, ft.model, f"{where}.{name}", found)
            elif ft.container == "scalar":
                _walk(child, ft.model, where, found)


_INT64_FIELDS = {
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "generation", "observedGeneration", "runAsUser",
    "runAsGroup", "fsGroup", "deletionGracePeriodSeconds", "expirationSeconds", "tolerationSeconds",
    "supplementalGroups", "revision", "ttlSecondsAfterFinished",
}
"""Integer fields Go holds as int64; the others are int32 (how a decode error names the type)."""


def decode_error(obj: Obj, group: str, version: str, kind: str) -> str | None:
    """Why Go's JSON decoder would refuse ``obj`` as this kind, or None (a mistyped field).

    Upstream answers 400 ``<Kind> in version "v1" cannot be handled as a <Kind>: <this>``, e.g.
    ``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32``.
    Only the first mistyped field is reported, as the decoder stops there.
    """
    model_name = schema.model_name_for_kind(group, version, kind)
    if model_name is None or not isinstance(obj, dict):
        return None
    return _first_type_error(obj, model_name, "")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type(model_name: str, field_name: str, ft: schema.FieldType, element: bool = False) -> str:
    if ft.model:
        inner = f"v1.{_short_name(ft.model)}"
    else:
        inner = {
            "integer": "int64" if field_name in _INT64_FIELDS else "int32", "number": "float64", "boolean": "bool",
        }.get(ft.primitive or "", "string")
    if element or ft.container == "scalar":
        return inner
    return f"[]{inner}" if ft.container == "list" else f"map[string]{inner}"


_RFC3339 = "2006-01-02T15:04:05Z07:00"


def _time_error(value: Any) -> str | None:
    """Go's ``time.Parse(time.RFC3339, ...)`` complaint about a timestamp string, or None."""
    if not isinstance(value, str):
        return None
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f'parsing time "{value}" as "{_RFC3339}": cannot parse "{value}" as "2006"'
    return None


def _fits(value: Any, model_name: str, field_name: str, ft: schema.FieldType) -> bool:
    """Whether one scalar (or one element) decodes into the field's element type."""
    if value is None or ft.primitive == "any" or (model_name, field_name) in _QUANTITY_FIELDS:
        return True
    if ft.model:
        return isinstance(value, dict)
    kind = _json_kind(value)
    if ft.primitive == "integer":
        return kind == "number" and float(value).is_integer()
    if ft.primitive == "number":
        return kind == "number"
    if ft.primitive == "boolean":
        return kind == "bool"
    return kind == "string"


def _first_type_error(value: Obj, model_name: str, path: str) -> str | None:
    model = schema.model(model_name)
    if model is None:
        return None
    for key, child in value.items():
        ft = model.field(key)
        if ft is None or child is None:
            continue
        where = f"{path}.{key}" if path else key
        if ft.container != "scalar":
            wanted = list if ft.container == "list" else dict
            if not isinstance(child, wanted):
                return (f"json: cannot unmarshal {_json_kind(child)} into Go struct field "
                        f"{_short_name(model_name)}.{where} "
                        f"of type {_go_type(model_name, key, ft)}")
            elements = child if isinstance(child, list) else list(child.values())
        else:
            elements = [child]
        for element in elements:
            if ft.primitive == "date-time" and _time_error(element):
                return _time_error(element)
            if not _fits(element, model_name, key, ft):
                shown = _json_kind(element)
                if shown == "number" and ft.primitive == "integer":
                    shown = f"number {element}"
                return (f"json: cannot unmarshal {shown} into Go struct field {_short_name(model_name)}.{where} "
                        f"of type {_go_type(model_name, key, ft, element=True)}")
            if ft.model and isinstance(element, dict):
                found = _first_type_error(element, ft.model, where)
                if found:
                    return found
    return None
