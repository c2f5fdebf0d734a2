"""Field errors: what validation found wrong, and where.

Mirrors ``k8s.io/apimachinery/pkg/util/validation/field``. Each error becomes one entry of
an Invalid (422) Status's ``details.causes``, e.g.
``{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].name"}``,
and one clause of its message: ``Pod "web" is invalid: spec.containers[0].name: Required value``.
Paths are plain strings written as upstream's ``field.Path`` prints them:
``metadata.labels``, ``spec.containers[0]``, ``metadata.annotations[example.com/key]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_UNSHOWN = frozenset({"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"})
"""Types whose message never shows the bad value (``ErrorBody``)."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: its cause type, its path, the bad value and a detail."""

    type: str
    field: str
    detail: str = ""
    value: Any = None
    has_value: bool = False

    @property
    def message(self) -> str:
        """The text after ``field: `` in the Status message, as the upstream ``ErrorBody()`` builds it."""
        text = _SUMMARY[self.type]
        if self.has_value and self.type not in _UNSHOWN:
            text += f": {go_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def cause(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


_SUMMARY = {
    "FieldValueRequired": "Required value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueNotFound": "Not found",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
            "\t": "\\t", "\v": "\\v"}


def go_quote(text: str) -> str:
    """``text`` as Go's ``%q`` (``strconv.Quote``) prints it: printable Unicode kept, the rest escaped."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def go_value(value: Any) -> str:
    """A bad value as the upstream message shows it (``%q`` for strings, ``%v`` for numbers, ``%#v`` else).

    Lists of strings and string maps print as Go literals (``[]string{"a", "b"}``); other
    structures, which upstream prints as Go structs, print as compact JSON.
    """
    if value is None:
        return "null"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        items = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + items + "}"
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)


def aggregate(errors: list[FieldError]) -> str:
    """The errors joined as upstream's ``ErrorList.ToAggregate().Error()``: duplicates dropped, ``[a, b]``.

    An Invalid Status message is ``<Kind> "<name>" is invalid: `` followed by this.
    """
    seen: list[str] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.append(text)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", field, detail)


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("FieldValueInvalid", field, detail, value, True)


def type_invalid(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("FieldValueTypeInvalid", field, detail, value, True)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(s) for s in supported) if supported else ""
    return FieldError("FieldValueNotSupported", field, detail, value, True)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", field, "", value, True)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, detail)


def too_long(field: str, value: Any, max_length: int) -> FieldError:
    return FieldError("FieldValueTooLong", field, f"must have at most {max_length} bytes", value, False)


def too_many(field: str, actual: int, max_items: int) -> FieldError:
    return FieldError("FieldValueTooMany", field, f"must have at most {max_items} items", actual, True)


def not_found(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueNotFound", field, "", value, True)


def internal_error(field: str, detail: str) -> FieldError:
    return FieldError("InternalError", field, detail)
