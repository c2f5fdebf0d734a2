"""``stress``: the ``polinux/stress`` tool's memory hog (``--vm N --vm-bytes SIZE [--vm-hang S]``).

Each of the N workers is a child process that allocates SIZE and keeps touching it, so the
memory shows in the container's process tree as it would under a real memory limit.
"""

import os
import signal
import sys
import time

USAGE = "usage: stress --vm N --vm-bytes B[KMG] [--vm-hang S] [--timeout S]"
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _size(text: str) -> int:
    text = text.strip().lower()
    unit = text[-1] if text and text[-1] in UNITS else ""
    return int(float(text[: len(text) - len(unit)]) * UNITS[unit])


def _hog(size: int, hang: float) -> None:
    block = bytearray(size)
    page = 4096
    while True:
        for i in range(0, size, page):
            block[i] = 1
        if hang:
            time.sleep(hang)


def main(argv: list[str]) -> int:
    options = {"vm": "1", "vm-bytes": "256M", "vm-hang": "0", "timeout": "0"}
    args = list(argv)
    while args:
        flag = args.pop(0).lstrip("-")
        if flag not in options or not args:
            print(USAGE, file=sys.stderr)
            return 1
        options[flag] = args.pop(0)
    workers, size = int(options["vm"]), _size(options["vm-bytes"])
    hang, timeout = float(options["vm-hang"]), float(options["timeout"])
    print(f"stress: info: [{os.getpid()}] dispatching hogs: 0 cpu, 0 io, {workers} vm, 0 hdd", flush=True)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            _hog(size, hang)
        children.append(pid)

    def stop(signum, frame):  # type: ignore[no-untyped-def]
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + timeout if timeout else None
    while children:
        if deadline and time.monotonic() > deadline:
            for pid in children:
                os.kill(pid, signal.SIGKILL)
            print(f"stress: info: [{os.getpid()}] successful run completed", flush=True)
            return 0
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            children.remove(pid)
            code = os.waitstatus_to_exitcode(status)
            print(f"stress: FAIL: [{os.getpid()}] (415) <-- worker {pid} got signal {-code}", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
