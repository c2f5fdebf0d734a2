"""The shape of every built-in kind, read from the official client's generated models.

The ``kubernetes`` Python client is generated from the API's OpenAPI spec: each model class
(``V1Deployment``, ``V1PodSpec``...) lists its fields, their JSON names, types and
descriptions. We walk those classes instead of shipping a copy of the spec: strategic merge
patch uses them to know which field is a list of what, the OpenAPI documents that kubectl
reads are built from them, and so is unknown-field detection (``fieldValidation=Strict``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Literal

Primitive = Literal["string", "integer", "number", "boolean", "date-time", "byte", "any"]
_PRIMITIVES: dict[str, Primitive] = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "datetime": "date-time",
    "bytes": "byte",
    "object": "any",
}
_LIST = re.compile(r"^List\[(.+)\]$")
_DICT = re.compile(r"^Dict\[str, (.+)\]$")


@dataclass(frozen=True)
class FieldType:
    """The type of one field: a primitive, a model, or a list/map of either."""

    container: Literal["scalar", "list", "map"]
    primitive: Primitive | None = None
    model: str | None = None
    """The client's model class name (``V1Container``) when the element is an object."""
    description: str = ""


@dataclass(frozen=True)
class Model:
    """One model class: its name and its fields by JSON name."""

    name: str
    fields: dict[str, FieldType]
    description: str = ""
    required: tuple[str, ...] = ()
    """JSON names of the fields the API requires (``name`` of a container...)."""

    def field(self, json_name: str) -> FieldType | None:
        return self.fields.get(json_name)


def _parse(type_name: str, description: str) -> FieldType:
    for container, pattern in (("list", _LIST), ("map", _DICT)):
        m = pattern.match(type_name)
        if m:
            inner = _parse(m.group(1), description)
            return FieldType(container, inner.primitive, inner.model, description)  # type: ignore[arg-type]
    if type_name in _PRIMITIVES:
        return FieldType("scalar", _PRIMITIVES[type_name], None, description)
    return FieldType("scalar", None, type_name, description)


@functools.cache
def model(name: str) -> Model | None:
    """The model called ``name`` (``"V1PodSpec"``), or None if the client has no such model."""
    # Imported on first use: the client's models take about a second to load, which the
    # API server's start-up should not pay before it needs a schema.
    import kubernetes.client.models as models

    cls = getattr(models, name, None)
    types: dict[str, str] | None = getattr(cls, "openapi_types", None)
    if cls is None or not isinstance(types, dict):
        return None
    json_names: dict[str, str] = cls.attribute_map
    pyd_fields: dict[str, Any] = getattr(cls, "model_fields", {})
    fields = {}
    required = []
    for attr, type_name in types.items():
        info = pyd_fields.get(attr)
        description = (getattr(info, "description", None) or "") if info is not None else ""
        fields[json_names[attr]] = _parse(type_name, description)
        if info is not None and info.is_required():
            required.append(json_names[attr])
    # The docstring is the API's description followed by the generator's "Attributes:" notes.
    doc = (cls.__doc__ or "").split("Attributes:")[0].strip()
    if doc.startswith("NOTE: This class is auto generated"):
        doc = ""
    return Model(name, fields, doc, tuple(required))


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[.\-]", text) if part)


@functools.cache
def model_name_for_kind(group: str, version: str, kind: str) -> str | None:
    """The client's model class name for a kind: ``("apps", "v1", "Deployment")`` → ``"V1Deployment"``.

    Where two groups share a kind name the client prefixes the group (``CoreV1Event``,
    ``EventsV1Event``); this tries the group-qualified name first.
    """
    v = version[:1].upper() + version[1:]
    short_group = group.split(".")[0] if group else "core"
    for candidate in (f"{_camel(short_group)}{v}{kind}", f"{v}{kind}"):
        if model(candidate) is not None:
            return candidate
    return None


def model_for_kind(group: str, version: str, kind: str) -> Model | None:
    """The :class:`Model` of a kind, or None for kinds the client does not know (custom resources)."""
    name = model_name_for_kind(group, version, kind)
    return model(name) if name else None
