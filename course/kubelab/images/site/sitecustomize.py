"""Loaded by the ``python`` image's interpreter: give sockets a pod's view of the network.

A container here shares the host's network, so ``bind(("0.0.0.0", 8000))`` would take port
8000 for every pod at once. This binds to the pod's own IP instead, and moves ports below
1024 by the runtime's offset when this user cannot bind them (the pod's events say so).
"""

import os
import socket

_POD_IP = os.environ.get("KUBELAB_POD_IP", "")
_OFFSET = int(os.environ.get("KUBELAB_PORT_OFFSET", "0") or 0)
_ANY = ("", "0.0.0.0", "localhost", "127.0.0.1", "::", "::1", "::ffff:0.0.0.0")

if _POD_IP:
    _bind = socket.socket.bind

    def _pod_bind(self, address):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host, port, *rest = address
            if host in _ANY:
                # An IPv6 wildcard socket is dual-stack: the pod's IPv4 address, mapped.
                host = _POD_IP if self.family == socket.AF_INET else f"::ffff:{_POD_IP}"
            if 0 < port < 1024:
                port += _OFFSET
            address = (host, port, *rest)
        return _bind(self, address)

    socket.socket.bind = _pod_bind  # type: ignore[method-assign]


if os.environ.get("KUBELAB_RESOLVER"):
    # Names resolve through the pod's resolv.conf, i.e. the cluster DNS, as in a real pod.
    import runpy

    runpy.run_path(os.environ["KUBELAB_RESOLVER"])["install_from_environment"]()
