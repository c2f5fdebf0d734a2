"""Waiting for the cluster to do something, with a progress display.

In a notebook (JupyterLab open on it) a bar and a line of text show what is awaited and
for how long; anywhere else (a script, the autograder) one plain line goes to stdout.
Nothing is ever written to stderr, which nbgrader would score as a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """What was awaited did not happen in time; the message says what and what was seen last."""


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel a person is watching (not under the autograder)."""
    if os.environ.get("NBGRADER_EXECUTION"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _Display:
    """A progress bar and a line of text (ipywidgets), or one plain line of output."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        self.widgets: Any = None
        if in_notebook():
            try:
                import ipywidgets
                from IPython.display import display
            except ImportError:
                return
            self.bar = ipywidgets.FloatProgress(value=0.0, min=0.0, max=timeout, layout={"width": "12em"})
            self.label = ipywidgets.HTML(f"waiting for {_html(what)}...")
            self.widgets = ipywidgets.HBox([self.bar, self.label])
            display(self.widgets)

    def update(self, elapsed: float, status: str) -> None:
        if self.widgets is not None:
            self.bar.value = min(elapsed, self.timeout)
            detail = f" ({_html(status)})" if status else ""
            self.label.value = f"waiting for {_html(self.what)}... {elapsed:.0f} s{detail}"

    def done(self, elapsed: float, ok: bool, status: str) -> None:
        if ok:
            message = f"✓ {self.what} ({elapsed:.1f} s)"
        else:
            message = f"✗ gave up waiting for {self.what} after {elapsed:.0f} s" + (f": {status}" if status else "")
        if self.widgets is not None:
            self.bar.value = self.timeout
            self.bar.bar_style = "success" if ok else "danger"
            self.label.value = _html(message)
        else:
            print(message, flush=True)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def wait_for(
    condition: Callable[[], T],
    *,
    what: str,
    timeout: float = 60.0,
    interval: float = 0.2,
    status: Callable[[], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``condition`` until it returns something true, and return that.

    ``what`` names the awaited thing ("pod web to be Running"); ``status`` says what is seen
    meanwhile ("Pending"), shown as it changes and in the :class:`WaitTimeout` raised after
    ``timeout`` seconds. An exception from ``condition`` stops the wait at once.
    """
    display = _Display(what, timeout)
    started = clock()
    seen = ""
    while True:
        result = condition()
        elapsed = clock() - started
        if result:
            display.done(elapsed, True, "")
            return result
        seen = status() if status else ""
        if elapsed >= timeout:
            display.done(elapsed, False, seen)
            detail = f"; last seen: {seen}" if seen else ""
            raise WaitTimeout(f"{what} did not happen within {timeout:g} s{detail}")
        display.update(elapsed, seen)
        sleep(interval)
