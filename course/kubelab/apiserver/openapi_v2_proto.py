"""``/openapi/v2`` in the only form client-go reads: a gnostic ``openapi_v2.Document`` protobuf.

client-go's ``OpenAPISchema()`` asks for ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``
and unmarshals the reply with ``proto.Unmarshal``; kubectl 1.27/1.28 use it to check that a
kind's PATCH takes ``fieldValidation``. This writes the protobuf wire format of the
messages in ``github.com/google/gnostic/openapiv2/OpenAPIv2.proto`` that our swagger
document uses, field numbers as declared there. Values the proto keeps as ``Any``
(vendor extensions, defaults) are YAML text, as gnostic stores them.
"""

from __future__ import annotations

import struct
from typing import Any

import yaml

Obj = dict[str, Any]


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


class _Message:
    """Fields of one message being encoded, in field order of the calls."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def string(self, number: int, value: Any) -> None:
        if value not in (None, ""):
            data = str(value).encode()
            self.parts.append(_key(number, 2) + _varint(len(data)) + data)

    def strings(self, number: int, values: Any) -> None:
        for value in values or []:
            data = str(value).encode()
            self.parts.append(_key(number, 2) + _varint(len(data)) + data)

    def boolean(self, number: int, value: Any) -> None:
        if value:
            self.parts.append(_key(number, 0) + _varint(1))

    def integer(self, number: int, value: Any) -> None:
        if value is not None:
            self.parts.append(_key(number, 0) + _varint(int(value)))

    def double(self, number: int, value: Any) -> None:
        if value is not None:
            self.parts.append(_key(number, 1) + struct.pack("<d", float(value)))

    def message(self, number: int, value: bytes | None) -> None:
        if value is not None:
            self.parts.append(_key(number, 2) + _varint(len(value)) + value)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def _any(value: Any) -> bytes:
    """``Any{yaml: ...}``: how gnostic keeps a free-form value."""
    m = _Message()
    m.string(2, yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n").removesuffix("\n..."))
    return m.bytes()


def _named_any(name: str, value: Any) -> bytes:
    m = _Message()
    m.string(1, name)
    m.message(2, _any(value))
    return m.bytes()


def _extensions(m: _Message, number: int, node: Obj) -> None:
    for key, value in node.items():
        if key.startswith("x-"):
            m.message(number, _named_any(key, value))


def _schema(node: Obj) -> bytes:
    m = _Message()
    m.string(1, node.get("$ref"))
    m.string(2, node.get("format"))
    m.string(3, node.get("title"))
    m.string(4, node.get("description"))
    if "default" in node:
        m.message(5, _any(node["default"]))
    m.double(6, node.get("multipleOf"))
    m.double(7, node.get("maximum"))
    m.boolean(8, node.get("exclusiveMaximum"))
    m.double(9, node.get("minimum"))
    m.boolean(10, node.get("exclusiveMinimum"))
    m.integer(11, node.get("maxLength"))
    m.integer(12, node.get("minLength"))
    m.string(13, node.get("pattern"))
    m.integer(14, node.get("maxItems"))
    m.integer(15, node.get("minItems"))
    m.boolean(16, node.get("uniqueItems"))
    m.integer(17, node.get("maxProperties"))
    m.integer(18, node.get("minProperties"))
    m.strings(19, node.get("required"))
    for value in node.get("enum") or []:
        m.message(20, _any(value))
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        item = _Message()
        item.message(1, _schema(additional))
        m.message(21, item.bytes())
    elif isinstance(additional, bool):
        item = _Message()
        item.parts.append(_key(2, 0) + _varint(int(additional)))
        m.message(21, item.bytes())
    if node.get("type"):
        kinds = _Message()
        kinds.strings(1, node["type"] if isinstance(node["type"], list) else [node["type"]])
        m.message(22, kinds.bytes())
    if isinstance(node.get("items"), dict):
        items = _Message()
        items.message(1, _schema(node["items"]))
        m.message(23, items.bytes())
    for sub in node.get("allOf") or []:
        m.message(24, _schema(sub))
    if isinstance(node.get("properties"), dict):
        props = _Message()
        for name, sub in node["properties"].items():
            named = _Message()
            named.string(1, name)
            named.message(2, _schema(sub))
            props.message(1, named.bytes())
        m.message(25, props.bytes())
    m.boolean(27, node.get("readOnly"))
    _extensions(m, 31, node)
    return m.bytes()


def _parameter(node: Obj) -> bytes:
    """``ParametersItem``: a body parameter, or a query/path/header one."""
    param = _Message()
    if node.get("in") == "body":
        body = _Message()
        body.string(1, node.get("description"))
        body.string(2, node.get("name"))
        body.string(3, "body")
        body.boolean(4, node.get("required"))
        body.message(5, _schema(node.get("schema") or {}))
        param.message(1, body.bytes())
    else:
        sub = _Message()
        where = node.get("in")
        if where == "path":
            # PathParameterSubSchema: required, in, description, name, type, format...
            sub.boolean(1, node.get("required"))
            sub.string(2, where)
            sub.string(3, node.get("description"))
            sub.string(4, node.get("name"))
            sub.string(5, node.get("type"))
            sub.boolean(19, node.get("uniqueItems"))
            oneof = 4
        elif where == "header":
            sub.boolean(1, node.get("required"))
            sub.string(2, where)
            sub.string(3, node.get("description"))
            sub.string(4, node.get("name"))
            sub.string(5, node.get("type"))
            sub.boolean(19, node.get("uniqueItems"))
            oneof = 1
        else:
            # QueryParameterSubSchema: ..., allow_empty_value = 5, type = 6, unique_items = 20.
            sub.boolean(1, node.get("required"))
            sub.string(2, where)
            sub.string(3, node.get("description"))
            sub.string(4, node.get("name"))
            sub.string(6, node.get("type"))
            sub.boolean(20, node.get("uniqueItems"))
            oneof = 3
        non_body = _Message()
        non_body.message(oneof, sub.bytes())
        param.message(2, non_body.bytes())
    item = _Message()
    item.message(1, param.bytes())
    return item.bytes()


def _responses(node: Obj) -> bytes:
    m = _Message()
    for code, response in node.items():
        body = _Message()
        body.string(1, response.get("description"))
        if isinstance(response.get("schema"), dict):
            schema_item = _Message()
            schema_item.message(1, _schema(response["schema"]))
            body.message(2, schema_item.bytes())
        value = _Message()
        value.message(1, body.bytes())
        named = _Message()
        named.string(1, code)
        named.message(2, value.bytes())
        m.message(1, named.bytes())
    return m.bytes()


def _operation(node: Obj) -> bytes:
    m = _Message()
    m.strings(1, node.get("tags"))
    m.string(2, node.get("summary"))
    m.string(3, node.get("description"))
    m.string(5, node.get("operationId"))
    m.strings(6, node.get("produces"))
    m.strings(7, node.get("consumes"))
    for param in node.get("parameters") or []:
        m.message(8, _parameter(param))
    if isinstance(node.get("responses"), dict):
        m.message(9, _responses(node["responses"]))
    m.strings(10, node.get("schemes"))
    m.boolean(11, node.get("deprecated"))
    _extensions(m, 13, node)
    return m.bytes()


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(node: Obj) -> bytes:
    m = _Message()
    for method, number in _METHODS.items():
        if isinstance(node.get(method), dict):
            m.message(number, _operation(node[method]))
    for param in node.get("parameters") or []:
        m.message(9, _parameter(param))
    _extensions(m, 10, node)
    return m.bytes()


def encode_document(doc: Obj) -> bytes:
    """The ``openapi_v2.Document`` protobuf of a swagger 2.0 document (as :mod:`kubelab.apiserver.openapi` builds it)."""
    m = _Message()
    m.string(1, doc.get("swagger"))
    info = _Message()
    info.string(1, (doc.get("info") or {}).get("title"))
    info.string(2, (doc.get("info") or {}).get("version"))
    m.message(2, info.bytes())
    paths = _Message()
    for path, item in (doc.get("paths") or {}).items():
        named = _Message()
        named.string(1, path)
        named.message(2, _path_item(item))
        paths.message(2, named.bytes())
    m.message(8, paths.bytes())
    definitions = _Message()
    for name, schema in (doc.get("definitions") or {}).items():
        named = _Message()
        named.string(1, name)
        named.message(2, _schema(schema))
        definitions.message(1, named.bytes())
    m.message(9, definitions.bytes())
    return m.bytes()
