"""Checks that graded cells call: plain-value comparisons, property checks, time limits.

Every check raises :class:`CheckFailed` (an ``AssertionError``) with a message in plain
words, and writes nothing to stderr: nbgrader scores a cell that writes to stderr as 0.

Values are compared only after :func:`plain` turned them into built-in values read through
the built-in types' own methods, so an object whose ``__eq__`` always returns ``True``
(or that fakes ``__iter__``, ``__len__``, ``items``...) compares as what it really holds.

    expect_equal(parse_quantity("1Ki"), 1024, what='parse_quantity("1Ki")')
    for_all(lambda rng: rng.randrange(10**6), lambda n: expect_equal(parse_quantity(str(n)), n))
    with time_limit(2):
        expect_true(selector_matches({"app": "web"}, {"app": "web"}))
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import signal
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "CheckFailed",
    "CheckTimeout",
    "NotPlain",
    "expect_equal",
    "expect_raises",
    "expect_true",
    "for_all",
    "plain",
    "time_limit",
]

T = TypeVar("T")

# Captured when this module is imported (the autograder imports it before any student
# code runs), so a student who rebinds these built-ins later does not change the checks.
_type = type
_isinstance = isinstance
_repr = repr
_len = len
_int_value = int.__int__
_float_value = float.__float__
_str_value = str.__str__
_bytes_value = bytes.__bytes__
_list_iter = list.__iter__
_tuple_iter = tuple.__iter__
_dict_items = dict.items
_set_iter = set.__iter__
_frozenset_iter = frozenset.__iter__

MAX_DEPTH = 50
MAX_SHOWN = 300


class CheckFailed(AssertionError):
    """A graded check did not hold; the message says what was expected and what came back."""


class NotPlain(CheckFailed):
    """A value is not made of plain Python values, so it cannot be compared safely."""


class CheckTimeout(BaseException):
    """A check ran past its time limit (a ``BaseException``, so ``except Exception`` cannot hide it)."""


def _shown(value: Any) -> str:
    try:
        text = _repr(plain(value))
    except CheckFailed:
        text = f"a {_type(value).__name__} object"
    return text if _len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def plain(value: Any, *, _depth: int = 0) -> Any:
    """``value`` rebuilt from built-in types only: None, bool, int, float, str, bytes, list, tuple, dict, set.

    Subclasses of those are read through the base type (a ``class Liar(int)`` becomes the
    ``int`` it holds). Dataclasses become dicts of their fields, and objects of the official
    ``kubernetes`` client become their ``to_dict()``. Anything else raises :class:`NotPlain`.
    """
    __tracebackhide__ = True
    if _depth > MAX_DEPTH:
        raise NotPlain(f"the value is nested more than {MAX_DEPTH} levels deep (a cycle?)")
    kind = _type(value)
    deeper = _depth + 1
    if value is None or kind is bool:
        return value
    if _isinstance(value, bool):
        return bool(_int_value(value))
    if _isinstance(value, int):
        return _int_value(value)
    if _isinstance(value, float):
        return _float_value(value)
    if _isinstance(value, str):
        return _str_value(value)
    if _isinstance(value, bytes):
        return _bytes_value(value)
    if _isinstance(value, list):
        return [plain(item, _depth=deeper) for item in _list_iter(value)]
    if _isinstance(value, tuple):
        return tuple(plain(item, _depth=deeper) for item in _tuple_iter(value))
    if _isinstance(value, dict):
        return {plain(k, _depth=deeper): plain(v, _depth=deeper) for k, v in _dict_items(value)}
    if _isinstance(value, set):
        return {plain(item, _depth=deeper) for item in _set_iter(value)}
    if _isinstance(value, frozenset):
        return frozenset(plain(item, _depth=deeper) for item in _frozenset_iter(value))
    if dataclasses.is_dataclass(value) and not _isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), _depth=deeper) for f in dataclasses.fields(value)}
    if kind.__module__.startswith("kubernetes.client.models"):
        return plain(value.to_dict(), _depth=deeper)
    raise NotPlain(
        f"got a {kind.__name__} object where plain Python values (numbers, strings, lists, dicts...) "
        "were expected"
    )


def _same(actual: Any, expected: Any, tolerance: float) -> bool:
    if _type(actual) is float or _type(expected) is float:
        if _type(actual) not in (int, float) or _type(expected) not in (int, float):
            return False
        return math.isclose(actual, expected, rel_tol=tolerance, abs_tol=tolerance)
    if _type(actual) is not _type(expected):
        return False
    if _type(actual) in (list, tuple):
        return _len(actual) == _len(expected) and all(
            _same(a, e, tolerance) for a, e in zip(actual, expected, strict=True)
        )
    if _type(actual) is dict:
        return actual.keys() == expected.keys() and all(_same(actual[k], expected[k], tolerance) for k in actual)
    return bool(actual == expected)


def expect_equal(actual: Any, expected: Any, *, what: str = "the result", tolerance: float = 0.0) -> None:
    """Fail unless ``actual`` holds the same plain value, of the same type, as ``expected``.

    ``what`` names the thing checked in the failure message, e.g. ``'parse_quantity("1Ki")'``.
    ``tolerance`` allows floats to differ by that much (absolute or relative).
    """
    __tracebackhide__ = True
    try:
        got = plain(actual)
    except NotPlain as e:
        raise NotPlain(f"{what}: {e}") from None
    want = plain(expected)
    if not _same(got, want, tolerance):
        raise CheckFailed(f"{what} should be {_shown(want)}, but it was {_shown(got)}.")


def expect_true(condition: Any, message: str = "the condition should hold, but it did not") -> None:
    """Fail with ``message`` unless ``condition`` is the plain value ``True``."""
    __tracebackhide__ = True
    if plain(condition) is not True:
        raise CheckFailed(message)


def expect_raises(
    error: type[BaseException], function: Callable[..., Any], *args: Any, what: str = "the call", **kwargs: Any
) -> BaseException:
    """Fail unless ``function(*args, **kwargs)`` raises ``error`` (or a subclass); return the error."""
    __tracebackhide__ = True
    try:
        result = function(*args, **kwargs)
    except error as e:
        return e
    except Exception as e:  # noqa: BLE001 - any other error is the learner's bug, named in the message
        raise CheckFailed(f"{what} should raise {error.__name__}, but it raised {_type(e).__name__}: {e}") from None
    raise CheckFailed(f"{what} should raise {error.__name__}, but it returned {_shown(result)}.")


def for_all(
    generate: Callable[[random.Random], T],
    check: Callable[[T], Any],
    *,
    runs: int = 100,
    seed: int = 0,
    what: str = "the property",
) -> None:
    """Run ``check`` on ``runs`` cases made by ``generate`` from one seeded random generator.

    The same seed gives the same cases on every machine. On the first failing case, fail
    with that case and the check's own message.
    """
    __tracebackhide__ = True
    rng = random.Random(seed)
    for number in range(1, runs + 1):
        case = generate(rng)
        try:
            check(case)
        except CheckFailed as e:
            raise CheckFailed(f"{what} fails for case {number} of {runs}, {_shown(case)}: {e}") from None
        except Exception as e:  # noqa: BLE001 - the learner's code raised: say for which case
            raise CheckFailed(
                f"{what} fails for case {number} of {runs}, {_shown(case)}: {_type(e).__name__}: {e}"
            ) from None


@contextlib.contextmanager
def time_limit(seconds: float, *, what: str = "the check") -> Iterator[None]:
    """Stop the block with :class:`CheckTimeout` when it runs longer than ``seconds``.

    Uses ``SIGALRM``, so it works in the main thread (where notebook cells run).
    """
    __tracebackhide__ = True

    def expire(signum: int, frame: Any) -> None:
        raise CheckTimeout(f"{what} took longer than {seconds:g} s; is there an endless loop?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
