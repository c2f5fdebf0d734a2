"""Server-side apply and field ownership: ``metadata.managedFields``.

A faithful simplification of ``sigs.k8s.io/structured-merge-diff`` and the API server's
field manager (``k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager``). Every object
records which manager owns which fields, one ``managedFields`` entry per manager and
operation::

    {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
     "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1",
     "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {...}}}}

* :func:`apply` (``PATCH`` with ``application/apply-patch+yaml``) merges a manager's
  configuration into the live object. The manager then owns exactly the fields of its
  configuration; fields it applied before and no longer applies are removed unless
  another manager owns them. Changing a field another manager owns is a conflict
  (:class:`ApplyConflict`, HTTP 409) unless ``force``, which takes the field over.
* :func:`update_managed_fields` records a create, update or patch: the manager takes
  ownership of every field it added or changed, and nobody owns a removed field.

Fields are addressed as in FieldsV1: ``f:<name>`` for an object field, ``k:{...}`` for an
item of a list keyed by some of its fields (containers by name), ``v:<value>`` for an item
of a set (finalizers), ``.`` for a node that is owned as well as some of its children.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from kubelab.api import schema
from kubelab.api.meta import now_rfc3339
from kubelab.api.patch import patch_meta

__all__ = [
    "ApplyConflict",
    "ApplyError",
    "Conflict",
    "apply",
    "field_set",
    "fields_v1",
    "path_string",
    "update_managed_fields",
]

Element = tuple[str, Any]
"""One step of a field path: ``("f", name)``, ``("k", ((key, json value), ...))``, ``("v", json value)``."""
Path = tuple[Element, ...]


class ApplyError(Exception):
    """An apply request the server rejects before merging; ``code`` is the HTTP status."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Conflict:
    """One field another manager owns and the apply would change."""

    manager: str
    """The owner as upstream prints it: ``"kubectl-client-side-apply" using apps/v1``."""
    path: str
    """The field: ``.spec.replicas``, ``.spec.template.spec.containers[name="web"].image``."""


class ApplyConflict(Exception):
    """An apply that would change fields other managers own (409 Conflict); ``force`` overrides it."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        self.message = _conflict_message(conflicts)
        super().__init__(self.message)

    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of the 409 Status: one ``FieldManagerConflict`` per field."""
        return [{"reason": "FieldManagerConflict", "message": f"conflict with {c.manager}", "field": c.path}
                for c in self.conflicts]


def _conflict_message(conflicts: list[Conflict]) -> str:
    if len(conflicts) == 1:
        return f"Apply failed with 1 conflict: conflict with {conflicts[0].manager}: {conflicts[0].path}"
    lines: list[str] = []
    for manager in sorted({c.manager for c in conflicts}):
        lines.append(f"conflicts with {manager}")
        lines.extend(f"- {c.path}" for c in conflicts if c.manager == manager)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# Field paths and FieldsV1.

def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def path_string(path: Path) -> str:
    """A path as upstream prints it in conflicts: ``.spec.ports[port=80,protocol="TCP"].targetPort``."""
    out = []
    for kind, value in path:
        if kind == "f":
            out.append("." + value)
        elif kind == "k":
            out.append("[" + ",".join(f"{name}={raw}" for name, raw in value) + "]")
        elif kind == "v":
            out.append(f"[={value}]")
        else:
            out.append(f"[{value}]")
    return "".join(out)


def _encode_element(element: Element) -> str:
    kind, value = element
    if kind == "k":
        return "k:{" + ",".join(f"{_json(name)}:{raw}" for name, raw in value) + "}"
    return f"{kind}:{value}"


def _decode_element(text: str) -> Element:
    kind, _, rest = text.partition(":")
    if kind == "f":
        return ("f", rest)
    if kind == "k":
        fields = json.loads(rest)
        return ("k", tuple(sorted((name, _json(v)) for name, v in fields.items())))
    if kind == "v":
        return ("v", _json(json.loads(rest)))
    if kind == "i":
        return ("i", int(rest))
    raise ApplyError(f"unable to decode managed fields: unknown path element {text!r}", 500)


_ORDER = {"f": 0, "k": 1, "v": 2, "i": 3}


def _element_key(element: Element) -> tuple[int, Any]:
    kind, value = element
    return (_ORDER[kind], value if kind != "i" else int(value))


def fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """Encode a set of paths as a ``fieldsV1`` tree (sorted as upstream writes it, ``.`` first)."""
    tree: dict[Element, Any] = {}
    members: set[Path] = set(paths)
    for path in members:
        node = tree
        for element in path:
            node = node.setdefault(element, {})

    def encode(node: dict[Element, Any], prefix: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for element in sorted(node, key=_element_key):
            child = node[element]
            path = (*prefix, element)
            encoded = encode(child, path)
            if child and path in members:
                encoded = {".": {}, **encoded}
            out[_encode_element(element)] = encoded
        return out

    return encode(tree, ())


def field_set(fields: dict[str, Any]) -> set[Path]:
    """Decode a ``fieldsV1`` tree into its set of paths."""
    out: set[Path] = set()

    def walk(node: dict[str, Any], prefix: Path) -> None:
        for key, child in node.items():
            if key == ".":
                continue
            path = (*prefix, _decode_element(key))
            if not child or "." in child:
                out.add(path)
            walk(child, path)

    walk(fields or {}, ())
    return out


def _sorted(paths: Iterable[Path]) -> list[Path]:
    """Paths in upstream's iteration order: at each level the members, then the deeper paths."""
    tree: dict[Element, Any] = {}
    members = set(paths)
    for path in members:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    out: list[Path] = []

    def walk(node: dict[Element, Any], prefix: Path) -> None:
        ordered = sorted(node, key=_element_key)
        out.extend((*prefix, e) for e in ordered if (*prefix, e) in members)
        for element in ordered:
            walk(node[element], (*prefix, element))

    walk(tree, ())
    return out


# The shape of values: which lists are keyed, which are sets, what is atomic.

_LIST_KEYS = {
    ("V1Container", "ports"): ("containerPort", "protocol"),
    ("V1EphemeralContainer", "ports"): ("containerPort", "protocol"),
    ("V1ServiceSpec", "ports"): ("port", "protocol"),
    ("V1PodSpec", "topologySpreadConstraints"): ("topologyKey", "whenUnsatisfiable"),
}
"""Keyed lists whose ``listMapKey``s differ from their patch merge key."""
_KEY_DEFAULTS = {"protocol": "TCP"}
_ATOMIC_MAPS = {("V1ServiceSpec", "selector"), ("V1PodSpec", "nodeSelector")}
_ATOMIC_STRUCTS = {"V1LabelSelector"}
_VALUE_STRUCTS = {"metadata", "spec", "status", "template", "strategy", "updateStrategy", "resources",
                  "loadBalancer", "nodeInfo", "daemonEndpoints"}
"""Struct fields Go holds by value: always present, so never "added" when they first get content."""
_ALWAYS_PRESENT_LISTS = {("V1PodSpec", "containers")}


@dataclass(frozen=True)
class _Shape:
    """The structural type of a value: a struct (``model``), a map, a keyed list, a set, or atomic."""

    model: str | None = None
    kind: str = "deduced"
    """``struct``, ``map``, ``keyed``, ``set``, ``atomic`` or ``deduced`` (no schema: maps merge, lists are atomic)."""
    keys: tuple[str, ...] = ()
    element: _Shape | None = None
    always_present: bool = False

    def declares(self, name: str) -> bool:
        """Whether ``name`` is a field of this struct (map keys and unknown fields are not)."""
        found = schema.model(self.model) if self.kind == "struct" and self.model else None
        return found is not None and found.field(name) is not None

    def child(self, name: str) -> _Shape:
        if self.kind == "map":
            return self.element or _Shape()
        if self.kind != "struct" or self.model is None:
            return _Shape()
        found = schema.model(self.model)
        field = found.field(name) if found else None
        if field is None:
            return _Shape()
        return _shape_of(self.model, name, field)


def _model_shape(model: str | None, field_name: str = "") -> _Shape:
    if model is None:
        return _Shape(kind="atomic")
    if model in _ATOMIC_STRUCTS:
        return _Shape(model, "atomic")
    return _Shape(model, "struct", always_present=field_name in _VALUE_STRUCTS)


def _shape_of(parent: str, name: str, field: schema.FieldType) -> _Shape:
    element = _model_shape(field.model) if field.model else _Shape(kind="atomic")
    if field.container == "map":
        kind = "atomic" if (parent, name) in _ATOMIC_MAPS else "map"
        return _Shape(kind=kind, element=element)
    if field.container == "list":
        meta = patch_meta(parent, name)
        present = (parent, name) in _ALWAYS_PRESENT_LISTS
        if meta.strategy == "merge" and meta.merge_key:
            keys = _LIST_KEYS.get((parent, name), (meta.merge_key,))
            return _Shape(kind="keyed", keys=keys, element=element, always_present=present)
        if meta.strategy == "merge":
            return _Shape(kind="set", element=element)
        return _Shape(kind="atomic")
    if field.model:
        return _model_shape(field.model, name)
    return _Shape(kind="atomic")


def _root(model_name: str | None) -> _Shape:
    return _Shape(model_name, "struct") if model_name else _Shape()


def _is_map_like(shape: _Shape) -> bool:
    return shape.kind in ("struct", "map", "deduced")


def _item_element(shape: _Shape, item: Any, where: Path) -> Element | None:
    """The path element of a list item, or None if it lacks a key field that has no default."""
    if shape.kind == "set":
        return ("v", _json(item))
    if not isinstance(item, dict):
        return None
    fields = []
    for key in shape.keys:
        if key in item:
            fields.append((key, _json(item[key])))
        elif key in _KEY_DEFAULTS:
            fields.append((key, _json(_KEY_DEFAULTS[key])))
        else:
            return None
    return ("k", tuple(sorted(fields)))


def _items(shape: _Shape, items: list[Any], where: Path, strict: bool = False) -> list[tuple[Element, Any]]:
    """Each item with its path element.

    An apply configuration must name every item once (``strict``); stored objects may
    hold items without keys or with repeated keys (validation allows duplicate env
    names), which are then told apart by position.
    """
    out: list[tuple[Element, Any]] = []
    seen: set[Element] = set()
    for index, item in enumerate(items):
        element = _item_element(shape, item, where)
        if strict and element is None:
            missing = next(k for k in shape.keys if not isinstance(item, dict) or k not in item)
            raise ApplyError(
                f"{path_string(where)}: element {index}: associative list with keys has an element that omits "
                f"key field {_json(missing)} (and doesn't have default value)", 422,
            )
        if strict and element in seen:
            raise ApplyError(f"{path_string(where)}: duplicate entries for key {_encode_element(element)}", 422)
        if element is None or element in seen:
            element = ("i", index)
        seen.add(element)
        out.append((element, item))
    return out


# Field sets of values, comparisons, merges and removals.

def _to_set(value: Any, shape: _Shape, path: Path, out: set[Path], strict: bool = True) -> None:
    """The fields a value sets (``ToFieldSet``): leaves, list items, map entries, atomics.

    ``strict`` rejects list items without their keys, as an apply configuration must.
    """
    if isinstance(value, dict) and _is_map_like(shape):
        for name, item in value.items():
            child = (*path, ("f", name))
            _to_set(item, shape.child(name), child, out, strict)
            if item is None or item == {} or not shape.declares(name):
                out.add(child)
        return
    if isinstance(value, list) and shape.kind in ("keyed", "set"):
        for element, item in _items(shape, value, path, strict):
            child = (*path, element)
            if shape.kind == "keyed":
                _to_set(item, shape.element or _Shape(), child, out, strict)
            out.add(child)
        return
    out.add(path)


def _element_shape(shape: _Shape) -> _Shape:
    return (shape.element or _Shape()) if shape.kind == "keyed" else _Shape(kind="atomic")


def _compare(old: Any, new: Any, shape: _Shape, path: Path, added: set[Path], modified: set[Path],
             removed: set[Path], old_present: bool = False) -> None:
    """Record where ``new`` differs from ``old`` (upstream's ``Compare``).

    ``old_present`` marks a struct Go holds by value: present, empty, even when ``old`` lacks it.
    """
    if old is None and old_present:
        old = {} if isinstance(new, dict) else [] if isinstance(new, list) else None
    if old is None and new is None:
        return
    value = new if new is not None else old
    container = (isinstance(value, dict) and _is_map_like(shape)) or (
        isinstance(value, list) and shape.kind in ("keyed", "set"))
    same_type = old is None or new is None or type(old) is type(new)
    if not container or not same_type or (not old and not new):
        if old is None:
            added.add(path)
        elif new is None:
            removed.add(path)
        elif old != new or type(old) is not type(new):
            modified.add(path)
        return
    if isinstance(value, dict):
        old_map, new_map = old or {}, new or {}
        for name in [*old_map, *(n for n in new_map if n not in old_map)]:
            child = shape.child(name)
            _compare(old_map.get(name), new_map.get(name), child, (*path, ("f", name)), added, modified,
                     removed, old is not None and child.always_present)
    else:
        old_items = dict(_items(shape, old or [], path))
        new_items = dict(_items(shape, new or [], path))
        for element in [*old_items, *(e for e in new_items if e not in old_items)]:
            _compare(old_items.get(element), new_items.get(element), _element_shape(shape), (*path, element),
                     added, modified, removed)
    if old is None:
        added.add(path)
    elif new is None:
        removed.add(path)


def _merge(live: Any, config: Any, shape: _Shape) -> Any:
    """The live value with the configuration merged in (upstream's apply ``Merge``)."""
    if isinstance(live, dict) and isinstance(config, dict) and _is_map_like(shape):
        out = dict(live)
        for name, value in config.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = _merge(live.get(name), value, shape.child(name))
        return out
    if isinstance(live, list) and isinstance(config, list) and shape.kind in ("keyed", "set"):
        return _merge_items(live, config, shape)
    return copy.deepcopy(config)


def _merge_items(live: list[Any], config: list[Any], shape: _Shape) -> list[Any]:
    """Merge list items by key, keeping live-only items where they were (``visitListItems``)."""
    lhs = _items(shape, live, ())
    rhs = _items(shape, config, ())
    live_by, config_by = dict(lhs), dict(rhs)
    element_shape = _element_shape(shape)

    def merged(element: Element) -> Any:
        if element in live_by and element in config_by:
            return _merge(live_by[element], config_by[element], element_shape)
        return copy.deepcopy(config_by.get(element, live_by.get(element)))

    shared = [e for e, _ in rhs if e in live_by]
    out: list[Any] = []
    done: set[Element] = set()
    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            element = lhs[li][0]
            if element == rhs[ri][0]:
                out.append(merged(element))
                done.add(element)
                if shared and shared[0] == element:
                    shared.pop(0)
                li += 1
                ri += 1
                continue
            if element in config_by and shared and shared[0] != element:
                li += 1
                continue
        if li < len(lhs):
            element = lhs[li][0]
            if element not in config_by:
                out.append(merged(element))
                li += 1
                continue
            if element in done:
                li += 1
                continue
        if ri < len(rhs):
            element = rhs[ri][0]
            done.add(element)
            out.append(merged(element))
            ri += 1
            if shared and shared[0] == element:
                shared.pop(0)
    return out


def _remove(value: Any, path: Path, shape: _Shape) -> Any:
    """``value`` without the field at ``path``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head[0] == "f":
        if head[1] not in value:
            return value
        out = dict(value)
        if rest:
            out[head[1]] = _remove(value[head[1]], rest, shape.child(head[1]))
        else:
            del out[head[1]]
        return out
    if isinstance(value, list) and head[0] in ("k", "v", "i"):
        out_list = []
        for element, item in _items(shape, value, ()):
            if element != head:
                out_list.append(item)
            elif rest:
                out_list.append(_remove(item, rest, _element_shape(shape)))
        return out_list
    return value


# Managers.

_STRIPPED = {
    (("f", "apiVersion"),), (("f", "kind"),), (("f", "metadata"),),
    *((("f", "metadata"), ("f", name)) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
        "managedFields", "resourceVersion",
    )),
}
"""Fields nobody owns (upstream's ``stripMeta``)."""


def _strip(paths: set[Path], reset_fields: Collection[str]) -> set[Path]:
    return {p for p in paths if p not in _STRIPPED and not (p and p[0][0] == "f" and p[0][1] in reset_fields)}


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: set[Path]

    @property
    def identity(self) -> tuple[str, str, str, str]:
        # Appliers keep one entry whatever version they apply at; updaters one per version.
        return (self.manager, self.operation, self.subresource,
                "" if self.operation == "Apply" else self.api_version)

    def describe(self) -> str:
        text = _json(self.manager)
        if self.subresource:
            text += f" with subresource {_json(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def encode(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                                 "apiVersion": self.api_version}
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = fields_v1(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _decode(entries: Any) -> list[_Entry]:
    if not isinstance(entries, list):
        return []
    out = []
    for raw in entries:
        if not isinstance(raw, dict) or not raw.get("manager") and not raw.get("operation"):
            continue
        out.append(_Entry(
            str(raw.get("manager") or ""), str(raw.get("operation") or ""), str(raw.get("apiVersion") or ""),
            str(raw.get("subresource") or ""), raw.get("time"), field_set(raw.get("fieldsV1") or {}),
        ))
    return out


def _encode(entries: list[_Entry]) -> list[dict[str, Any]]:
    kept = [e for e in entries if e.fields]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.encode() for e in kept]


def _managers_of(new: dict[str, Any], old: dict[str, Any] | None) -> list[_Entry]:
    # A client that sends no managedFields keeps the live ones (upstream does the same, so
    # that clients unaware of them cannot drop them by accident).
    entries = _decode((new.get("metadata") or {}).get("managedFields"))
    if not entries and old is not None:
        entries = _decode((old.get("metadata") or {}).get("managedFields"))
    return entries


def _with_managed_fields(obj: dict[str, Any], entries: list[_Entry]) -> dict[str, Any]:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    encoded = _encode(entries)
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _without_managed_fields(obj: dict[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _changes(old: dict[str, Any], new: dict[str, Any], shape: _Shape,
             reset_fields: Collection[str]) -> tuple[set[Path], set[Path], set[Path]]:
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()
    _compare(old, new, shape, (), added, modified, removed, old_present=True)
    return _strip(added, reset_fields), _strip(modified, reset_fields), _strip(removed, reset_fields)


def update_managed_fields(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    model_name: str | None,
    subresource: str = "",
    now: str | None = None,
    reset_fields: Collection[str] = (),
) -> dict[str, Any]:
    """``new`` with ``metadata.managedFields`` updated for a create, update or patch by ``manager``.

    ``old`` is the stored object (None on create). The manager's ``Update`` entry at
    ``api_version`` gains every field the request added or changed; every entry loses the
    fields it removed. Top-level fields in ``reset_fields`` are not recorded (``("status",)``
    for a resource's main endpoint; everything but ``status`` for ``/status``). ``now``
    (RFC 3339) stamps the entry when something changed.
    """
    entries = _managers_of(new, old)
    added, modified, removed = _changes(_without_managed_fields(old), _without_managed_fields(new),
                                        _root(model_name), reset_fields)
    changed = added | modified
    this = _Entry(manager, "Update", api_version, subresource, None, set())
    for entry in entries:
        if entry.identity == this.identity:
            continue
        entry.fields -= changed | removed
    if changed:
        previous = next((e for e in entries if e.identity == this.identity), None)
        if previous is not None:
            previous.fields = (previous.fields - removed) | changed
            previous.time = now or now_rfc3339()
        else:
            this.fields = changed
            this.time = now or now_rfc3339()
            entries.append(this)
    else:
        for entry in entries:
            if entry.identity == this.identity:
                entry.fields -= removed
    return _with_managed_fields(new, entries)


def apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    model_name: str | None,
    force: bool = False,
    subresource: str = "",
    now: str | None = None,
    reset_fields: Collection[str] = (),
) -> dict[str, Any]:
    """The live object (None to create it) after ``manager`` applies ``config``, managedFields included.

    Raises :class:`ApplyConflict` when the apply would change fields other managers own
    and ``force`` is false; :class:`ApplyError` for a configuration the server rejects.
    Re-applying the same configuration changes nothing, not even the entry's time.
    """
    if not isinstance(config, dict):
        raise ApplyError("error decoding YAML: the apply configuration must be an object")
    if (config.get("metadata") or {}).get("managedFields"):
        raise ApplyError("metadata.managedFields must be nil")
    shape = _root(model_name)
    current = _without_managed_fields(live)
    entries = _decode((live or {}).get("metadata", {}).get("managedFields"))
    this = _Entry(manager, "Apply", api_version, subresource, None, set())
    previous = next((e for e in entries if e.identity == this.identity), None)
    applied: set[Path] = set()
    _to_set(config, shape, (), applied)
    applied = _strip(applied, reset_fields)

    merged = _merge(current, config, shape)
    if previous is not None:
        # Fields this manager applied before and applies no more go, unless someone owns them.
        owned = set().union(applied, *(e.fields for e in entries if e is not previous))
        present: set[Path] = set()
        _to_set(merged, shape, (), present, strict=False)
        for path in _sorted((previous.fields & present) - owned):
            merged = _remove(merged, path, shape)

    added, modified, removed = _changes(current, merged, shape, reset_fields)
    changed = added | modified
    conflicts: list[Conflict] = []
    for entry in entries:
        if entry is previous:
            continue
        conflicts.extend(Conflict(entry.describe(), path_string(p)) for p in _sorted(entry.fields & changed))
    if conflicts and not force:
        conflicts.sort(key=lambda c: c.manager)
        raise ApplyConflict(conflicts)
    for entry in entries:
        if entry is not previous:
            entry.fields -= changed | removed
    if previous is None:
        previous = this
        entries.append(previous)
    unchanged = merged == current and previous.fields == applied
    previous.fields = applied
    previous.api_version = api_version
    if not unchanged:
        previous.time = now or now_rfc3339()
    if unchanged and live is not None:
        return copy.deepcopy(live)
    return _with_managed_fields(merged, entries)
