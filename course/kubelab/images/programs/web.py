"""``kubelab/web``: an HTTP app on port 8080 that says which version and which pod answered."""

import os
import sys
import time

import _container as c


def main(argv: list[str]) -> int:
    version = os.environ.get("VERSION", "v1")
    port = int(os.environ.get("PORT", "8080"))
    name = c.hostname()
    started = time.time()
    c.stop_on_sigterm(f"web {version}: received SIGTERM, shutting down")

    def app(request: c.Request) -> c.Response:
        if request.path == "/healthz":
            return c.Response(200, "ok\n")
        if request.path == "/version":
            return c.Response(200, version + "\n")
        if request.path == "/":
            uptime = time.time() - started
            return c.Response(200, f"Hello from kubelab/web {version} on pod {name} (up {uptime:.0f}s)\n")
        return c.Response(404, "not found\n")

    def access_log(request: c.Request, response: c.Response) -> None:
        c.log(f"{request.client[0]} {request.method} {request.path} {response.status}")

    c.serve(port, app, server_name=f"kubelab-web/{version}", access_log=access_log,
            announce=f"web {version} listening on {{address}} (pod {name})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
