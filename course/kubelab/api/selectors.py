"""Label, field and node selectors: parse them, match them, print them back as upstream does.

Mirrors ``k8s.io/apimachinery/pkg/labels`` (the selector string grammar of ``kubectl -l``
and ``?labelSelector=``, and ``metav1.LabelSelector`` objects), ``pkg/fields``
(``?fieldSelector=``) and ``k8s.io/component-helpers/scheduling/corev1/nodeaffinity``
(``nodeSelectorTerms`` of node affinity).

A parse error is a :class:`SelectorError` whose text is upstream's, e.g.
``unable to parse requirement: <nil>: Invalid value: "app:web": name part must ...``;
the API server returns it as the message of a 400 BadRequest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelab.api import field as fielderr
from kubelab.api.validation import is_qualified_name, is_valid_label_value

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "NodeSelector",
    "Requirement",
    "SelectorError",
    "escape_field_value",
]


class SelectorError(ValueError):
    """A selector string or object that cannot be parsed; the text is upstream's message."""


# Operators as upstream's ``selection.Operator`` spells them.
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "in", "notin", "exists", "!", "gt", "lt"
_BINARY = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_UNARY = (EXISTS, DOES_NOT_EXIST)


def _parse_int64(text: str) -> int | None:
    # strconv.ParseInt(s, 10, 64): optional sign, ASCII digits, within int64.
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: a key, an operator and its values (sorted, as upstream keeps them)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = (), path: str = "") -> Requirement:
        """A validated requirement (``labels.NewRequirement``); raises :class:`SelectorError`.

        ``path`` prefixes the field paths in the message (``spec.selector.matchExpressions[0]``).
        """
        vals = list(values)
        errs: list[fielderr.FieldError] = []
        at = f"{path}." if path else ""
        key_errs = is_qualified_name(key)
        if key_errs:
            errs.append(fielderr.invalid(f"{at}key", key, "; ".join(key_errs)))
        values_path = f"{at}values"
        if operator in (IN, NOT_IN):
            if not vals:
                errs.append(fielderr.invalid(values_path, vals, "for 'in', 'notin' operators, values set can't be empty"))
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                errs.append(fielderr.invalid(values_path, vals, "exact-match compatibility requires one single value"))
        elif operator in _UNARY:
            if vals:
                errs.append(fielderr.invalid(values_path, vals, "values set must be empty for exists and does not exist"))
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                errs.append(fielderr.invalid(values_path, vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
            for i, value in enumerate(vals):
                if _parse_int64(value) is None:
                    errs.append(fielderr.invalid(
                        f"{values_path}[{i}]", value, "for 'Gt', 'Lt' operators, the value must be an integer"
                    ))
        else:
            errs.append(fielderr.not_supported(f"{at}operator", operator, [*_BINARY, *_UNARY]))
        for i, value in enumerate(vals):
            value_errs = is_valid_label_value(value)
            if value_errs:
                errs.append(fielderr.invalid(f"{values_path}[{i}][{key}]", value, "; ".join(value_errs)))
        if errs:
            raise SelectorError(fielderr.aggregate(errs))
        return cls(key, operator, tuple(vals))

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return self.key in labels
        if self.operator == DOES_NOT_EXIST:
            return self.key not in labels
        if self.operator in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if self.operator == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator == EXISTS:
            return self.key
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """A set of requirements, all of which must match (``labels.Selector``).

    The empty selector matches everything; :meth:`nothing` matches nothing.
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls((), True)

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the selector syntax (``a=b,c!=d,e in (f,g),!h,i>3``); raises :class:`SelectorError`."""
        return cls(tuple(sorted(_Parser(text).parse(), key=lambda r: r.key)))

    @classmethod
    def from_set(cls, labels: Mapping[str, str] | None) -> LabelSelector:
        """Equality on every label (``labels.SelectorFromSet``, e.g. a pod's ``nodeSelector``); no validation."""
        return cls(tuple(Requirement(k, EQUALS, (v,)) for k, v in sorted((labels or {}).items())))

    @classmethod
    def from_label_selector(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """Convert a ``metav1.LabelSelector`` (``LabelSelectorAsSelector``); raises :class:`SelectorError`.

        None matches nothing; ``{}`` matches everything.
        """
        if selector is None:
            return cls.nothing()
        match_labels = selector.get("matchLabels") or {}
        expressions = selector.get("matchExpressions") or []
        if not match_labels and not expressions:
            return cls.everything()
        reqs = [Requirement.new(k, EQUALS, [v]) for k, v in match_labels.items()]
        operators = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
        for expr in expressions:
            op = expr.get("operator")
            if op not in operators:
                raise SelectorError(f"{fielderr.go_quote(str(op or ''))} is not a valid label selector operator")
            reqs.append(Requirement.new(expr.get("key") or "", operators[op], expr.get("values") or []))
        return cls(tuple(sorted(reqs, key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        """Whether the selector does not restrict anything (``Empty()``)."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The one value ``key`` must have (``=``, ``==`` or a one-value ``in``), or None."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def add(self, *requirements: Requirement) -> LabelSelector:
        return LabelSelector(tuple(sorted((*self.requirements, *requirements), key=lambda r: r.key)))

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# The lexer and parser of the label selector syntax, token for token as upstream's.

_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_TOKENS = {")": "close", ",": "comma", "!": "not", "==": "==", "=": "=", ">": ">", "in": "in", "<": "<",
           "!=": "!=", "notin": "notin", "(": "open"}


def _lex(text: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    data, pos = text.encode(), 0
    while True:
        while pos < len(data) and chr(data[pos]) in _WHITESPACE:
            pos += 1
        if pos >= len(data):
            items.append(("end", ""))
            return items
        if chr(data[pos]) in _SPECIAL:
            buffer, last = "", None
            while pos < len(data) and chr(data[pos]) in _SPECIAL:
                candidate = buffer + chr(data[pos])
                if candidate in _TOKENS:
                    buffer, last = candidate, (_TOKENS[candidate], candidate)
                    pos += 1
                elif last is not None:
                    break
                else:
                    buffer = candidate
                    pos += 1
            if last is None:
                items.append(("error", f"error expected: keyword found '{buffer}'"))
            else:
                items.append(last)
        else:
            start = pos
            while pos < len(data) and chr(data[pos]) not in _SPECIAL and chr(data[pos]) not in _WHITESPACE:
                pos += 1
            word = data[start:pos].decode(errors="replace")
            items.append((word if word in ("in", "notin") else "id", word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.position]
        return ("id" if values and tok in ("in", "notin") else tok), lit

    def _next(self, values: bool = True) -> tuple[str, str]:
        item = self._peek(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._peek()
            if tok in ("id", "not"):
                try:
                    reqs.append(self._requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e}") from None
                tok, lit = self._next()
                if tok == "end":
                    return reqs
                if tok != "comma":
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self._peek()
                if tok2 not in ("id", "not"):
                    raise SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok == "end":
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        operator = ""
        tok, lit = self._next()
        if tok == "not":
            operator = DOES_NOT_EXIST
            tok, lit = self._next()
        if tok != "id":
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errs = is_qualified_name(lit)
        if key_errs:
            raise SelectorError(str(fielderr.invalid("<nil>", lit, "; ".join(key_errs))))
        key = lit
        if self._peek()[0] in ("end", "comma"):
            return Requirement.new(key, operator or EXISTS, [])
        if operator == DOES_NOT_EXIST:
            return Requirement.new(key, operator, [])
        tok, lit = self._next(values=False)
        operators = {"in": IN, "notin": NOT_IN, "=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS,
                     ">": GREATER_THAN, "<": LESS_THAN}
        if tok not in operators:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY)}")
        operator = operators[tok]
        values = self._set_values() if operator in (IN, NOT_IN) else self._exact_value()
        return Requirement.new(key, operator, sorted(values))

    def _set_values(self) -> set[str]:
        tok, lit = self._next()
        if tok != "open":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._peek()
        if tok == "close":
            self._next()
            return {""}
        if tok not in ("id", "comma"):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifiers()
        if self._next()[0] != "close":
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self._next()
            if tok == "id":
                values.add(lit)
                tok2, lit2 = self._peek()
                if tok2 == "close":
                    return values
                if tok2 != "comma":
                    raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            elif tok == "comma":
                if not values:
                    values.add("")
                tok2, _ = self._peek()
                if tok2 == "close":
                    values.add("")
                    return values
                if tok2 == "comma":
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        tok, _ = self._peek()
        if tok in ("end", "comma"):
            return {""}
        tok, lit = self._next()
        if tok == "id":
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


# Field selectors.

def escape_field_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` in a field selector value (``fields.EscapeValue``)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Upstream prints the rune with %v: its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    if not text:
        return []
    terms, start, in_slash = [], 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


@dataclass(frozen=True)
class FieldSelector:
    """Terms ``field=value`` / ``field!=value``, all of which must hold (``fields.Selector``).

    A field missing from the object's fields counts as the empty string, so
    ``spec.nodeName=`` selects unscheduled pods.
    """

    terms: tuple[tuple[str, str, str], ...] = field(default=())
    """``(field, "=" or "!=", value)`` in the order upstream keeps them (terms sorted as text)."""

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Parse ``a=b,c==d,e!=f`` with ``\\``-escaped values; raises :class:`SelectorError`."""
        terms = []
        for part in sorted(_split_terms(text)):
            if not part:
                continue
            split = _split_term(part)
            if split is None:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            lhs, op, rhs = split
            terms.append((lhs, NOT_EQUALS if op == NOT_EQUALS else EQUALS, _unescape_field_value(rhs)))
        return cls(tuple(terms))

    @classmethod
    def from_set(cls, fields: Mapping[str, str]) -> FieldSelector:
        # Ordered as parse orders them (by the term's text), so a printed selector parses back equal.
        terms = sorted(fields.items(), key=lambda kv: f"{kv[0]}={escape_field_value(kv[1])}")
        return cls(tuple((k, EQUALS, v) for k, v in terms))

    @property
    def empty(self) -> bool:
        return not self.terms

    @property
    def fields(self) -> list[str]:
        """The field names the selector uses, so the server can reject unsupported ones."""
        return [name for name, _, _ in self.terms]

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all((fields.get(name, "") == value) == (op == EQUALS) for name, op, value in self.terms)

    def requires_exact_match(self, name: str) -> str | None:
        """The value ``name`` must equal (e.g. ``metadata.name``, to serve a list by key), or None."""
        for field_name, op, value in self.terms:
            if field_name == name and op == EQUALS:
                return value
        return None

    def __str__(self) -> str:
        return ",".join(f"{n}{op}{escape_field_value(v)}" for n, op, v in self.terms)


# Node selectors (node affinity).

_NODE_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST,
                   "Gt": GREATER_THAN, "Lt": LESS_THAN}


@dataclass(frozen=True)
class NodeSelectorTerm:
    """One ``nodeSelectorTerms`` entry: label requirements and field requirements, ANDed.

    The only field a node offers is ``metadata.name``; other fields count as empty.
    """

    labels: LabelSelector
    fields: FieldSelector
    has_requirements: bool

    def matches(self, node: Mapping[str, Any]) -> bool:
        if not self.has_requirements:
            return False
        meta = node.get("metadata") or {}
        return self.labels.matches(meta.get("labels") or {}) and self.fields.matches({"metadata.name": meta.get("name", "")})


@dataclass(frozen=True)
class NodeSelector:
    """A ``v1.NodeSelector``: a node matches when any term matches (``nodeaffinity.NodeSelector``).

    A term with no requirements matches nothing. A term that does not parse is dropped
    and its problem kept in :attr:`errors`, as upstream's lazy node selector does.
    """

    terms: tuple[NodeSelectorTerm, ...]
    errors: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None, path: str = "nodeSelectorTerms") -> NodeSelector:
        terms: list[NodeSelectorTerm] = []
        errors: list[str] = []
        for i, term in enumerate((spec or {}).get("nodeSelectorTerms") or []):
            at = f"{path}[{i}]"
            try:
                terms.append(_node_selector_term(term or {}, at))
            except SelectorError as e:
                errors.append(str(e))
        return cls(tuple(terms), tuple(errors))

    def matches(self, node: Mapping[str, Any]) -> bool:
        return any(term.matches(node) for term in self.terms)


def _node_selector_term(term: Mapping[str, Any], path: str) -> NodeSelectorTerm:
    expressions = term.get("matchExpressions") or []
    match_fields = term.get("matchFields") or []
    reqs = []
    for i, expr in enumerate(expressions):
        at = f"{path}.matchExpressions[{i}]"
        op = expr.get("operator")
        if op not in _NODE_OPERATORS:
            raise SelectorError(str(fielderr.not_supported(f"{at}.operator", op or "", [])))
        reqs.append(Requirement.new(expr.get("key") or "", _NODE_OPERATORS[op], expr.get("values") or [], at))
    field_terms = []
    for i, expr in enumerate(match_fields):
        at = f"{path}.matchFields[{i}]"
        op, values = expr.get("operator"), expr.get("values") or []
        if op not in ("In", "NotIn"):
            raise SelectorError(str(fielderr.not_supported(f"{at}.operator", op or "", ["In", "NotIn"])))
        if len(values) != 1:
            raise SelectorError(str(fielderr.invalid(f"{at}.values", values, "must have one element")))
        field_terms.append((expr.get("key") or "", EQUALS if op == "In" else NOT_EQUALS, values[0]))
    return NodeSelectorTerm(
        LabelSelector(tuple(sorted(reqs, key=lambda r: r.key))), FieldSelector(tuple(field_terms)),
        bool(expressions or match_fields),
    )
