"""An HTTP echo server: answers with the request it got, or with fixed ``-text`` (as hashicorp/http-echo)."""

import os
import sys

import _container as c


def main(argv: list[str]) -> int:
    text = None
    port = int(os.environ.get("PORT", "8080"))
    for arg in argv:
        name, _, value = arg.lstrip("-").partition("=")
        if name == "text":
            text = value
        elif name == "listen":
            port = int(value.rsplit(":", 1)[-1])
        else:
            c.log(f"unknown flag {arg!r}: use -text=TEXT and -listen=:PORT", sys.stderr)
            return 2
    name = c.hostname()
    c.stop_on_sigterm()

    def app(request: c.Request) -> c.Response:
        if text is not None:
            return c.Response(200, text + "\n")
        lines = [
            f"Hostname: {name}",
            "",
            "Pod Information:",
            f"\tnode name:\t{os.environ.get('NODE_NAME', '-')}",
            f"\tpod name:\t{name}",
            f"\tpod IP:\t{c.pod_ip()}",
            "",
            "Request Information:",
            f"\tclient_address={request.client[0]}",
            f"\tmethod={request.method}",
            f"\treal path={request.path}",
            f"\tquery={request.target.partition('?')[2]}",
            f"\trequest_version={request.version.partition('/')[2]}",
            f"\trequest_uri=http://{request.headers.get('host', '')}{request.target}",
            "",
            "Request Headers:",
            *[f"\t{k}={v}" for k, v in sorted(request.headers.items())],
            "",
            "Request Body:",
            "\t" + (request.body.decode(errors="replace") or "-no body in request-"),
            "",
        ]
        return c.Response(200, "\n".join(lines) + "\n")

    def access_log(request: c.Request, response: c.Response) -> None:
        c.log(f'{request.client[0]} "{request.method} {request.target}" {response.status}')

    c.serve(port, app, server_name="echoserver", access_log=access_log, announce="listening on {address}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
