"""``kubelab/crash``: an app that cannot start, and says why on stderr before exiting 1.

It needs DATABASE_URL (``host:port``) and a database listening there: the two classic
reasons a new deployment crash-loops (missing configuration, unreachable dependency).
"""

import os
import socket
import sys
import time


def main(argv: list[str]) -> int:
    print("app: starting (version v1)", flush=True)
    print("app: loading configuration from the environment", flush=True)
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("FATAL: DATABASE_URL is not set; set it to host:port of the database "
              "(for example from a ConfigMap)", file=sys.stderr, flush=True)
        return 1
    host, _, port = url.rpartition("://")[2].rpartition(":")
    print(f"app: connecting to database at {host}:{port}", flush=True)
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=3):
            pass
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        print(f"FATAL: could not connect to database at {host}:{port}: {reason}", file=sys.stderr, flush=True)
        return 1
    print("app: connected; serving", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
