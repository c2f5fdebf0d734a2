"""The simple JSONPath of CRDs: printer columns, selectable fields and scale paths.

``.spec.replicas``, ``.status.conditions[0].type``, ``.metadata.labels['app.kubernetes.io/name']``
and filters such as ``.status.conditions[?(@.type=="Ready")].status`` — what CRD authors
write in ``additionalPrinterColumns``. Mirrors what ``k8s.io/client-go/util/jsonpath``
evaluates for them (first match only, missing keys allowed).
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[['"](?P<key>[^'"]+)['"]\]"""
    r"""|\[\?\(@\.(?P<fkey>[A-Za-z0-9_.\-]+)\s*(?P<op>==|!=)\s*(?P<fval>"[^"]*"|'[^']*'|[^)\s]+)\)\]"""
    r"""|\[\*\]|\.\*"""
)


class JSONPathError(ValueError):
    """A path this evaluator cannot parse."""


def parse(path: str) -> list[tuple[str, Any]]:
    """The steps of a path (``{.spec.x}`` braces optional); raises :class:`JSONPathError`."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    steps: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise JSONPathError(f"unrecognized JSONPath {path!r} at {text[pos:]!r}")
        if m.group("field") is not None:
            steps.append(("field", m.group("field")))
        elif m.group("index") is not None:
            steps.append(("index", int(m.group("index"))))
        elif m.group("key") is not None:
            steps.append(("field", m.group("key")))
        elif m.group("fkey") is not None:
            raw = m.group("fval")
            value: Any = raw[1:-1] if raw[:1] in "'\"" else json.loads(raw) if raw in ("true", "false") or raw.lstrip("-").isdigit() else raw
            steps.append(("filter", (m.group("fkey").split("."), m.group("op"), value)))
        else:
            steps.append(("all", None))
        pos = m.end()
    return steps


def find(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` selects in ``obj`` (empty when a key is missing)."""
    current = [obj]
    for kind, arg in parse(path):
        following: list[Any] = []
        for value in current:
            if kind == "field" and isinstance(value, dict) and arg in value or kind == "index" and isinstance(value, list) and -len(value) <= arg < len(value):
                following.append(value[arg])
            elif kind == "all":
                following.extend(value if isinstance(value, list) else value.values() if isinstance(value, dict) else [])
            elif kind == "filter" and isinstance(value, list):
                keys, op, expected = arg
                for element in value:
                    actual: Any = element
                    for key in keys:
                        actual = actual.get(key) if isinstance(actual, dict) else None
                    if (actual == expected) == (op == "=="):
                        following.append(element)
        current = following
    return current


def text(value: Any) -> str:
    """A value as the JSONPath printer writes it: strings bare, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
