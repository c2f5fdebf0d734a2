"""What containerd's shims do, here for every container of a runtime at once.

- :class:`EventLoop`: one thread that reads every container's stdout and stderr into its
  log and runs the callbacks of processes that exited;
- :class:`ExitWatcher`: notices a process's exit (a pidfd in the event loop on Linux);
- :class:`Reaper`: the runtime's end of :mod:`kubelab.kubelet.reaper`, the guard that kills
  every container if the runtime dies.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Callable

from kubelab.kubelet import reaper


class EventLoop:
    """One thread that pumps every container's output into its log and notices every exit."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="runtime-events", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop's thread (selectors are not safe to change from others)."""
        with self._lock:
            self._pending.append(fn)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        def register() -> None:
            self._selector.register(fd, selectors.EVENT_READ, callback)

        self.call(register)

    def unwatch(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def stop(self) -> None:
        self._stopped = True
        self.call(lambda: None)
        self._thread.join(timeout=5)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        while not self._stopped:
            for key, _ in self._selector.select(timeout=1.0):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                else:
                    key.data()
            with self._lock:
                pending, self._pending = self._pending, []
            for fn in pending:
                fn()


class ExitWatcher:
    """Calls back when a process exits: a pidfd in the event loop on Linux, a thread elsewhere."""

    def __init__(self, loop: EventLoop) -> None:
        self._loop = loop

    def watch(self, process: subprocess.Popen[bytes], callback: Callable[[], None]) -> None:
        if hasattr(os, "pidfd_open"):
            try:
                fd = os.pidfd_open(process.pid)
            except OSError:
                callback()  # already gone
                return

            def fired() -> None:
                self._loop.unwatch(fd)
                os.close(fd)
                callback()

            self._loop.watch(fd, fired)
        else:
            def wait() -> None:
                process.wait()
                self._loop.call(callback)

            threading.Thread(target=wait, daemon=True).start()


class Reaper:
    """The runtime's side of :mod:`kubelab.kubelet.reaper`: start it, keep it told, restart it if killed."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._groups: set[int] = set()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._lock:
            self._spawn()

    def _spawn(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-E", reaper.__file__, self.token],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        for pgid in self._groups:
            self._send(f"+{pgid}")

    def _send(self, line: str) -> None:
        if self._process is None or self._process.stdin is None:
            return
        try:
            self._process.stdin.write(line.encode() + b"\n")
            self._process.stdin.flush()
        except OSError:
            # The reaper was killed: a new one is told every group we know of.
            self._process.wait()
            self._spawn()

    def add(self, pgid: int) -> None:
        with self._lock:
            self._groups.add(pgid)
            self._send(f"+{pgid}")

    def discard(self, pgid: int) -> None:
        with self._lock:
            self._groups.discard(pgid)
            self._send(f"-{pgid}")

    def check(self) -> None:
        """Restart the reaper if something killed it."""
        with self._lock:
            if self._process is not None and self._process.poll() is not None:
                self._spawn()

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                if self._process.stdin:
                    self._process.stdin.close()
                self._process.wait(timeout=10)
                self._process = None
