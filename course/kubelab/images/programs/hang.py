"""``kubelab/hang``: starts, never serves, and ignores SIGTERM: only SIGKILL stops it."""

import signal
import sys
import time


def main(argv: list[str]) -> int:
    def ignore(signum, frame):  # type: ignore[no-untyped-def]
        print("hang: received SIGTERM, ignoring it", flush=True)

    signal.signal(signal.SIGTERM, ignore)
    print("hang: starting up...", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
