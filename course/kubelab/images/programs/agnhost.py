"""``agnhost``: the subcommands of Kubernetes' test image that its documentation uses.

- ``liveness``: /healthz answers 200 for 10 seconds, then 500 (port 8080)
- ``netexec [--http-port=8080]``: /hostname, /echo?msg=, /healthz, /shutdown
- ``serve-hostname [--port=9376]``: answers with the pod's name
- ``pause``: sleeps until stopped
"""

import os
import signal
import sys
import time

import _container as c

USAGE = "usage: agnhost [liveness|netexec|serve-hostname|pause] [flags]"


def _flag(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        key, _, value = arg.lstrip("-").partition("=")
        if key == name:
            return value
    return default


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 1
    command, flags = argv[0], argv[1:]
    c.stop_on_sigterm()
    name = c.hostname()
    if command == "liveness":
        started = time.time()

        def liveness(request: c.Request) -> c.Response:
            elapsed = time.time() - started
            if request.path == "/healthz" and elapsed > 10:
                return c.Response(500, f"error: {elapsed:.6f}")
            return c.Response(200, "ok")

        c.serve(8080, liveness, server_name="agnhost")
    elif command == "netexec":
        def netexec(request: c.Request) -> c.Response:
            if request.path == "/hostname":
                return c.Response(200, name)
            if request.path == "/echo":
                return c.Response(200, request.query.get("msg", ""))
            if request.path == "/shutdown":
                c.log("netexec: shutting down on request")
                os.kill(os.getpid(), signal.SIGTERM)
                return c.Response(200, "")
            return c.Response(200, "NOW: " + time.strftime("%Y-%m-%d %H:%M:%S"))

        c.serve(int(_flag(flags, "http-port", "8080")), netexec, server_name="agnhost",
                announce="Started HTTP server on port " + _flag(flags, "http-port", "8080"))
    elif command == "serve-hostname":
        c.serve(int(_flag(flags, "port", "9376")), lambda request: c.Response(200, name), server_name="agnhost",
                announce="Serving on port " + _flag(flags, "port", "9376"))
    elif command == "pause":
        c.log("Paused")
        while True:
            time.sleep(3600)
    else:
        print(f'Error: unknown command "{command}" for "agnhost"\n{USAGE}', file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
