"""Values walked with their schema: field sets, comparisons, merges and removals.

Mirrors the parts of ``sigs.k8s.io/structured-merge-diff/typed`` that server-side apply
needs. A :class:`Shape` says how a value merges: a struct (fields from the official
client's models, :mod:`kubelab.api.schema`), a map, a list keyed by some of its items'
fields (containers by ``name``, ports by ``containerPort`` and ``protocol``), a set
(finalizers), or atomic (replaced whole). Values without a schema (custom resources)
are "deduced": objects merge field by field, lists are atomic.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

from kubelab.api import schema
from kubelab.api.fieldpath import Element, Path, encode_element, json_text, path_string
from kubelab.api.patch import patch_meta

__all__ = ["Shape", "TypedValueError", "compare", "merge", "remove", "root_shape", "to_field_set"]


class TypedValueError(ValueError):
    """A value that does not fit its schema, e.g. a keyed list item without its key."""


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
class Shape:
    """The structural type of a value: a struct (``model``), a map, a keyed list, a set, or atomic."""

    model: str | None = None
    kind: str = "deduced"
    """``struct``, ``map``, ``keyed``, ``set``, ``atomic`` or ``deduced`` (no schema: maps merge, lists are atomic)."""
    keys: tuple[str, ...] = ()
    element: Shape | None = None
    always_present: bool = False
    _fields: dict[str, Shape] = field(default_factory=dict, init=False, repr=False, compare=False)
    """A struct's field shapes worked out so far: every write walks them again."""

    def declares(self, name: str) -> bool:
        """Whether ``name`` is a field of this struct (map keys and unknown fields are not)."""
        found = schema.model(self.model) if self.kind == "struct" and self.model else None
        return found is not None and found.field(name) is not None

    def child(self, name: str) -> Shape:
        if self.kind == "map":
            return self.element or _DEDUCED
        if self.kind != "struct" or self.model is None:
            return _DEDUCED
        known = self._fields.get(name)
        if known is not None:
            return known
        found = schema.model(self.model)
        declared = found.field(name) if found else None
        if declared is None:
            return _DEDUCED
        shape = self._fields[name] = _shape_of(self.model, name, declared)
        return shape


_DEDUCED = Shape()


def _model_shape(model: str | None, field_name: str = "") -> Shape:
    if model is None:
        return Shape(kind="atomic")
    if model in _ATOMIC_STRUCTS:
        return Shape(model, "atomic")
    return Shape(model, "struct", always_present=field_name in _VALUE_STRUCTS)


def _shape_of(parent: str, name: str, field: schema.FieldType) -> Shape:
    element = _model_shape(field.model) if field.model else Shape(kind="atomic")
    if field.container == "map":
        kind = "atomic" if (parent, name) in _ATOMIC_MAPS else "map"
        return Shape(kind=kind, element=element)
    if field.container == "list":
        meta = patch_meta(parent, name)
        present = (parent, name) in _ALWAYS_PRESENT_LISTS
        if meta.strategy == "merge" and meta.merge_key:
            keys = _LIST_KEYS.get((parent, name), (meta.merge_key,))
            return Shape(kind="keyed", keys=keys, element=element, always_present=present)
        if meta.strategy == "merge":
            return Shape(kind="set", element=element)
        return Shape(kind="atomic")
    if field.model:
        return _model_shape(field.model, name)
    return Shape(kind="atomic")


@functools.cache
def root_shape(model_name: str | None) -> Shape:
    """The shape of a whole object of the client's model ``model_name`` (None: no schema)."""
    return Shape(model_name, "struct") if model_name else _DEDUCED


def _is_map_like(shape: Shape) -> bool:
    return shape.kind in ("struct", "map", "deduced")


def _item_element(shape: Shape, item: Any, where: Path) -> Element | None:
    """The path element of a list item, or None if it lacks a key field that has no default."""
    if shape.kind == "set":
        return ("v", json_text(item))
    if not isinstance(item, dict):
        return None
    fields = []
    for key in shape.keys:
        if key in item:
            fields.append((key, json_text(item[key])))
        elif key in _KEY_DEFAULTS:
            fields.append((key, json_text(_KEY_DEFAULTS[key])))
        else:
            return None
    return ("k", tuple(sorted(fields)))


def _items(shape: Shape, items: list[Any], where: Path, strict: bool = False) -> list[tuple[Element, Any]]:
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
            raise TypedValueError(
                f"{path_string(where)}: element {index}: associative list with keys has an element that omits "
                f"key field {json_text(missing)} (and doesn't have default value)"
            )
        if strict and element in seen:
            raise TypedValueError(f"{path_string(where)}: duplicate entries for key {encode_element(element)}")
        if element is None or element in seen:
            element = ("i", index)
        seen.add(element)
        out.append((element, item))
    return out


def to_field_set(value: Any, shape: Shape, path: Path, out: set[Path], strict: bool = True) -> None:
    """The fields a value sets (``ToFieldSet``): leaves, list items, map entries, atomics.

    ``strict`` rejects list items without their keys, as an apply configuration must.
    """
    if isinstance(value, dict) and _is_map_like(shape):
        for name, item in value.items():
            child = (*path, ("f", name))
            to_field_set(item, shape.child(name), child, out, strict)
            if item is None or item == {} or not shape.declares(name):
                out.add(child)
        return
    if isinstance(value, list) and shape.kind in ("keyed", "set"):
        for element, item in _items(shape, value, path, strict):
            child = (*path, element)
            if shape.kind == "keyed":
                to_field_set(item, shape.element or Shape(), child, out, strict)
            out.add(child)
        return
    out.add(path)


def _element_shape(shape: Shape) -> Shape:
    return (shape.element or Shape()) if shape.kind == "keyed" else Shape(kind="atomic")


def compare(old: Any, new: Any, shape: Shape, path: Path, added: set[Path], modified: set[Path],
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
            compare(old_map.get(name), new_map.get(name), child, (*path, ("f", name)), added, modified,
                     removed, old is not None and child.always_present)
    else:
        old_items = dict(_items(shape, old or [], path))
        new_items = dict(_items(shape, new or [], path))
        for element in [*old_items, *(e for e in new_items if e not in old_items)]:
            compare(old_items.get(element), new_items.get(element), _element_shape(shape), (*path, element),
                     added, modified, removed)
    if old is None:
        added.add(path)
    elif new is None:
        removed.add(path)


def merge(live: Any, config: Any, shape: Shape) -> Any:
    """The live value with the configuration merged in (upstream's apply ``Merge``)."""
    if isinstance(live, dict) and isinstance(config, dict) and _is_map_like(shape):
        out = dict(live)
        for name, value in config.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = merge(live.get(name), value, shape.child(name))
        return out
    if isinstance(live, list) and isinstance(config, list) and shape.kind in ("keyed", "set"):
        return _merge_items(live, config, shape)
    return copy.deepcopy(config)


def _merge_items(live: list[Any], config: list[Any], shape: Shape) -> list[Any]:
    """Merge list items by key, keeping live-only items where they were (``visitListItems``)."""
    lhs = _items(shape, live, ())
    rhs = _items(shape, config, ())
    live_by, config_by = dict(lhs), dict(rhs)
    element_shape = _element_shape(shape)

    def merged(element: Element) -> Any:
        if element in live_by and element in config_by:
            return merge(live_by[element], config_by[element], element_shape)
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


def remove(value: Any, path: Path, shape: Shape) -> Any:
    """``value`` without the field at ``path``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head[0] == "f":
        if head[1] not in value:
            return value
        out = dict(value)
        if rest:
            out[head[1]] = remove(value[head[1]], rest, shape.child(head[1]))
        else:
            del out[head[1]]
        return out
    if isinstance(value, list) and head[0] in ("k", "v", "i"):
        out_list = []
        for element, item in _items(shape, value, ()):
            if element != head:
                out_list.append(item)
            elif rest:
                out_list.append(remove(item, rest, _element_shape(shape)))
        return out_list
    return value
