"""The cluster DNS component: CoreDNS's place in the cluster, played by :class:`~kubelab.dns.server.DNSServer`.

It watches Services and EndpointSlices, answers for the cluster domain, and, like the
CoreDNS Deployment behind the ``kube-dns`` Service of every real cluster, is itself reached
through a Service: on start it makes sure ``kube-system/kube-dns`` exists with the ClusterIP
pods are told to use (:attr:`~kubelab.network.AddressPlan.cluster_dns_ip`, port 53 UDP and
TCP) and publishes its own address (:attr:`~kubelab.network.AddressPlan.dns_server_ip`) in
that Service's EndpointSlice, so kube-proxy carries pods' queries to it.

    dns = ClusterDNS()
    dns.start(api_client)          # a kubelab Component

As a process: ``python -m kubelab dns --kubeconfig K``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import threading
from typing import Any

import kubernetes.client

from kubelab import errors, network
from kubelab.client import Client
from kubelab.dns.records import DEFAULT_TTL, ClusterZone
from kubelab.dns.server import DNSServer
from kubelab.runtime import SharedInformerFactory

log = logging.getLogger(__name__)

SERVICE_NAME = "kube-dns"
NAMESPACE = "kube-system"
MANAGED_BY = "kubelab-dns"


class ClusterDNS:
    """The cluster's DNS server (a :class:`kubelab.component.Component`).

    It listens on the DNS server address of ``addresses`` (or ``address``), port ``port`` (53,
    moved by :func:`kubelab.network.host_port` where it cannot be bound) and, with ``publish``,
    makes the ``kube-dns`` Service at the plan's cluster DNS IP lead there. ``upstreams`` are
    where other names are forwarded (default: the host's nameservers).
    """

    def __init__(
        self,
        *,
        addresses: network.AddressPlan | None = None,
        address: str = "",
        port: int = 53,
        domain: str = network.CLUSTER_DOMAIN,
        publish: bool = True,
        upstreams: list[str] | None = None,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        addresses = addresses or network.AddressPlan()
        self.address = address or addresses.dns_server_ip
        self.port = port
        self.domain = domain
        self.service_ip = addresses.cluster_dns_ip
        self.publish = publish
        self.ttl = ttl
        self.server = DNSServer(self.zone, upstreams=upstreams)
        self.client: Client | None = None
        self.informers: SharedInformerFactory | None = None
        self._zone: ClusterZone | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def bound_port(self) -> int:
        """The port actually listened on (``port``, or ``port`` + 10000 where it cannot be bound)."""
        return network.host_port(self.port)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, client: kubernetes.client.ApiClient | Client) -> None:
        """Listen, start watching, publish the ``kube-dns`` Service; return once queries are answered.

        Raises OSError when the address cannot be bound (another DNS server there?).
        """
        if self.client is not None:
            raise RuntimeError("this DNS server is already running")
        client = client if isinstance(client, Client) else Client(client)
        informers = SharedInformerFactory(client)
        for informer in (informers.informer("v1", "services"), informers.informer("discovery.k8s.io/v1", "endpointslices")):
            informer.add_event_handler(self._changed, lambda old, new: self._changed(new), self._changed)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.start(self.address, self.bound_port))
        except OSError as e:
            loop.close()
            raise OSError(e.errno, f"the DNS server cannot listen on {self.address}:{self.bound_port}: "
                                   f"{e.strerror} (is another cluster's DNS running?)") from e
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="dns", daemon=True)
        self._thread.start()
        self.client, self.informers = client, informers
        informers.start()
        informers.wait_for_cache_sync(30)
        if self.publish:
            self._publish()

    def stop(self) -> None:
        """Stop answering and withdraw this server from the ``kube-dns`` Service; return when done."""
        if self.client is not None and self.publish:
            with contextlib.suppress(errors.ClientError):
                self.client.resource("discovery.k8s.io/v1", "endpointslices").delete(self._slice_name, NAMESPACE)
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
        if self.informers is not None:
            self.informers.shutdown()
        self._loop = self._thread = None
        self.client = self.informers = None

    # -- the zone ------------------------------------------------------------------------------

    def _changed(self, obj: Any) -> None:
        with self._lock:
            self._zone = None

    def zone(self) -> ClusterZone:
        """The records as the caches hold them now (rebuilt after a change, on the next question)."""
        with self._lock:
            if self._zone is None:
                services = self.informers.informer("v1", "services").cache.list() if self.informers else []
                slices = (self.informers.informer("discovery.k8s.io/v1", "endpointslices").cache.list()
                          if self.informers else [])
                self._zone = ClusterZone(services, slices, domain=self.domain, ttl=self.ttl)
            return self._zone

    # -- the kube-dns Service -----------------------------------------------------------------------

    @property
    def _slice_name(self) -> str:
        return f"{SERVICE_NAME}-{self.address.replace('.', '-')}"

    def _publish(self) -> None:
        """Make sure ``kube-system/kube-dns`` exists and its EndpointSlice names this server."""
        assert self.client is not None
        ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                 {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]
        services = self.client.resource("v1", "services")
        try:
            services.create({
                "metadata": {"name": SERVICE_NAME, "namespace": NAMESPACE, "labels": {
                    "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}},
                "spec": {"clusterIP": self.service_ip, "ports": ports},
            })
        except errors.AlreadyExists:
            pass
        except errors.Invalid as e:
            log.warning("dns: cannot create the %s Service at %s: %s", SERVICE_NAME, self.service_ip, e)
        endpoint_slice: dict[str, Any] = {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": self._slice_name, "namespace": NAMESPACE, "labels": {
                "kubernetes.io/service-name": SERVICE_NAME, "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [self.address],
                           "conditions": {"ready": True, "serving": True, "terminating": False}}],
            "ports": [{"name": p["name"], "port": self.port, "protocol": p["protocol"]} for p in ports],
        }
        slices = self.client.resource("discovery.k8s.io/v1", "endpointslices")
        try:
            slices.create(endpoint_slice)
        except errors.AlreadyExists:
            current = slices.get(self._slice_name, NAMESPACE)
            endpoint_slice["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            slices.update(endpoint_slice)


def main(argv: list[str]) -> int:
    """``python -m kubelab dns --kubeconfig K``: run the cluster DNS as its own process."""
    from kubelab.component import serve

    parser = argparse.ArgumentParser(prog="kubelab dns", description="Run the cluster DNS server.")
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    network.add_address_slot_argument(parser)
    parser.add_argument("--bind-address", default="",
                        help="address to listen on (default: the slot's DNS server address, 127.224.0.10 in slot 0)")
    parser.add_argument("--port", type=int, default=53,
                        help="port (default: %(default)s; 10053 where this user cannot bind ports below 1024)")
    parser.add_argument("--cluster-domain", default=network.CLUSTER_DOMAIN, help="default: %(default)s")
    parser.add_argument("--no-publish", action="store_true",
                        help="do not create the kube-dns Service nor publish this server in it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    dns = ClusterDNS(addresses=args.addresses, address=args.bind_address, port=args.port, domain=args.cluster_domain,
                     publish=not args.no_publish)
    return serve(dns, args.kubeconfig, "dns")
