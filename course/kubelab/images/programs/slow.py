"""``kubelab/slow``: an HTTP app on port 8080 that spends STARTUP_SECONDS warming up before it listens."""

import os
import sys
import time

import _container as c


def main(argv: list[str]) -> int:
    delay = float(os.environ.get("STARTUP_SECONDS", "20"))
    c.stop_on_sigterm()
    c.log(f"slow: warming up for {delay:g}s before listening")
    time.sleep(delay)

    def app(request: c.Request) -> c.Response:
        return c.Response(200, "ok\n" if request.path == "/healthz" else f"ready after {delay:g}s\n")

    c.serve(int(os.environ.get("PORT", "8080")), app, announce="slow: ready, listening on {address}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
