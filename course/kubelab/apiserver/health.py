"""``/healthz``, ``/livez`` and ``/readyz``: is the server alive, and ready to serve?

Mirrors ``k8s.io/apiserver/pkg/server/healthz``: each endpoint runs named checks and
answers ``ok`` (200) or lists the failures (500); ``?verbose`` lists every check, and
``/readyz/<check>`` runs one. ``/readyz`` also waits for the bootstrap objects and asks
the store whether it answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Check = Callable[[], Awaitable[None]]
"""A health check: returns when healthy, raises with the reason when not."""


class Health:
    """The named checks behind each health endpoint."""

    def __init__(self, store_check: Check, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.bootstrapped = asyncio.Event()
        self.checks: dict[str, dict[str, Check]] = {
            "livez": {"ping": _ok},
            "healthz": {"ping": _ok, "etcd": store_check},
            "readyz": {"ping": _ok, "etcd": store_check, "poststarthook/bootstrap-controller": self._bootstrap},
        }

    async def _bootstrap(self) -> None:
        if not self.bootstrapped.is_set():
            raise RuntimeError("not finished")

    async def serve(self, http: web.BaseRequest) -> web.Response:
        endpoint, _, only = http.path.strip("/").partition("/")
        checks = self.checks[endpoint]
        if only:
            if only not in checks:
                return web.Response(status=404, text="404 page not found\n")
            checks = {only: checks[only]}
        lines, failed = [], False
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), self.timeout)
                lines.append(f"[+]{name} ok")
            except Exception:
                failed = True
                lines.append(f"[-]{name} failed: reason withheld")
        verbose = "verbose" in http.query
        if failed:
            text = "\n".join(lines) + f"\n{endpoint} check failed\n"
            return web.Response(status=500, text=text)
        if verbose:
            return web.Response(text="\n".join(lines) + f"\n{endpoint} check passed\n")
        return web.Response(text="ok")


async def _ok() -> None:
    return None
