"""``kubelab/kv``: a key-value store on port 8080 that keeps every key as a file under /data.

GET /keys lists keys; GET, PUT and DELETE /keys/<key> read, write and remove one.
What is written survives a restart of the container when /data is a volume.
"""

import os
import sys

import _container as c


def main(argv: list[str]) -> int:
    data = c.path(os.environ.get("DATA_DIR", "/data"))
    port = int(os.environ.get("PORT", "8080"))
    os.makedirs(data, exist_ok=True)
    c.stop_on_sigterm("kv: received SIGTERM, shutting down")
    c.log(f"kv: {len(os.listdir(data))} keys in {os.environ.get('DATA_DIR', '/data')}")

    def app(request: c.Request) -> c.Response:
        if request.path == "/healthz":
            return c.Response(200, "ok\n")
        if request.path in ("/keys", "/keys/"):
            return c.Response(200, "".join(k + "\n" for k in sorted(os.listdir(data))))
        if not request.path.startswith("/keys/"):
            return c.Response(404, "not found: use /keys/<key>\n")
        key = request.path[len("/keys/"):]
        if not key or "/" in key or key.startswith("."):
            return c.Response(400, f"invalid key {key!r}\n")
        file = os.path.join(data, key)
        if request.method == "GET":
            try:
                with open(file, "rb") as f:
                    return c.Response(200, f.read())
            except FileNotFoundError:
                return c.Response(404, f"key {key!r} not found\n")
        if request.method in ("PUT", "POST"):
            tmp = file + ".tmp"
            with open(tmp, "wb") as f:
                f.write(request.body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, file)
            c.log(f"kv: set {key} ({len(request.body)} bytes)")
            return c.Response(201, "stored\n")
        if request.method == "DELETE":
            try:
                os.remove(file)
            except FileNotFoundError:
                return c.Response(404, f"key {key!r} not found\n")
            c.log(f"kv: deleted {key}")
            return c.Response(200, "deleted\n")
        return c.Response(405, "method not allowed\n")

    c.serve(port, app, server_name="kubelab-kv", announce="kv listening on {address}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
