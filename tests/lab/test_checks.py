"""Visible checks: each task's check runs on the notebook's objects; "check my work" says what fails and why."""

from __future__ import annotations

import pytest

from kubelab.grading import CheckFailed, expect_equal
from kubelab.lab import Checks

check = Checks("99-sample")


@check.task("double", "double")
def _double(double):
    expect_equal(double(2), 4, what="double(2)")


@check.task("greet", "greet", title="the greeting")
def _greet(greet):
    expect_equal(greet("Ada"), "hello Ada", what='greet("Ada")')


def test_a_passing_check_returns_quietly():
    check("double", lambda n: n * 2)


def test_a_failing_check_says_what_was_expected():
    with pytest.raises(CheckFailed, match=r"double\(2\) should be 4, but it was 5"):
        check("double", lambda n: n + 3)


def test_an_unwritten_task_is_called_not_written_yet():
    def greet(name):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="the greeting: not written yet"):
        check("greet", greet)


def test_an_unknown_task_names_the_known_ones():
    with pytest.raises(KeyError, match="its tasks are double, greet"):
        check("triple", None)


def test_my_work_reports_every_task_in_plain_words(capsys):
    def greet(name):
        return {}["missing"]

    check.my_work({"double": lambda n: n * 2, "greet": greet})
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "99-sample: 1 of 2 tasks pass their visible checks",
        "  ok   double",
        "  FAIL greet: raised KeyError: 'missing'",
    ]
    assert err == ""


def test_my_work_names_what_is_not_defined_yet():
    outcomes = check.report({"double": lambda n: n * 2})
    assert [(o.task, o.ok, o.reason) for o in outcomes] == [
        ("double", True, ""),
        ("greet", False, "greet is not defined: run the cell that defines it"),
    ]


def test_when_all_pass_the_hidden_tests_are_mentioned(capsys):
    check.my_work({"double": lambda n: n * 2, "greet": lambda n: f"hello {n}"})
    assert "2 of 2 tasks pass their visible checks (the hidden tests grade more cases)" in capsys.readouterr().out
