"""Waiting in tests: poll until the cluster shows what the test expects, or fail saying what was missing."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from typing import Any


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "", *, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns a true value without raising; return that value.

    An ``AssertionError`` or connection error inside ``check`` counts as "not yet". On timeout the
    last error is raised, or an AssertionError naming ``what`` and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            error: Exception = AssertionError(
                f"timed out after {timeout:g} s waiting for {what or check} (last: {result!r})")
        except (AssertionError, OSError, urllib.error.URLError) as e:
            error = e
        if time.monotonic() > deadline:
            raise error
        time.sleep(interval)
