"""The three PATCH formats: JSON patch, JSON merge patch and strategic merge patch.

``json_patch`` follows RFC 6902 as the API server's JSON patch library (evanphx/json-patch
v4) does, with its messages; ``merge_patch`` is RFC 7386; ``strategic_merge_patch``
mirrors ``k8s.io/apimachinery/pkg/util/strategicpatch``: lists of objects merge by a
merge key (containers by ``name``, ports by ``containerPort``...), lists of strings with
the merge strategy (finalizers) merge as sets, other lists are replaced, and the patch
may carry directives (``$patch``, ``$setElementOrder/<list>``,
``$deleteFromPrimitiveList/<list>``, ``$retainKeys``). Which field merges how comes from
upstream's ``patchStrategy``/``patchMergeKey`` struct tags (:data:`PATCH_META`); the
shapes of kinds come from :mod:`kubelab.api.schema`.

Every function returns a new document and leaves its arguments untouched. Failures raise
:class:`PatchError`, whose ``code`` says how the API server answers:

* 400 BadRequest: the patch is malformed;
* 413 RequestEntityTooLarge: a JSON patch with more than 10000 operations;
* 422: the patch does not apply. Upstream answers with a generic Invalid Status
  (``the server rejected our request due to an error in our request``) whose single
  cause, of type ``UnexpectedServerResponse``, carries :attr:`PatchError.message`;
* 500: an error upstream does not classify (e.g. a list element without its merge key),
  answered as an InternalError.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer

from kubelab.api import schema

__all__ = [
    "MAX_JSON_PATCH_OPERATIONS",
    "PATCH_META",
    "PatchError",
    "PatchMeta",
    "create_merge_patch",
    "drop_directives",
    "json_patch",
    "merge_patch",
    "patch_meta",
    "strategic_merge_patch",
]

MAX_JSON_PATCH_OPERATIONS = 10000


class PatchError(Exception):
    """A patch that is malformed or does not apply; ``code`` is the HTTP status upstream answers with."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _go_type(value: Any) -> str:
    """The JSON type name Go's decoder uses in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "null"


def _go(value: Any) -> str:
    """``value`` as Go's ``%v`` prints a decoded JSON value (``map[a:1 b:[x y]]``)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


# JSON patch (RFC 6902).

_MISSING = "missing value"
_INVALID_INDEX = "invalid index referenced"


def _resolve(doc: Any, pointer: str) -> tuple[Any, str] | None:
    """The container that holds the last token of ``pointer``, and that token; None if it is missing."""
    parts = pointer.split("/")
    if len(parts) < 2:
        return None
    container = doc
    for raw in parts[1:-1]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(container, dict):
            if token not in container or container[token] is None:
                return None
            container = container[token]
        elif isinstance(container, list):
            if not token.isdigit() or int(token) >= len(container):
                return None
            container = container[int(token)]
        else:
            return None
    if not isinstance(container, dict | list):
        return None
    return container, parts[-1].replace("~1", "/").replace("~0", "~")


def _index_problem(container: Any, key: str, adding: bool) -> str | None:
    """Why ``key`` cannot address an element of the list ``container``, worded as upstream."""
    if not isinstance(container, list) or (adding and key == "-"):
        return None
    if not (key.isdigit() or (key[:1] == "-" and key[1:].isdigit())):
        return f"value was not a proper array index: '{key}': strconv.Atoi: parsing \"{key}\": invalid syntax"
    limit = len(container) + (1 if adding else 0)
    if int(key) >= limit or int(key) < 0:
        return f"Unable to access invalid index: {int(key)}: {_INVALID_INDEX}"
    return None


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        raise PatchError(f"Unexpected kind: {kind}")
    path = op.get("path")
    if not isinstance(path, str):
        raise PatchError(f"{kind} operation failed to decode path: {_MISSING}")
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise PatchError(f"{kind} operation failed to decode from: {_MISSING}")
        found = _resolve(doc, source)
        if found is None or _index_problem(found[0], found[1], False):
            raise PatchError(f"{kind} operation does not apply: doc is missing from path: {source}: {_MISSING}")
        if isinstance(found[0], dict) and found[1] not in found[0]:
            raise PatchError(f"error in {kind} for path: '{found[1]}': Unable to remove nonexistent key: "
                             f"{found[1]}: {_MISSING}")
        target = _resolve(doc, path)
        if target is None:
            raise PatchError(f"{kind} operation does not apply: doc is missing destination path: {path}: {_MISSING}")
    elif kind in ("add", "remove", "replace", "test"):
        if kind != "remove" and kind != "test" and "value" not in op:
            op = {**op, "value": None}
        found = _resolve(doc, path)
        if found is None:
            quoted = f'"{path}"' if kind in ("add", "remove") else path
            verb = "is missing path" if kind == "test" else "doc is missing path"
            raise PatchError(f"{kind} operation does not apply: {verb}: {quoted}: {_MISSING}")
        container, key = found
        problem = _index_problem(container, key, kind == "add")
        if problem:
            if kind == "replace":
                raise PatchError(f"replace operation does not apply: doc is missing key: {path}: {_MISSING}")
            raise PatchError(f"error in {kind} for path: '{path}': {problem}")
        if isinstance(container, dict) and key not in container:
            if kind == "remove":
                raise PatchError(f"error in remove for path: '{path}': Unable to remove nonexistent key: {key}: "
                                 f"{_MISSING}")
            if kind == "replace":
                # evanphx/json-patch v4, which the API server uses, lets replace create a missing key.
                op = {**op, "op": "add"}
            if kind == "test":
                if op.get("value") is None:
                    return doc
                raise PatchError(f"testing value {path} failed: test failed")
    try:
        return jsonpatch.apply_patch(doc, [op], in_place=True)
    except jsonpatch.JsonPatchTestFailed:
        raise PatchError(f"testing value {path} failed: test failed") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise PatchError(f"{kind} operation does not apply: {e}") from None


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply a JSON patch (a list of ``{"op", "path", "value"|"from"}``) to ``doc``; raises :class:`PatchError`."""
    if not isinstance(ops, list):
        raise PatchError(f"json: cannot unmarshal {_go_type(ops)} into Go value of type jsonpatch.Patch", 400)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(f"json: cannot unmarshal {_go_type(op)} into Go value of type jsonpatch.Operation", 400)
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}", 413
        )
    result = copy.deepcopy(doc)
    for op in ops:
        result = _apply_op(result, copy.deepcopy(op))
    return result


# JSON merge patch (RFC 7386).

def merge_patch(doc: Any, patch: Any) -> Any:
    """Apply a JSON merge patch: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def create_merge_patch(original: Any, modified: Any) -> Any:
    """The merge patch that turns ``original`` into ``modified`` (which must hold no ``null``)."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return copy.deepcopy(modified)
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, value in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif original[key] != value or type(original[key]) is not type(value):
            patch[key] = create_merge_patch(original[key], value)
    return patch


# Strategic merge patch.

@dataclass(frozen=True)
class PatchMeta:
    """How one field patches: its strategies (``merge``, ``retainKeys``, ``replace``) and merge key."""

    strategies: tuple[str, ...]
    merge_key: str = ""

    @property
    def strategy(self) -> str:
        """The strategy other than ``retainKeys`` (``merge``, ``replace`` or ``""``)."""
        return next((s for s in self.strategies if s != "retainKeys"), "")


def _meta(strategies: str, merge_key: str = "") -> PatchMeta:
    return PatchMeta(tuple(strategies.split(",")), merge_key)


_CONDITIONS = _meta("merge", "type")
_CONTAINER = {
    "ports": _meta("merge", "containerPort"),
    "env": _meta("merge", "name"),
    "volumeMounts": _meta("merge", "mountPath"),
    "volumeDevices": _meta("merge", "devicePath"),
}
PATCH_META: dict[tuple[str, str], PatchMeta] = {
    ("V1ObjectMeta", "finalizers"): _meta("merge"),
    ("V1ObjectMeta", "ownerReferences"): _meta("merge", "uid"),
    ("V1PodSpec", "containers"): _meta("merge", "name"),
    ("V1PodSpec", "initContainers"): _meta("merge", "name"),
    ("V1PodSpec", "ephemeralContainers"): _meta("merge", "name"),
    ("V1PodSpec", "volumes"): _meta("merge,retainKeys", "name"),
    ("V1PodSpec", "imagePullSecrets"): _meta("merge", "name"),
    ("V1PodSpec", "hostAliases"): _meta("merge", "ip"),
    ("V1PodSpec", "topologySpreadConstraints"): _meta("merge", "topologyKey"),
    ("V1PodSpec", "schedulingGates"): _meta("merge", "name"),
    ("V1PodSpec", "resourceClaims"): _meta("merge,retainKeys", "name"),
    **{("V1Container", name): meta for name, meta in _CONTAINER.items()},
    **{("V1EphemeralContainer", name): meta for name, meta in _CONTAINER.items()},
    ("V1ContainerStatus", "allocatedResourcesStatus"): _meta("merge", "name"),
    ("V1PodStatus", "conditions"): _CONDITIONS,
    ("V1PodStatus", "podIPs"): _meta("merge", "ip"),
    ("V1PodStatus", "hostIPs"): _meta("merge", "ip"),
    ("V1PodStatus", "resourceClaimStatuses"): _meta("merge,retainKeys", "name"),
    ("V1NodeSpec", "podCIDRs"): _meta("merge"),
    ("V1NodeStatus", "conditions"): _CONDITIONS,
    ("V1NodeStatus", "addresses"): _meta("merge", "type"),
    ("V1ServiceSpec", "ports"): _meta("merge", "port"),
    ("V1ServiceAccount", "secrets"): _meta("merge", "name"),
    ("V1DeploymentSpec", "strategy"): _meta("retainKeys"),
    **{
        (status, "conditions"): _CONDITIONS
        for status in (
            "V1NamespaceStatus", "V1PersistentVolumeClaimStatus", "V1ServiceStatus", "V1DeploymentStatus",
            "V1ReplicaSetStatus", "V1StatefulSetStatus", "V1DaemonSetStatus", "V1JobStatus",
            "V1ReplicationControllerStatus", "V1ComponentStatus",
        )
    },
}
"""``(model, json field)`` → how it patches, from upstream's ``patchStrategy``/``patchMergeKey`` tags.

Every field not listed has no strategy: objects merge key by key, lists are replaced.
"""

_NO_META = PatchMeta(())


def patch_meta(model_name: str, field: str) -> PatchMeta:
    """How ``field`` of the model ``model_name`` patches (``x-kubernetes-patch-strategy`` in OpenAPI)."""
    return PATCH_META.get((model_name, field), _NO_META)


@dataclass(frozen=True)
class _Type:
    """Where the patch walk stands: inside a model, inside a map whose values are of one type, or unknown."""

    model: str | None = None
    map_values: str | None = None
    is_map: bool = False

    def field(self, key: str) -> tuple[_Type, PatchMeta]:
        """The type of the value under ``key`` (an element's type for lists) and how it patches."""
        if self.is_map:
            return _Type(self.map_values), _NO_META
        found = schema.model(self.model) if self.model else None
        field_type = found.field(key) if found else None
        if found is None or field_type is None:
            return _Type(), _NO_META
        meta = patch_meta(found.name, key)
        if field_type.container == "map":
            return _Type(map_values=field_type.model, is_map=True), meta
        return _Type(field_type.model), meta


_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_FROM = "$deleteFromPrimitiveList"

BAD_JSON_DOC = "invalid JSON document"
NO_LIST_OF_LISTS = "lists of lists are not supported"
BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
BAD_SET_ORDER = "invalid patch format of setElementOrder list"


def _kind(value: Any) -> str:
    # Go decodes every JSON number as float64: 1 and 1.0 are the same type.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _bad_arg_type(expected: str, actual: Any) -> PatchError:
    kinds = {dict: "map", list: "slice", str: "string", bool: "bool", int: "float64", float: "float64"}
    return PatchError(f"expected a {expected}, but received a {kinds.get(type(actual), 'invalid')}", 500)


def _no_merge_key(item: dict[str, Any], key: str) -> PatchError:
    return PatchError(f"map: {_go(item)} does not contain declared merge key: {key}", 500)


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, _, rest = key.partition("/")
    if head != prefix or "/" not in key:
        raise PatchError(error, 400)
    return rest


def _same(a: Any, b: Any) -> bool:
    # Go compares decoded JSON scalars by type and value: "1" != 1 and true != 1.
    return _kind(a) == _kind(b) and a == b


def _merge_value(item: Any, merge_key: str) -> Any:
    return item.get(merge_key) if isinstance(item, dict) else item


def _index(items: list[Any], item: Any, merge_key: str) -> int:
    wanted = _merge_value(item, merge_key)
    for i, candidate in enumerate(items):
        if _same(_merge_value(candidate, merge_key), wanted):
            return i
    return -1


def _stable_sort(items: list[Any], less: Callable[[Any, Any], bool]) -> list[Any]:
    # Go's sort.SliceStable is an insertion sort on short lists; reproduce it so that the
    # order of items the ordering list does not name matches upstream's.
    out = list(items)
    for i in range(1, len(out)):
        j = i
        while j > 0 and less(out[j], out[j - 1]):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def _normalize_slice_order(items: list[Any], order: list[Any], merge_key: str, of_maps: bool) -> list[Any]:
    to_delete: list[Any] = []
    if of_maps:
        for item in (*items, *order):
            if not isinstance(item, dict):
                raise _bad_arg_type("map", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
        to_delete = [i for i in items if i.get(_DIRECTIVE) == "delete"]
        items = [i for i in items if i.get(_DIRECTIVE) != "delete"]

    def less(a: Any, b: Any) -> bool:
        ia, ib = _index(order, a, merge_key), _index(order, b, merge_key)
        return ia < ib if ia >= 0 and ib >= 0 else True

    return _stable_sort(items, less) + to_delete


def _normalize_element_order(
    patch_items: list[Any], server_only: list[Any], patch_order: list[Any], server_order: list[Any],
    merge_key: str, of_maps: bool,
) -> list[Any]:
    """Patch items in the patch's order, server-only items in the live order, interleaved as upstream does."""
    right = _normalize_slice_order(patch_items, patch_order, merge_key, of_maps)
    left = _normalize_slice_order(server_only, server_order, merge_key, of_maps)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li, ri = _index(server_order, left[i], merge_key), _index(server_order, right[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _partition(merged: list[Any], by: list[Any], merge_key: str, of_maps: bool) -> tuple[list[Any], list[Any]]:
    present: list[Any] = []
    server_only: list[Any] = []
    for item in merged:
        if of_maps:
            if not isinstance(item, dict):
                raise _bad_arg_type("map", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
        (present if _index(by, item, merge_key) >= 0 else server_only).append(item)
    return present, server_only


def _element_kind(*lists: list[Any]) -> str | None:
    kind = None
    for items in lists:
        for item in items:
            if kind is None:
                kind = _kind(item)
                if kind == "list":
                    raise PatchError(NO_LIST_OF_LISTS, 422)
            elif _kind(item) != kind:
                raise PatchError(f"list element types are not identical: {_go(list(lists))}", 500)
    return kind


def _merge_list(
    original: list[Any], patch: list[Any], element: _Type, meta: PatchMeta, delete_list: bool = False
) -> tuple[list[Any], list[Any]]:
    """The merged list, and ``original`` as its caller then sees it.

    Upstream deletes and appends inside the original slice's backing array, and a caller
    holding that slice (``$setElementOrder`` does) sees those writes. The second value
    replays them, since they decide the order of the final list.
    """
    if meta.strategy != "merge":
        return patch, original
    if not original and not patch:
        return original, original
    kind = _element_kind(original, patch)
    merge_key = meta.merge_key
    if kind != "dict":
        if delete_list:
            return [item for item in original if _index(patch, item, "") < 0], original
        merged: list[Any] = []
        for item in original + patch:
            if _index(merged, item, "") < 0:
                merged.append(item)
        present, server_only = _partition(merged, patch, "", False)
        return _normalize_element_order(present, server_only, patch, original, "", False), original
    if not merge_key:
        raise PatchError("cannot merge lists without merge key for type map", 500)
    seen = _AliasedList(original)
    plain = _apply_list_directives(seen, patch, merge_key)
    remaining = seen.items()
    for item in plain:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        at = _index(seen.items(), item, merge_key)
        if at >= 0:
            seen.set(at, _merge_map(seen.items()[at], item, element))
        else:
            seen.append(item)
    present, server_only = _partition(seen.items(), plain, merge_key, True)
    merged = _normalize_element_order(present, server_only, plain, remaining, merge_key, True)
    return merged, seen.caller_view()


class _AliasedList:
    """A Go slice and the backing array its caller shares, to replay in-place deletes and appends."""

    def __init__(self, items: list[Any]) -> None:
        self.backing = list(items)
        self.caller_length = len(items)
        self.length = len(items)
        self.detached: list[Any] | None = None

    def items(self) -> list[Any]:
        return list(self.detached) if self.detached is not None else self.backing[: self.length]

    def delete(self, index: int) -> None:
        if self.detached is not None:
            del self.detached[index]
            return
        self.backing[index : self.length - 1] = self.backing[index + 1 : self.length]
        self.length -= 1

    def set(self, index: int, value: Any) -> None:
        if self.detached is not None:
            self.detached[index] = value
        else:
            self.backing[index] = value

    def append(self, value: Any) -> None:
        # The API server builds the original from a typed object: capacity equals length,
        # so an append past the caller's length moves the slice to a new array.
        if self.detached is None and self.length < self.caller_length:
            self.backing[self.length] = value
            self.length += 1
            return
        if self.detached is None:
            self.detached = self.backing[: self.length]
        self.detached.append(value)

    def replace(self, items: list[Any]) -> None:
        self.detached = list(items)

    def caller_view(self) -> list[Any]:
        return self.backing[: self.caller_length]


def _apply_list_directives(seen: _AliasedList, patch: list[Any], merge_key: str) -> list[Any]:
    """Handle ``{"$patch": "delete", <key>: ...}`` and ``{"$patch": "replace"}`` elements; the other elements."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            while (at := _index(seen.items(), item, merge_key)) >= 0:
                seen.delete(at)
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 500)
        else:
            raise PatchError(f"unknown patch type: {_go(directive)} in map: {_go(item)}", 500)
    if replace:
        seen.replace(plain)
        return []
    return plain


def _remove_directives(value: Any) -> tuple[Any, bool]:
    """``value`` without the objects that carry ``$patch``, and whether to keep it at all (``removeDirectives``)."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        out = {}
        for key, item in value.items():
            kept, keep = _remove_directives(item)
            if keep:
                out[key] = kept
        return out, True
    if isinstance(value, list):
        return [kept for kept, keep in map(_remove_directives, value) if keep], True
    return value, True


def _discard_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _discard_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_discard_nulls(v) for v in value]
    return value


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    keep = patch.pop(_RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError(BAD_RETAIN_KEYS, 400)
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM, _SET_ORDER)):
            continue
        if key not in keep:
            raise PatchError(BAD_RETAIN_KEYS, 400)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _validate_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch list's items must appear in the ``$setElementOrder`` list, in the same order."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise _bad_arg_type("map", item)
        items = [i for i in patch_list if i.get(_DIRECTIVE) != "delete"]
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if merge_key:
            for item in (items[p], order[s]):
                if not isinstance(item, dict):
                    raise _bad_arg_type("map", item)
                if merge_key not in item:
                    raise _no_merge_key(item, merge_key)
        if _same(_merge_value(items[p], merge_key), _merge_value(order[s], merge_key)):
            p += 1
        s += 1
    if p < len(items):
        raise PatchError(
            f"The order in patch list:\n{_go(patch_list)}\n doesn't match {_SET_ORDER} list:\n{_go(order)}\n", 500
        )


def _apply_set_element_order(original: dict[str, Any], patch: dict[str, Any], here: _Type) -> None:
    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _bad_arg_type("slice", order)
        name = _extract_key(key, _SET_ORDER, BAD_SET_ORDER)
        original_list, patch_list = original.get(name), patch.get(name)
        if name in original and not isinstance(original_list, list):
            raise _bad_arg_type("slice", original_list)
        if name in patch and not isinstance(patch_list, list):
            raise _bad_arg_type("slice", patch_list)
        element, meta = here.field(name)
        _validate_order(patch_list or [], order, meta.merge_key)
        server_order = original_list or []
        if name in original and name in patch:
            merged, server_order = _merge_list(server_order, patch_list or [], element, meta)
        elif name in original:
            merged = server_order
        elif name in patch:
            merged = patch_list or []
        else:
            continue
        kind = _element_kind(original_list or [], patch_list or [])
        if kind is None:
            raise PatchError("no elements in any of the given slices", 500)
        present, server_only = _partition(merged, order, meta.merge_key, bool(meta.merge_key))
        original[name] = _normalize_element_order(
            present, server_only, order, server_order, meta.merge_key, kind == "dict"
        )
        patch.pop(name, None)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], here: _Type) -> dict[str, Any]:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            return {k: v for k, v in patch.items() if k != _DIRECTIVE}
        if directive == "delete":
            return {}
        raise PatchError(f"unknown patch type: {_go(directive)} in map: {_go(patch)}", 500)
    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, here)
    for key, value in patch.items():
        delete_list = key.startswith(_DELETE_FROM)
        if delete_list:
            key = _extract_key(key, _DELETE_FROM, BAD_PRIMITIVE_LIST)
        if value is None:
            original.pop(key, None)
            continue
        if key in original and _kind(original[key]) == _kind(value) and isinstance(value, dict | list):
            child, meta = here.field(key)
            if isinstance(value, dict):
                original[key] = value if meta.strategy == "replace" else _merge_map(original[key], value, child)
            else:
                original[key] = _merge_list(original[key], value, child, meta, delete_list)[0]
        elif not delete_list or (key in original and _kind(original[key]) == _kind(value)):
            # A new value, or one of another type, replaces what was there, minus the
            # directives it carries and its nulls (upstream's removeDirectives).
            kept, keep = _remove_directives(_discard_nulls(value))
            if keep:
                original[key] = kept
            else:
                original.pop(key, None)
    return original


def strategic_merge_patch(doc: dict[str, Any], patch: Any, model_name: str | None) -> dict[str, Any]:
    """Apply a strategic merge patch to ``doc``, an object of the client model ``model_name`` (``"V1Deployment"``).

    The result is what the API server stores: upstream's merge, then :func:`drop_directives`
    as its typed decoding does. With ``model_name`` None nothing is known of the fields:
    objects merge and lists are replaced, as in a JSON merge patch. Raises :class:`PatchError`.
    """
    if not isinstance(patch, dict):
        raise PatchError(
            f"json: cannot unmarshal {_go_type(patch)} into Go value of type map[string]interface {{}}", 400
        )
    if not isinstance(doc, dict):
        raise PatchError(BAD_JSON_DOC, 400)
    merged = _merge_map(copy.deepcopy(doc), copy.deepcopy(patch), _Type(model_name))
    return drop_directives(merged, model_name)


def drop_directives(obj: Any, model_name: str | None) -> Any:
    """``obj`` without the ``$``-keys a patch left in its objects, as decoding into typed structs drops them.

    Upstream's merge copies a value the original lacks as given, directives and all; the
    API server's decoding into Go structs then drops them as unknown fields. Keys of maps
    (labels, annotations, data) are data, not fields, and stay.
    """
    return _drop(obj, _Type(model_name)) if model_name else obj


def _drop(value: Any, here: _Type) -> Any:
    if isinstance(value, list):
        return [_drop(item, here) for item in value]
    if not isinstance(value, dict) or (here.model is None and not here.is_map):
        return value
    out = {}
    for key, item in value.items():
        if key.startswith("$") and not here.is_map:
            continue
        out[key] = _drop(item, here.field(key)[0])
    return out
