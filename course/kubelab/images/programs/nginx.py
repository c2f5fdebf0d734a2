"""``nginx``: a static file server on port 80 serving /usr/share/nginx/html, logging like nginx."""

import os
import sys
import time

import _container as c

ROOT = "/usr/share/nginx/html"
TYPES = {".html": "text/html", ".htm": "text/html", ".css": "text/css", ".js": "application/javascript",
         ".json": "application/json", ".txt": "text/plain", ".png": "image/png", ".jpg": "image/jpeg",
         ".svg": "image/svg+xml", ".ico": "image/x-icon"}


def main(argv: list[str]) -> int:
    if argv[:1] == ["-v"] or argv[:1] == ["-V"]:
        print(f"nginx version: nginx/{os.environ.get('NGINX_VERSION', '1.27.3')}", file=sys.stderr)
        return 0
    version = os.environ.get("NGINX_VERSION", "1.27.3")
    docroot = c.path(ROOT)
    c.stop_on_sigterm()

    def app(request: c.Request) -> c.Response:
        if request.method not in ("GET", "HEAD"):
            return c.Response(405, _error_page(405, "Not Allowed", version), "text/html")
        relative = os.path.normpath(request.path).lstrip("/")
        target = os.path.join(docroot, relative)
        if os.path.isdir(target):
            target = os.path.join(target, "index.html")
        try:
            with open(target, "rb") as f:
                body = f.read()
        except OSError:
            message = f'open() "{ROOT}/{relative}" failed (2: No such file or directory)'
            stamp = time.strftime("%Y/%m/%d %H:%M:%S")
            c.log(f'{stamp} [error] 29#29: *1 {message}, client: {request.client[0]}, '
                  f'server: localhost, request: "{request.method} {request.target} {request.version}"', sys.stderr)
            return c.Response(404, _error_page(404, "Not Found", version), "text/html")
        content_type = TYPES.get(os.path.splitext(target)[1].lower(), "application/octet-stream")
        return c.Response(200, body, content_type)

    def access_log(request: c.Request, response: c.Response) -> None:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        agent = request.headers.get("user-agent", "-")
        c.log(f'{request.client[0]} - - [{stamp}] "{request.method} {request.target} {request.version}" '
              f'{response.status} {len(response.body)} "-" "{agent}" "-"')

    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    c.log("/docker-entrypoint.sh: Configuration complete; ready for start up")
    c.log(f"{stamp} [notice] 1#1: nginx/{version}", sys.stderr)
    c.log(f"{stamp} [notice] 1#1: start worker processes", sys.stderr)
    c.serve(80, app, server_name=f"nginx/{version}", access_log=access_log)
    return 0


def _error_page(status: int, text: str, version: str) -> str:
    return (f"<html>\r\n<head><title>{status} {text}</title></head>\r\n<body>\r\n<center><h1>{status} {text}"
            f"</h1></center>\r\n<hr><center>nginx/{version}</center>\r\n</body>\r\n</html>\r\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
