"""A CRD version's ``openAPIV3Schema``: is it structural, and what it means for custom objects.

Mirrors ``k8s.io/apiextensions-apiserver/pkg/apiserver/schema`` (structural schemas,
pruning, defaulting) and the validation of custom objects (``pkg/apiserver/validation``):
types, ``properties``, ``required``, ``enum``, bounds, ``pattern``, ``items``,
``additionalProperties``, ``nullable``, ``x-kubernetes-preserve-unknown-fields``,
``x-kubernetes-int-or-string`` and ``x-kubernetes-embedded-resource``. Messages are
upstream's (``spec.replicas in body must be of type integer: "string"``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError

Obj = dict[str, Any]
TYPES = ("array", "boolean", "integer", "number", "object", "string")
_EMBEDDED_KEEP = ("apiVersion", "kind", "metadata")


def version_schema(version: Obj) -> Obj:
    """The ``openAPIV3Schema`` of one entry of a CRD's ``spec.versions`` (``{}`` when it has none)."""
    return ((version.get("schema") or {}).get("openAPIV3Schema")) or {}


def openapi_definition(version: Obj, object_meta_ref: str) -> Obj:
    """The published (OpenAPI) form of a version's schema: ``apiVersion``, ``kind``, ``metadata`` added."""
    definition = copy.deepcopy(version_schema(version)) or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    props = definition.setdefault("properties", {})
    props["apiVersion"] = {
        "description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string",
    }
    props["kind"] = {"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"}
    props["metadata"] = {"$ref": object_meta_ref}
    definition.setdefault("type", "object")
    return definition


# -- structural schemas -----------------------------------------------------------------------

def validate_structural(schema: Any, path: str) -> list[FieldError]:
    """Field errors making ``schema`` non-structural (every field typed, no conflicting keywords...)."""
    if not isinstance(schema, dict):
        return [field.required(path, "")]
    errs: list[FieldError] = []
    kind = schema.get("type")
    if not kind:
        errs.append(field.required(f"{path}.type", "must not be empty at the root"))
    elif kind != "object":
        errs.append(field.invalid(f"{path}.type", kind, "must be object at the root"))
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict):
        extra = set(metadata) - {"type", "properties", "description"}
        names = set(metadata.get("properties") or {}) - {"name", "generateName"}
        if extra or names:
            errs.append(field.forbidden(
                f"{path}.properties[metadata]",
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ))
    return errs + _validate_node(schema, path, root=True)


def _validate_node(schema: Obj, path: str, *, root: bool = False, what: str = "") -> list[FieldError]:
    errs: list[FieldError] = []
    kind = schema.get("type")
    int_or_string = schema.get("x-kubernetes-int-or-string") is True
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if preserve is False:
        errs.append(field.invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    if kind and kind not in TYPES:
        errs.append(field.not_supported(f"{path}.type", kind, list(TYPES)))
    if not root and not kind and not int_or_string and not preserve:
        errs.append(field.required(f"{path}.type", f"must not be empty for specified {what}"))
    if int_or_string and kind:
        errs.append(field.invalid(f"{path}.type", kind, "must be empty to be structural when x-kubernetes-int-or-string is true"))
    if schema.get("properties") and schema.get("additionalProperties") not in (None, False):
        errs.append(field.forbidden(f"{path}.additionalProperties", "additionalProperties and properties are mutual exclusive"))
    if kind == "array" and not isinstance(schema.get("items"), dict):
        errs.append(field.required(f"{path}.items", "must be specified"))
    for key in ("$ref", "definitions", "id", "patternProperties", "dependencies", "additionalItems"):
        if key in schema:
            errs.append(field.forbidden(f"{path}.{key}", f"{key} is not supported"))
    pattern = schema.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as err:
            errs.append(field.invalid(f"{path}.pattern", pattern, f"must be a valid regular expression, but isn't: {err}"))
    for name, child in (schema.get("properties") or {}).items():
        if isinstance(child, dict):
            errs += _validate_node(child, f"{path}.properties[{name}]", what="object fields")
    if isinstance(schema.get("items"), dict):
        errs += _validate_node(schema["items"], f"{path}.items", what="array items")
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        errs += _validate_node(additional, f"{path}.additionalProperties", what="additionalProperties")
    return errs


# -- pruning and unknown fields -----------------------------------------------------------------

def unknown_fields(obj: Obj, schema: Obj) -> list[str]:
    """Paths of the fields pruning would drop (``spec.foo``), as strict field validation reports them."""
    found: list[str] = []
    _prune(copy.deepcopy(obj), schema, "", found, root=True)
    return found


def prune(obj: Obj, schema: Obj) -> list[str]:
    """Drop the fields the schema does not specify, in place; returns their paths."""
    found: list[str] = []
    _prune(obj, schema, "", found, root=True)
    return found


def _prune(value: Any, schema: Obj, path: str, found: list[str], *, root: bool = False) -> None:
    if isinstance(value, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        keep = set(_EMBEDDED_KEEP) if root or schema.get("x-kubernetes-embedded-resource") else set()
        for key in list(value):
            where = f"{path}.{key}" if path else key
            if key in keep and not (props and key in props):
                continue
            if props and key in props:
                _prune(value[key], props[key], where, found)
            elif isinstance(additional, dict):
                _prune(value[key], additional, where, found)
            elif additional is True or preserve:
                continue
            else:
                found.append(where)
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, element in enumerate(value):
            _prune(element, schema["items"], f"{path}[{i}]", found)


# -- defaulting ------------------------------------------------------------------------------------

def apply_defaults(value: Any, schema: Obj) -> None:
    """Fill in ``default`` values of missing properties, in place, depth first (``structuraldefaulting``)."""
    if isinstance(value, dict):
        for key, child_schema in (schema.get("properties") or {}).items():
            if not isinstance(child_schema, dict):
                continue
            if key not in value and "default" in child_schema:
                value[key] = copy.deepcopy(child_schema["default"])
            if key in value:
                apply_defaults(value[key], child_schema)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in value:
                if not (schema.get("properties") or {}).get(key):
                    apply_defaults(value[key], additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for element in value:
            apply_defaults(element, schema["items"])


# -- validation of custom objects -----------------------------------------------------------------

def validate(obj: Obj, schema: Obj) -> list[FieldError]:
    """Field errors of a custom object against its version's schema (metadata is checked elsewhere)."""
    body = {k: v for k, v in obj.items() if k not in _EMBEDDED_KEEP}
    root = {k: v for k, v in schema.items() if k != "required"}
    root["properties"] = {k: v for k, v in (schema.get("properties") or {}).items() if k not in _EMBEDDED_KEEP}
    errs = _check(body, root, "")
    for name in schema.get("required") or []:
        if name not in obj and name not in _EMBEDDED_KEEP:
            errs.insert(0, field.required(name, ""))
    return errs


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(path: str, value: Any, expected: str) -> FieldError:
    # Upstream shows the actual type as the bad value: `Invalid value: "string": ... type integer: "string"`.
    actual = _type_of(value)
    at = path or "<root>"
    return field.type_invalid(at, actual, f"{at} in body must be of type {expected}: {field.go_quote(actual)}")


def _check(value: Any, schema: Obj, path: str) -> list[FieldError]:
    at = path or "<root>"
    if value is None:
        if schema.get("nullable") or schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("type"):
            return []
        if schema.get("type") or schema.get("x-kubernetes-int-or-string"):
            return [_type_error(path, value, schema.get("type") or "integer,string")]
        return []
    if schema.get("x-kubernetes-int-or-string") and _type_of(value) not in ("integer", "string"):
        return [_type_error(path, value, "integer,string")]
    kind = schema.get("type")
    actual = _type_of(value)
    if kind and not (actual == kind or (kind == "number" and actual == "integer")):
        return [_type_error(path, value, kind)]
    errs: list[FieldError] = []
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        errs.append(field.not_supported(at, value, [e if isinstance(e, str) else str(e) for e in enum]))
    if actual in ("integer", "number"):
        errs += _check_number(value, schema, at)
    elif actual == "string":
        errs += _check_string(value, schema, at)
    elif actual == "array":
        errs += _check_array(value, schema, path)
    elif actual == "object":
        errs += _check_object(value, schema, path)
    return errs


def _check_number(value: float, schema: Obj, at: str) -> list[FieldError]:
    errs = []
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if minimum is not None:
        if schema.get("exclusiveMinimum") and value <= minimum:
            errs.append(field.invalid(at, value, f"{at} in body should be greater than {_num(minimum)}"))
        elif value < minimum:
            errs.append(field.invalid(at, value, f"{at} in body should be greater than or equal to {_num(minimum)}"))
    if maximum is not None:
        if schema.get("exclusiveMaximum") and value >= maximum:
            errs.append(field.invalid(at, value, f"{at} in body should be less than {_num(maximum)}"))
        elif value > maximum:
            errs.append(field.invalid(at, value, f"{at} in body should be less than or equal to {_num(maximum)}"))
    multiple = schema.get("multipleOf")
    if multiple and value % multiple:
        errs.append(field.invalid(at, value, f"{at} in body should be a multiple of {_num(multiple)}"))
    return errs


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_string(value: str, schema: Obj, at: str) -> list[FieldError]:
    errs = []
    length = len(value)
    if schema.get("maxLength") is not None and length > schema["maxLength"]:
        errs.append(field.too_long(at, value, schema["maxLength"]))
    if schema.get("minLength") is not None and length < schema["minLength"]:
        errs.append(field.invalid(at, value, f"{at} in body should be at least {schema['minLength']} chars long"))
    pattern = schema.get("pattern")
    if pattern is not None:
        try:
            matched = re.search(str(pattern), value) is not None
        except re.error:
            matched = True
        if not matched:
            errs.append(field.invalid(at, value, f"{at} in body should match '{pattern}'"))
    return errs


def _check_array(value: list[Any], schema: Obj, path: str) -> list[FieldError]:
    at = path or "<root>"
    errs = []
    if schema.get("maxItems") is not None and len(value) > schema["maxItems"]:
        errs.append(field.too_many(at, len(value), schema["maxItems"]))
    if schema.get("minItems") is not None and len(value) < schema["minItems"]:
        errs.append(field.invalid(at, len(value), f"{at} in body should have at least {schema['minItems']} items"))
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        seen: list[Any] = []
        for i, element in enumerate(value):
            if element in seen:
                errs.append(field.duplicate(f"{path}[{i}]", element))
            seen.append(element)
    items = schema.get("items")
    if isinstance(items, dict):
        for i, element in enumerate(value):
            errs += _check(element, items, f"{path}[{i}]")
    return errs


def _check_object(value: Obj, schema: Obj, path: str) -> list[FieldError]:
    errs = []
    props = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            errs.append(field.required(f"{path}.{name}" if path else name, ""))
    limit = schema.get("maxProperties")
    if limit is not None and len(value) > limit:
        errs.append(field.too_many(path or "<root>", len(value), limit))
    minimum = schema.get("minProperties")
    if minimum is not None and len(value) < minimum:
        errs.append(field.invalid(path or "<root>", len(value), f"{path or '<root>'} in body should have at least {minimum} properties"))
    additional = schema.get("additionalProperties")
    for key, child in value.items():
        where = f"{path}.{key}" if path else key
        if key in props and isinstance(props[key], dict):
            errs += _check(child, props[key], where)
        elif isinstance(additional, dict):
            errs += _check(child, additional, where)
    return errs
