"""Field paths and their FieldsV1 encoding, as ``metadata.managedFields`` records them.

Mirrors ``sigs.k8s.io/structured-merge-diff/fieldpath``. A path is a tuple of elements:
``("f", "spec")`` for an object field, ``("k", (("name", '"web"'),))`` for the item of a
keyed list (values are JSON text), ``("v", '"a/b"')`` for an item of a set, ``("i", 0)``
for a list position. FieldsV1 nests them as ``f:spec``, ``k:{"name":"web"}``, ``v:"a/b"``,
``i:0``, with ``.`` marking a node owned as well as some of its children.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = [
    "Element", "FieldPathError", "Path", "encode_element", "field_set", "fields_v1", "json_text", "path_string",
    "sorted_paths",
]

Element = tuple[str, Any]
"""One step of a field path: ``("f", name)``, ``("k", ((key, json value), ...))``, ``("v", json value)``, ``("i", n)``."""
Path = tuple[Element, ...]


class FieldPathError(ValueError):
    """A FieldsV1 key that is not a path element."""


def json_text(value: Any) -> str:
    """Compact JSON, as path elements carry values."""
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


def encode_element(element: Element) -> str:
    """An element as a FieldsV1 key: ``f:spec``, ``k:{\"name\":\"web\"}``, ``v:\"a\"``."""
    kind, value = element
    if kind == "k":
        return "k:{" + ",".join(f"{json_text(name)}:{raw}" for name, raw in value) + "}"
    return f"{kind}:{value}"


def _decode_element(text: str) -> Element:
    kind, _, rest = text.partition(":")
    if kind == "f":
        return ("f", rest)
    if kind == "k":
        fields = json.loads(rest)
        return ("k", tuple(sorted((name, json_text(v)) for name, v in fields.items())))
    if kind == "v":
        return ("v", json_text(json.loads(rest)))
    if kind == "i":
        return ("i", int(rest))
    raise FieldPathError(f"unknown path element {text!r}")


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
            out[encode_element(element)] = encoded
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


def sorted_paths(paths: Iterable[Path]) -> list[Path]:
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
