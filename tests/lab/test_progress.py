"""wait_for: returns what the condition found, says what it waited for, never writes to stderr."""

from __future__ import annotations

import pytest

from kubelab.lab import WaitTimeout, in_notebook, wait_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_returns_the_first_true_value_and_prints_one_line(capsys):
    clock = FakeClock()
    answers = iter([None, [], {"phase": "Running"}])
    got = wait_for(lambda: next(answers), what="pod web to run", clock=clock, sleep=clock.sleep, interval=0.5)
    assert got == {"phase": "Running"}
    out, err = capsys.readouterr()
    assert out == "✓ pod web to run (1.0 s)\n"
    assert err == ""


def test_a_timeout_says_what_was_awaited_and_what_was_seen_last(capsys):
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match=r"pod web to run did not happen within 3 s; last seen: Pending"):
        wait_for(lambda: False, what="pod web to run", timeout=3, status=lambda: "Pending",
                 clock=clock, sleep=clock.sleep)
    out, err = capsys.readouterr()
    assert "✗ gave up waiting for pod web to run after 3 s: Pending" in out
    assert err == ""


def test_an_error_in_the_condition_stops_the_wait():
    def broken() -> bool:
        raise KeyError("status")

    with pytest.raises(KeyError):
        wait_for(broken, what="anything", timeout=60)


def test_the_autograder_is_not_a_notebook(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert not in_notebook()
