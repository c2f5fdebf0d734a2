"""Cluster DNS: the records (records.py), the server (server.py), the component (cluster_dns.py), and
the client pods use (resolver.py).

    from kubelab import dns
    dns.resolve("web")                     # ['127.96.12.34'], as a pod in "default" would
    dns.resolve("web.shop")                # the same Service seen from another namespace

The component is not imported here: pods load the resolver, and must not pay for the API
client (``from kubelab.dns.cluster_dns import ClusterDNS``).
"""

from kubelab import network
from kubelab.dns.records import Answer, ClusterZone
from kubelab.dns.resolver import (
    NameNotFound,
    NoAnswer,
    ResolvConf,
    Resolver,
    ResolverError,
    install,
    pod_resolv_conf,
)


def cluster_resolver(namespace: str = "default", addresses: network.AddressPlan | None = None) -> Resolver:
    """The resolver of a pod in ``namespace`` with the default DNS policy (``ClusterFirst``)."""
    pod = {"metadata": {"namespace": namespace}, "spec": {}}
    conf = pod_resolv_conf(pod, nameserver=(addresses or network.AddressPlan()).cluster_dns_ip, cluster_domain=network.CLUSTER_DOMAIN)
    return Resolver(conf, port=network.host_port(53))


def resolve(name: str, *, namespace: str = "default", addresses: network.AddressPlan | None = None) -> list[str]:
    """The IPv4 addresses of ``name`` as a pod in ``namespace`` sees them (search path and all).

    ``addresses`` is the cluster's address plan (``cluster.addresses``; slot 0 by default).
    Raises :class:`NameNotFound` or :class:`NoAnswer` (both ``OSError``).
    """
    return cluster_resolver(namespace, addresses).resolve(name)


__all__ = [
    "Answer",
    "ClusterZone",
    "NameNotFound",
    "NoAnswer",
    "ResolvConf",
    "Resolver",
    "ResolverError",
    "cluster_resolver",
    "install",
    "pod_resolv_conf",
    "resolve",
]
