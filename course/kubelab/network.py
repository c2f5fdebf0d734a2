"""The cluster's address plan, all on loopback.

Linux routes the whole of 127.0.0.0/8 to the loopback interface, so every node, pod and
Service can have an address of its own without root. The ranges echo kind's
(172.18.0.0/16 nodes, 10.244.0.0/16 pods, 10.96.0.0/12 Services) so that what learners see
here looks like what they will see on a real cluster.

Ports below 1024 need privileges an ordinary user lacks (``nginx`` listens on 80). Where
they cannot be bound, a workload's port ``p`` is actually served on ``p + PRIVILEGED_PORT_OFFSET``
(80 → 10080), everywhere the same: the kubelet says so in the pod's events, kube-proxy and
the ingress controller connect there, and ``kubelab`` prints how to lift the restriction
(``sudo sysctl net.ipv4.ip_unprivileged_port_start=0``).
"""

from __future__ import annotations

import functools
import ipaddress
import socket

NODE_NETWORK = ipaddress.ip_network("127.18.0.0/16")
POD_NETWORK = ipaddress.ip_network("127.244.0.0/16")
SERVICE_NETWORK = ipaddress.ip_network("127.96.0.0/12")
LOAD_BALANCER_NETWORK = ipaddress.ip_network("127.240.0.0/16")
CLUSTER_DNS_IP = "127.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
NODE_PORT_RANGE = (30000, 32767)
PRIVILEGED_PORT_OFFSET = 10000
UNPRIVILEGED_HINT = "sudo sysctl net.ipv4.ip_unprivileged_port_start=0"


def node_ip(index: int) -> str:
    """The InternalIP of the ``index``-th node (0-based): 127.18.0.2, 127.18.0.3, ..."""
    return str(NODE_NETWORK.network_address + 2 + index)


def pod_cidr(index: int) -> str:
    """The pod CIDR of the ``index``-th node: 127.244.1.0/24, 127.244.2.0/24, ..."""
    return str(ipaddress.ip_network(f"127.244.{index + 1}.0/24"))


@functools.cache
def can_bind_privileged() -> bool:
    """Whether this process may listen on ports below 1024."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 1023))
        except PermissionError:
            return False
        except OSError:
            return True
    return True


def host_port(port: int) -> int:
    """The port actually listened on for a workload's ``port`` (see the module docstring)."""
    if port >= 1024 or can_bind_privileged():
        return port
    return port + PRIVILEGED_PORT_OFFSET
