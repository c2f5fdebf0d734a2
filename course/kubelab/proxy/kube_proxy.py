"""kube-proxy: one per node, making every Service reachable from this node.

Mirrors ``cmd/kube-proxy``: it watches Services and EndpointSlices (and its own Node, for
the address NodePorts are served on) and, after each change, brings the data plane
(:class:`~kubelab.proxy.proxier.Proxier`) in line. NodePorts are served on the node's
InternalIP only, as upstream's ``--nodeport-addresses=primary`` does: each node of a
kubelab cluster has an address of its own, while 127.0.0.1 is the host's (and would clash
between nodes). ClusterIPs, load-balancer and external IPs are the same on every node; on
one host the first kube-proxy to bind one serves it, and the others take over when it stops. ``iptables_save()`` shows the same
state as the rules an iptables-mode kube-proxy would program; a running proxy serves it
on ``http://<node IP>:10249/iptables-save`` beside upstream's ``/healthz`` and ``/proxyMode``.

    proxy = KubeProxy("node-1")
    proxy.start(api_client)            # a kubelab Component
    print(proxy.iptables_save())

As a process: ``python -m kubelab kube-proxy --kubeconfig K --node node-1``.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kubernetes.client

from kubelab import network
from kubelab.client import Client
from kubelab.proxy import iptables
from kubelab.proxy.endpoints import endpoints_map
from kubelab.proxy.proxier import Proxier
from kubelab.proxy.serviceport import all_service_ports
from kubelab.runtime import REAL_CLOCK, Clock, Informer, SharedInformerFactory, rfc3339

log = logging.getLogger(__name__)

METRICS_PORT = 10249
"""Upstream's ``--metrics-bind-address`` port: ``/proxyMode`` (and here ``/iptables-save``)."""


class KubeProxy:
    """kube-proxy for the node ``node_name`` (a :class:`kubelab.component.Component`).

    ``addresses`` is the cluster's address plan (its pod network's traffic keeps its source
    address). ``node_ip`` is where NodePorts are served; by default the InternalIP of the
    Node object (NodePorts wait until it exists). ``metrics_port`` 0 serves no status page.
    """

    def __init__(
        self,
        node_name: str,
        *,
        addresses: network.AddressPlan | None = None,
        node_ip: str = "",
        metrics_port: int = METRICS_PORT,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.node_name = node_name
        self.configured_node_ip = node_ip
        self.addresses = addresses or network.AddressPlan()
        self.metrics_port = metrics_port
        self.clock = clock
        self.proxier = Proxier(node_name, addresses=self.addresses, clock=clock)
        self.client: Client | None = None
        self.informers: SharedInformerFactory | None = None
        self.last_synced = 0.0
        self._node: Informer | None = None
        self._dirty = threading.Event()
        self._synced = threading.Condition()
        self._syncs = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, client: kubernetes.client.ApiClient | Client) -> None:
        """Start watching and serving; return at once."""
        if self.client is not None:
            raise RuntimeError(f"kube-proxy {self.node_name} is already running")
        self.client = client if isinstance(client, Client) else Client(client)
        self.informers = SharedInformerFactory(self.client)
        services = self.informers.informer("v1", "services")
        slices = self.informers.informer("discovery.k8s.io/v1", "endpointslices")
        self._node = Informer(self.client.resource("v1", "nodes"), field_selector=f"metadata.name={self.node_name}",
                              name=f"node {self.node_name}")
        for informer in (services, slices, self._node):
            informer.add_event_handler(self._changed, lambda old, new: self._changed(new), self._changed)
        self._stopping.clear()
        self.proxier.start()
        self.informers.start()
        self._node.start()
        self._thread = threading.Thread(target=self._sync_loop, name=f"kube-proxy {self.node_name} sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving every Service address; return when every thread has ended."""
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._status is not None:
            self._status.shutdown()
            self._status.server_close()
            self._status = None
        if self.informers is not None:
            self.informers.shutdown()
        if self._node is not None:
            self._node.stop()
        self.proxier.stop()
        self.client = None

    # -- syncing ---------------------------------------------------------------------------------

    def _changed(self, obj: Any) -> None:
        self._dirty.set()

    def _sync_loop(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            if not self._caches_synced():
                self._stopping.wait(0.05)
                continue
            self._dirty.clear()
            try:
                self.sync()
            except Exception:
                log.exception("kube-proxy %s: sync failed; retrying", self.node_name)
                self._dirty.set()
                self._stopping.wait(1.0)

    def _caches_synced(self) -> bool:
        return bool(self.informers and self.informers.wait_for_cache_sync(0) and self._node and self._node.has_synced())

    def sync(self) -> None:
        """Bring the data plane in line with the Services and EndpointSlices in the caches (``syncProxyRules``)."""
        assert self.informers is not None
        services = self.informers.informer("v1", "services").cache.list()
        slices = self.informers.informer("discovery.k8s.io/v1", "endpointslices").cache.list()
        node_ip = self.node_ip
        self.proxier.sync(all_service_ports(services), endpoints_map(slices), node_ip)
        if node_ip and self.metrics_port and self._status is None:
            self._serve_status(node_ip)
        with self._synced:
            self.last_synced = self.clock.wall()
            self._syncs += 1
            self._synced.notify_all()

    def wait_for_sync(self, timeout: float = 10.0) -> bool:
        """Wait until the data plane reflects what the caches hold now (False if ``timeout`` passes)."""
        with self._synced:
            target = self._syncs + 1
        self._dirty.set()
        with self._synced:
            return self._synced.wait_for(lambda: self._syncs >= target, timeout)

    @property
    def node_ip(self) -> str:
        """Where NodePorts are served: the given address, else the Node's InternalIP ("" while unknown)."""
        if self.configured_node_ip or self._node is None:
            return self.configured_node_ip
        node: Mapping[str, Any] = self._node.cache.get_by_key(self.node_name) or {}
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return str(address.get("address") or "")
        return ""

    def iptables_save(self) -> str:
        """The ``iptables-save`` output an iptables-mode kube-proxy would have for the current state."""
        if self.informers is None:
            raise RuntimeError(f"kube-proxy {self.node_name} is not running")
        services = self.informers.informer("v1", "services").cache.list()
        slices = self.informers.informer("discovery.k8s.io/v1", "endpointslices").cache.list()
        return iptables.render(services, slices, self.node_name, node_ip=self.node_ip,
                               cluster_cidr=str(self.addresses.pod_network))

    # -- status page -----------------------------------------------------------------------------

    def _serve_status(self, host: str) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/iptables-save":
                    self._reply(200, proxy.iptables_save(), "text/plain; charset=utf-8")
                elif self.path == "/proxyMode":
                    self._reply(200, "userspace", "text/plain; charset=utf-8")
                elif self.path in ("/healthz", "/livez"):
                    body = {"lastUpdated": rfc3339(proxy.last_synced), "currentTime": rfc3339(proxy.clock.wall()),
                            "nodeEligible": True}
                    self._reply(200, json.dumps(body), "application/json")
                else:
                    self._reply(404, "404 page not found\n", "text/plain; charset=utf-8")

            def _reply(self, status: int, body: str, content_type: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        try:
            self._status = ThreadingHTTPServer((host, self.metrics_port), Handler)
        except OSError as e:
            log.warning("kube-proxy %s: no status page on %s:%d: %s", self.node_name, host, self.metrics_port, e.strerror)
            self.metrics_port = 0
            return
        self._status.daemon_threads = True
        threading.Thread(target=self._status.serve_forever, name=f"kube-proxy {self.node_name} status",
                         daemon=True).start()


def main(argv: list[str]) -> int:
    """``python -m kubelab kube-proxy --kubeconfig K --node NAME``: run as its own process."""
    from kubelab.component import serve

    parser = argparse.ArgumentParser(prog="kubelab kube-proxy", description="Run kube-proxy for one node.")
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    parser.add_argument("--node", "--hostname-override", dest="node", required=True,
                        help="the name of the node this kube-proxy serves")
    parser.add_argument("--node-ip", default="",
                        help="address NodePorts are served on (default: the Node's InternalIP)")
    network.add_address_slot_argument(parser)
    parser.add_argument("--metrics-port", type=int, default=METRICS_PORT,
                        help="port on the node IP for /healthz, /proxyMode and /iptables-save, 0 for none "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    proxy = KubeProxy(args.node, addresses=args.addresses, node_ip=args.node_ip, metrics_port=args.metrics_port)
    return serve(proxy, args.kubeconfig, "kube-proxy")
