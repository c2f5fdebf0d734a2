"""The guard that kills a runtime's containers when the runtime itself dies, however it dies.

A runtime that is SIGKILLed (as ``PR_SET_PDEATHSIG`` does when its supervisor or Jupyter
kernel dies) cannot clean up after itself. So each runtime starts this small process,
in a session of its own and without a death signal, and tells it, over a pipe, the process
group of every container and exec session it starts (``+<pgid>``) and ends (``-<pgid>``).
When the pipe reaches end-of-file the runtime is gone: the reaper SIGKILLs every group it
was told about, then every process whose environment carries the runtime's marker
(``KUBELAB_RUNTIME=<token>``: that catches processes that left their group), and exits.

Run as ``python -S -E reaper.py <token>`` (standard library only, so it starts at once).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

MARKER = "KUBELAB_RUNTIME"


def marked_processes(token: str) -> list[int]:
    """The pids of this user's processes whose environment carries ``KUBELAB_RUNTIME=<token>``."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def kill_all(groups: set[int], token: str) -> None:
    """SIGKILL every group in ``groups`` and every process marked with ``token``."""
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    # A process may be between fork and exec when first seen: look twice.
    for _ in range(2):
        for pid in marked_processes(token):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: reaper.py <token>", file=sys.stderr)
        return 2
    token = argv[0]
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        text = line.strip().decode()
        if text[:1] == "+":
            groups.add(int(text[1:]))
        elif text[:1] == "-":
            groups.discard(int(text[1:]))
    kill_all(groups, token)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(main(sys.argv[1:]))
