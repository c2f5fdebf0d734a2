"""Child processes that never outlive their parent.

Every component of ``kubelab up`` is an OS process, so learners can ``ps`` it and kill it.
Two guards make sure none is left behind when the parent dies, however it dies:

- Python children call :func:`watch_parent`: started by :class:`ManagedProcess`, their stdin
  is a pipe from the parent, and they exit when it reaches end-of-file, which happens when
  the parent's end closes.
- Every child also asks the kernel for ``SIGKILL`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, Linux only).

A child reports that it is ready by writing one JSON line to the file descriptor named
by ``KUBELAB_READY_FD`` (:func:`report_ready`); the parent reads it in :meth:`ManagedProcess.start`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

READY_FD_ENV = "KUBELAB_READY_FD"
WATCH_PARENT_ENV = "KUBELAB_WATCH_PARENT"
PR_SET_PDEATHSIG = 1


class ProcessFailed(RuntimeError):
    """A child process exited or never became ready."""


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class ManagedProcess:
    """One child process: its command line, its log file, and how to start and stop it."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 30.0,
        expects_ready_report: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.expects_ready_report = expects_ready_report
        self.popen: subprocess.Popen[bytes] | None = None
        self.ready_info: dict[str, Any] = {}
        self._ready_fd: int | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> dict[str, Any]:
        """Start the process and wait for its ready report; return what it reported."""
        self.spawn()
        return self.wait_ready()

    def spawn(self) -> None:
        """Start the process without waiting for it (see :meth:`wait_ready`)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if self.env is None else self.env)
        read_fd, write_fd = os.pipe()
        env[READY_FD_ENV] = str(write_fd)
        env[WATCH_PARENT_ENV] = "1"
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                pass_fds=(write_fd,),
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        os.close(write_fd)
        self._ready_fd = read_fd

    def wait_ready(self) -> dict[str, Any]:
        """Wait for the ready report of a process started with :meth:`spawn`; return what it reported."""
        fd, self._ready_fd = self._ready_fd, None
        if fd is None:
            return self.ready_info
        try:
            if self.expects_ready_report:
                self.ready_info = self._read_ready(fd)
        finally:
            os.close(fd)
        return self.ready_info

    def _read_ready(self, fd: int) -> dict[str, Any]:
        deadline = time.monotonic() + self.ready_timeout
        buf = b""
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise ProcessFailed(
                    f"{self.name} did not become ready within {self.ready_timeout:.0f} s; "
                    f"its log ({self.log}) ends with:\n{_tail(self.log)}"
                )
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.1))
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        if b"\n" not in buf:
            code = self.popen.wait(timeout=5) if self.popen else None
            raise ProcessFailed(
                f"{self.name} exited (code {code}) before it was ready; "
                f"its log ({self.log}) ends with:\n{_tail(self.log)}"
            )
        return dict(json.loads(buf.split(b"\n", 1)[0] or b"{}"))

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process (and its process group)."""
        if self.popen and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; return the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        if self.popen.stdin:
            self.popen.stdin.close()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        self.signal(signal.SIGKILL)
        if self.popen:
            self.popen.wait(timeout=10)


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid runs (a zombie, dead but not yet reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def report_ready(**info: Any) -> None:
    """Tell the parent this process is ready (no-op when not started by :class:`ManagedProcess`)."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is None:
        return
    try:
        os.write(int(fd), (json.dumps(info) + "\n").encode())
        os.close(int(fd))
    except OSError:
        pass


def watch_parent() -> None:
    """Exit this process as soon as the parent that started it is gone."""
    if os.environ.pop(WATCH_PARENT_ENV, None) != "1" or sys.stdin is None:
        return

    def wait_for_eof() -> None:
        # os.read, not sys.stdin: a thread blocked in a buffered read holds the buffer's lock,
        # and the interpreter aborts at exit when it cannot take it.
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    threading.Thread(target=wait_for_eof, name="watch-parent", daemon=True).start()
