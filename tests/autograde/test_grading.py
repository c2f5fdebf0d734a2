"""kubelab.grading: checks that cannot be fooled by lying objects and say what went wrong."""

from __future__ import annotations

import contextlib
import dataclasses
import time

import pytest

from kubelab.grading import (
    CheckFailed,
    CheckTimeout,
    NotPlain,
    expect_equal,
    expect_raises,
    expect_true,
    for_all,
    plain,
    time_limit,
)


class Liar(int):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


class LyingList(list):
    def __iter__(self):
        return iter([1, 2, 3])

    def __eq__(self, other: object) -> bool:
        return True


class Anything:
    def __eq__(self, other: object) -> bool:
        return True


def test_equal_values_pass() -> None:
    expect_equal({"a": [1, (2, 3)], "b": None}, {"a": [1, (2, 3)], "b": None})
    expect_equal(0.1 + 0.2, 0.3, tolerance=1e-9)


def test_lying_eq_is_read_as_the_value_it_holds() -> None:
    with pytest.raises(CheckFailed, match="should be 3, but it was 5"):
        expect_equal(Liar(5), 3, what="f()")
    expect_equal(Liar(3), 3)


def test_lying_container_is_read_through_the_builtin_type() -> None:
    with pytest.raises(CheckFailed, match=r"should be \[1, 2, 3\], but it was \[9\]"):
        expect_equal(LyingList([9]), [1, 2, 3])


def test_an_arbitrary_object_is_refused_in_plain_words() -> None:
    with pytest.raises(NotPlain, match="f\\(\\): got a Anything object where plain Python values"):
        expect_equal(Anything(), 3, what="f()")


def test_types_must_match_exactly() -> None:
    with pytest.raises(CheckFailed, match="should be 1, but it was True"):
        expect_equal(True, 1)
    with pytest.raises(CheckFailed):
        expect_equal((1, 2), [1, 2])


def test_dataclasses_become_dicts() -> None:
    @dataclasses.dataclass
    class Node:
        name: str
        cpu: int

    assert plain(Node("a", 2)) == {"name": "a", "cpu": 2}


def test_expect_true_needs_the_real_true() -> None:
    expect_true(True)
    with pytest.raises(CheckFailed, match="must be true"):
        expect_true(Liar(1), "must be true")


def test_expect_raises() -> None:
    def bad(text: str) -> int:
        raise ValueError(text)

    assert str(expect_raises(ValueError, bad, "x")) == "x"
    with pytest.raises(CheckFailed, match="should raise ValueError, but it returned 3"):
        expect_raises(ValueError, lambda: 3, what="the call")
    with pytest.raises(CheckFailed, match="but it raised KeyError"):
        expect_raises(ValueError, lambda: {}["k"])


def test_for_all_is_seeded_and_names_the_failing_case() -> None:
    seen: list[int] = []
    for_all(lambda rng: rng.randrange(1000), seen.append, runs=5, seed=4)
    again: list[int] = []
    for_all(lambda rng: rng.randrange(1000), again.append, runs=5, seed=4)
    assert seen == again
    with pytest.raises(CheckFailed, match=r"double fails for case \d+ of 50, \d+: .*should be"):
        for_all(lambda rng: rng.randrange(10, 100), lambda n: expect_equal(n + n, n * 3), runs=50, what="double")


def test_time_limit_stops_an_endless_loop_even_under_except_exception() -> None:
    started = time.monotonic()
    with pytest.raises(CheckTimeout, match="took longer than 0.2 s"), time_limit(0.2):
        while True:
            with contextlib.suppress(Exception):  # what a learner's code might do
                time.sleep(0.01)
    assert time.monotonic() - started < 2


def test_checks_write_nothing_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CheckFailed):
        expect_equal(1, 2)
    for_all(lambda rng: rng.random(), lambda x: None, runs=10)
    assert capsys.readouterr().err == ""
