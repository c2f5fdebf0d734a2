"""Resource quantities (``500m``, ``1Gi``, ``1e3``, ``0.5``): exact values, upstream's rounding and printing.

Mirrors ``k8s.io/apimachinery/pkg/api/resource`` (``Quantity``). A quantity is held
exactly, as a whole number of nano-units: upstream rounds every parsed value up (away
from zero) to a multiple of 1n and caps it at 2^63-1, so nothing finer or larger can
exist. Each quantity remembers the format it was written in (decimal SI suffixes,
binary SI suffixes, or a decimal exponent) and prints itself canonically in that format,
as the API server does when it stores an object: ``0.5`` → ``500m``, ``1024Mi`` → ``1Gi``,
``1000`` → ``1k``, ``1.5Gi`` → ``1536Mi``.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

__all__ = ["Quantity", "QuantityError", "canonical", "parse_quantity"]

Format = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

_NANO = 10**9
_MAX = 2**63 - 1
_REGEX = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {0: "", **{v // 10: k for k, v in _BINARY.items()}}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")


class QuantityError(ValueError):
    """A string that is not a quantity; the text is upstream's message."""


FORMAT_WRONG = f"quantities must match the regular expression '{_REGEX}'"
SUFFIX = "unable to parse quantity's suffix"


def _split(text: str) -> tuple[bool, str, str, str]:
    """Sign, integer digits, fraction digits and suffix, scanned as upstream's ``parseQuantityString``."""
    positive, pos, end = True, 0, len(text)
    if text[:1] in ("-", "+"):
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    start = pos
    while pos < end and text[pos] in "0123456789":
        pos += 1
    num, denom = text[start:pos] or "0", ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in "0123456789":
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in "0123456789":
        pos += 1
    if pos < end:
        raise QuantityError(FORMAT_WRONG)
    return positive, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format]:
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], "DecimalSI"
    if suffix in _BINARY:
        return 2, _BINARY[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = suffix[1:]
        digits = exponent[1:] if exponent[0] in "+-" else exponent
        if digits.isascii() and digits.isdigit() and -(2**63) <= int(exponent) < 2**63:
            return 10, int(exponent), "DecimalExponent"
    raise QuantityError(SUFFIX)


def _ceil_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded away from zero (denominator > 0)."""
    quotient = -(-abs(numerator) // denominator)
    return quotient if numerator >= 0 else -quotient


@functools.total_ordering
class Quantity:
    """An exact resource quantity and the format it prints in; compares by value."""

    __slots__ = ("format", "nanos")

    def __init__(self, nanos: int, format: Format = "DecimalSI") -> None:
        self.nanos = nanos
        """The value in units of 10^-9."""
        self.format: Format = format

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """Parse a quantity string (``ParseQuantity``); raises :class:`QuantityError`."""
        if not text:
            raise QuantityError(FORMAT_WRONG)
        if text == "0":
            return cls(0)
        positive, num, denom, suffix = _split(text)
        base, exponent, format = _interpret(suffix)
        # The value is (num.denom) * base**exponent, as an exact fraction p/q of units. Beyond
        # these bounds the value is capped or rounded up to 1n anyway: don't build huge powers.
        exponent = max(-(40 + len(num)), min(exponent, 40 + len(denom)))
        p, q = int(num + denom), 10 ** len(denom)
        if base == 2:
            p <<= exponent
        elif exponent >= 0:
            p *= 10**exponent
        else:
            q *= 10**-exponent
        nanos = min(_ceil_div(p * _NANO, q), _MAX * _NANO)
        if format == "BinarySI" and 0 < nanos < _NANO:
            format = "DecimalSI"
        return cls(nanos if positive else -nanos, format)

    @classmethod
    def from_value(cls, value: int, format: Format = "DecimalSI") -> Quantity:
        return cls(value * _NANO, format)

    @classmethod
    def from_milli(cls, milli: int, format: Format = "DecimalSI") -> Quantity:
        return cls(milli * 10**6, format)

    def value(self) -> int:
        """The value rounded up, away from zero, to a whole unit (``Value()``): ``100m`` → 1."""
        return _ceil_div(self.nanos, _NANO)

    def milli_value(self) -> int:
        """The value in thousandths, rounded up away from zero (``MilliValue()``): ``0.1`` → 100."""
        return _ceil_div(self.nanos, 10**6)

    def scaled_value(self, scale: int) -> int:
        """The value in units of 10^scale, rounded up away from zero (``ScaledValue``)."""
        if scale >= -9:
            return _ceil_div(self.nanos, 10 ** (scale + 9))
        return self.nanos * 10 ** (-9 - scale)

    def as_float(self) -> float:
        """An approximate float, for display and ratios only (``AsApproximateFloat64``)."""
        return self.nanos / _NANO

    def is_zero(self) -> bool:
        return self.nanos == 0

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.nanos + other.nanos, self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.nanos - other.nanos, self.format)

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.nanos == other.nanos

    def __lt__(self, other: Quantity) -> bool:
        return self.nanos < other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __str__(self) -> str:
        """The canonical text (``String()``): what the API server stores and returns."""
        if self.nanos == 0:
            return "0"
        format = self.format
        if format == "BinarySI":
            if -1024 * _NANO < self.nanos < 1024 * _NANO or self.nanos % _NANO:
                format = "DecimalSI"
            else:
                mantissa, power = self.nanos // _NANO, 0
                while abs(mantissa) >= 1024 and mantissa % 1024 == 0:
                    mantissa //= 1024
                    power += 1
                return f"{mantissa}{_BINARY_SUFFIX[power]}"
        mantissa, exponent = self.nanos, -9
        while mantissa % 10 == 0:
            mantissa //= 10
            exponent += 1
        while exponent % 3:
            mantissa *= 10
            exponent -= 1
        if format == "DecimalExponent":
            return f"{mantissa}e{exponent}" if exponent else str(mantissa)
        return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def parse_quantity(value: Any) -> Quantity:
    """A quantity from a JSON value: a string (spaces trimmed) or a number, as upstream decodes it."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(FORMAT_WRONG)
    if isinstance(value, float):
        text = repr(value)
        if text.endswith(".0"):
            text = text[:-2]
        text = text.replace("e+", "e")
    else:
        text = str(value)
    return Quantity.parse(text.strip())


def canonical(value: Any) -> str:
    """The canonical string of a quantity given as a JSON value: ``0.5`` → ``"500m"``."""
    return str(parse_quantity(value))
