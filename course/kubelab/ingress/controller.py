"""The ingress controller: Ingresses of class ``kubelab`` become routes of a reverse proxy.

Mirrors ingress-nginx's controller loop: it watches Ingresses, IngressClasses, Services,
EndpointSlices and Secrets and, after each change, rebuilds the whole configuration
(routing table, endpoints of every backend, TLS certificates) and hands it to the data plane
(:class:`~kubelab.ingress.proxy.IngressProxy`). It

- makes sure the IngressClass ``kubelab`` (controller ``kubelab.io/ingress-controller``)
  exists, marked as the default class when no other class is;
- listens on its own address (:attr:`~kubelab.network.AddressPlan.ingress_controller_ip`, ports 80 and 443, moved by
  :func:`kubelab.network.host_port` where they cannot be bound) and, like ingress-nginx
  installed on a cloud, sits behind a ``LoadBalancer`` Service,
  ``kube-system/ingress-kubelab-controller``, whose EndpointSlice it keeps pointing at itself;
- writes ``status.loadBalancer.ingress`` of every Ingress it serves: the load balancer's IP
  once the cloud controller has given one, its own address until then
  (``--publish-service``);
- records events on Ingresses: ``Sync`` when it takes a new version into account, Warnings
  ``ServiceNotFound`` and ``SecretNotFound`` for backends and certificates that do not exist.

As a process: ``python -m kubelab ingress-controller --kubeconfig K``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import kubernetes.client

from kubelab import errors, network
from kubelab.client import Client
from kubelab.ingress.proxy import Configuration, IngressProxy, Upstream, server_context
from kubelab.ingress.routing import DEFAULT_CLASS_ANNOTATION, Backend, RoutingTable, ingress_key, is_ours
from kubelab.proxy.endpoints import categorize, endpoints_map
from kubelab.proxy.serviceport import ServicePort, ServicePortName
from kubelab.runtime import EventRecorder, SharedInformerFactory, deep_copy

log = logging.getLogger(__name__)

CLASS_NAME = "kubelab"
CONTROLLER_NAME = "kubelab.io/ingress-controller"
SERVICE_NAMESPACE = "kube-system"
SERVICE_NAME = "ingress-kubelab-controller"


class IngressController:
    """The ingress controller (a :class:`kubelab.component.Component`).

    It listens on the ingress address of ``addresses`` (or ``address``). ``publish`` creates the
    controller's LoadBalancer Service and points it here; without it, Ingresses show the
    controller's own address.
    """

    def __init__(
        self,
        *,
        addresses: network.AddressPlan | None = None,
        address: str = "",
        http_port: int = 80,
        https_port: int = 443,
        class_name: str = CLASS_NAME,
        publish: bool = True,
    ) -> None:
        self.address = address or (addresses or network.AddressPlan()).ingress_controller_ip
        self.http_port = http_port
        self.https_port = https_port
        self.class_name = class_name
        self.publish = publish
        self.proxy = IngressProxy(self.address, network.host_port(http_port), network.host_port(https_port))
        self.client: Client | None = None
        self.informers: SharedInformerFactory | None = None
        self.recorder: EventRecorder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._sync_thread: threading.Thread | None = None
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._synced = threading.Condition()
        self._syncs = 0
        self._seen: dict[str, tuple[str, frozenset[str]]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, client: kubernetes.client.ApiClient | Client) -> None:
        """Listen, make sure the IngressClass (and Service) exist, start syncing; return at once.

        Raises OSError when the address cannot be bound.
        """
        if self.client is not None:
            raise RuntimeError("this ingress controller is already running")
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.proxy.start())
        except OSError as e:
            loop.close()
            raise OSError(e.errno, f"the ingress controller cannot listen on {self.address} (ports "
                                   f"{self.proxy.http_port} and {self.proxy.https_port}): {e.strerror}") from e
        self._loop = loop
        self._loop_thread = threading.Thread(target=loop.run_forever, name="ingress proxy", daemon=True)
        self._loop_thread.start()
        self.client = client if isinstance(client, Client) else Client(client)
        self.recorder = EventRecorder(self.client, "ingress-kubelab-controller")
        self.informers = SharedInformerFactory(self.client)
        for api_version, resource in (("networking.k8s.io/v1", "ingresses"), ("networking.k8s.io/v1", "ingressclasses"),
                                      ("v1", "services"), ("discovery.k8s.io/v1", "endpointslices"), ("v1", "secrets")):
            self.informers.informer(api_version, resource).add_event_handler(
                self._changed, lambda old, new: self._changed(new), self._changed)
        self._ensure_class()
        if self.publish:
            self._publish()
        self._stopping.clear()
        self.informers.start()
        self._sync_thread = threading.Thread(target=self._sync_loop, name="ingress sync", daemon=True)
        self._sync_thread.start()

    def stop(self) -> None:
        """Stop serving; return when every thread has ended."""
        self._stopping.set()
        self._dirty.set()
        if self._sync_thread is not None:
            self._sync_thread.join(30)
        if self.client is not None and self.publish:
            try:
                self.client.resource("discovery.k8s.io/v1", "endpointslices").delete(self._slice_name, SERVICE_NAMESPACE)
            except errors.ClientError as e:
                log.info("ingress: could not withdraw %s: %s", self._slice_name, e)
        if self._loop is not None and self._loop_thread is not None:
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(15)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(10)
            self._loop.close()
        if self.informers is not None:
            self.informers.shutdown()
        if self.recorder is not None:
            self.recorder.stop()
        self._loop = self._loop_thread = self._sync_thread = None
        self.client = self.informers = self.recorder = None

    # -- syncing -------------------------------------------------------------------------------

    def _changed(self, obj: Any) -> None:
        self._dirty.set()

    def _sync_loop(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            if not (self.informers and self.informers.wait_for_cache_sync(0)):
                self._stopping.wait(0.05)
                continue
            self._dirty.clear()
            try:
                self.sync()
            except Exception:
                log.exception("ingress: sync failed; retrying")
                self._dirty.set()
                self._stopping.wait(1.0)

    def wait_for_sync(self, timeout: float = 10.0) -> bool:
        """Wait until the proxy routes by what the caches hold now (False if ``timeout`` passes)."""
        with self._synced:
            target = self._syncs + 1
        self._dirty.set()
        with self._synced:
            return self._synced.wait_for(lambda: self._syncs >= target, timeout)

    def _cache(self, api_version: str, resource: str) -> list[Any]:
        assert self.informers is not None
        return self.informers.informer(api_version, resource).cache.list()

    def is_default_class(self) -> bool:
        """Whether Ingresses without a class are ours: our class is marked default, or no class is."""
        classes = self._cache("networking.k8s.io/v1", "ingressclasses")
        defaults = [c for c in classes if ((c.get("metadata") or {}).get("annotations") or {}).get(
            DEFAULT_CLASS_ANNOTATION) == "true"]
        return any(c["metadata"]["name"] == self.class_name for c in defaults) or not defaults

    def sync(self) -> None:
        """Rebuild the whole configuration from the caches, hand it to the proxy, update statuses and events."""
        assert self._loop is not None
        default = self.is_default_class()
        ingresses = [i for i in self._cache("networking.k8s.io/v1", "ingresses") if is_ours(i, self.class_name, default)]
        table = RoutingTable(ingresses)
        services = {f"{s['metadata'].get('namespace')}/{s['metadata']['name']}": s
                    for s in self._cache("v1", "services")}
        endpoints = endpoints_map(self._cache("discovery.k8s.io/v1", "endpointslices"))
        secrets = {f"{s['metadata'].get('namespace')}/{s['metadata']['name']}": s for s in self._cache("v1", "secrets")}
        upstreams = {b: self._upstream(b, services, endpoints) for b in table.backends() if b.service}
        certificates: dict[tuple[str, str], ssl.SSLContext] = {}
        problems: dict[tuple[str, str], str] = {}
        for namespace, name in set(table.tls.values()):
            context, problem = self._certificate(secrets.get(f"{namespace}/{name}"), namespace, name)
            if context is not None:
                certificates[(namespace, name)] = context
            else:
                problems[(namespace, name)] = problem
        configuration = Configuration(table, upstreams, certificates)
        self._loop.call_soon_threadsafe(self.proxy.configure, configuration)
        address = self._published_address()
        for ingress in ingresses:
            self._update_status(ingress, address)
            self._record(ingress, upstreams, problems)
        with self._synced:
            self._syncs += 1
            self._synced.notify_all()

    def _upstream(self, backend: Backend, services: Mapping[str, Any], endpoints: Mapping[ServicePortName, Any]) -> Upstream:
        service = services.get(f"{backend.namespace}/{backend.service}")
        if service is None:
            return Upstream(problem=f'Service "{backend.namespace}/{backend.service}" does not exist')
        ports = (service.get("spec") or {}).get("ports") or []
        port = next((p for p in ports if backend.port in (p.get("port"), p.get("name"))), None)
        if port is None:
            return Upstream(problem=f'Service "{backend.namespace}/{backend.service}" has no port {backend.port}')
        name = ServicePortName(backend.namespace, backend.service, port.get("name") or "", port.get("protocol") or "TCP")
        usable = categorize(endpoints.get(name, []), ServicePort(name, "", int(port["port"])), "").cluster
        return Upstream(endpoints=usable)

    def _certificate(self, secret: Mapping[str, Any] | None, namespace: str,
                     name: str) -> tuple[ssl.SSLContext | None, str]:
        if secret is None:
            return None, f'Secret "{namespace}/{name}" does not exist'
        data = secret.get("data") or {}
        try:
            return server_context(base64.b64decode(data.get("tls.crt", "")),
                                  base64.b64decode(data.get("tls.key", ""))), ""
        except (ssl.SSLError, ValueError) as e:
            return None, f'Secret "{namespace}/{name}" does not hold a valid certificate and key: {e}'

    def _published_address(self) -> str:
        """The address Ingresses show: the load balancer's IP when there is one, else the controller's own."""
        if self.publish:
            for service in self._cache("v1", "services"):
                meta = service.get("metadata") or {}
                if (meta.get("namespace"), meta.get("name")) == (SERVICE_NAMESPACE, SERVICE_NAME):
                    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                    if ingress and ingress[0].get("ip"):
                        return str(ingress[0]["ip"])
        return self.address

    def _update_status(self, ingress: Mapping[str, Any], address: str) -> None:
        assert self.client is not None
        wanted = {"ingress": [{"ip": address}]}
        if ((ingress.get("status") or {}).get("loadBalancer") or {}) == wanted:
            return
        updated = deep_copy(ingress)
        updated["status"] = {"loadBalancer": wanted}
        try:
            self.client.resource("networking.k8s.io/v1", "ingresses").update_status(updated)
        except (errors.Conflict, errors.NotFound):
            self._dirty.set()

    def _record(self, ingress: Mapping[str, Any], upstreams: Mapping[Backend, Upstream],
                problems: Mapping[tuple[str, str], str]) -> None:
        """Events for what is new about ``ingress``: a new version, a missing Service or Secret."""
        assert self.recorder is not None
        key = ingress_key(ingress)
        namespace = (ingress.get("metadata") or {}).get("namespace") or "default"
        spec = ingress.get("spec") or {}
        messages: set[str] = set()
        for backend in RoutingTable([ingress]).backends():
            upstream = upstreams.get(backend)
            if upstream is not None and upstream.problem:
                messages.add("ServiceNotFound\0" + upstream.problem)
        for tls in spec.get("tls") or []:
            problem = problems.get((namespace, tls.get("secretName") or ""))
            if problem:
                messages.add("SecretNotFound\0" + problem)
        version = str((ingress.get("metadata") or {}).get("generation") or "")
        before = self._seen.get(key)
        if before is None or before[0] != version:
            self.recorder.event(ingress, "Normal", "Sync", "Scheduled for sync")
        for message in sorted(messages - (before[1] if before else frozenset())):
            reason, text = message.split("\0", 1)
            self.recorder.event(ingress, "Warning", reason, text)
        self._seen[key] = (version, frozenset(messages))

    # -- the IngressClass and the controller's Service ---------------------------------------------

    def _ensure_class(self) -> None:
        assert self.client is not None
        classes = self.client.resource("networking.k8s.io/v1", "ingressclasses")
        existing = classes.list()["items"]
        if any(c["metadata"]["name"] == self.class_name for c in existing):
            return
        other_default = any(((c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)) == "true"
                            for c in existing)
        annotations = {} if other_default else {DEFAULT_CLASS_ANNOTATION: "true"}
        with contextlib.suppress(errors.AlreadyExists):
            classes.create({"metadata": {"name": self.class_name, "annotations": annotations},
                            "spec": {"controller": CONTROLLER_NAME}})

    @property
    def _slice_name(self) -> str:
        return f"{SERVICE_NAME}-{self.address.replace('.', '-')}"

    def _publish(self) -> None:
        """Make sure the controller's LoadBalancer Service exists and its EndpointSlice names this controller."""
        assert self.client is not None
        ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
                 {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]
        with contextlib.suppress(errors.AlreadyExists):
            self.client.resource("v1", "services").create({
                "metadata": {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE,
                             "labels": {"app.kubernetes.io/name": "ingress-kubelab",
                                        "app.kubernetes.io/component": "controller"}},
                "spec": {"type": "LoadBalancer", "ports": ports},
            })
        endpoint_slice: dict[str, Any] = {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": self._slice_name, "namespace": SERVICE_NAMESPACE, "labels": {
                "kubernetes.io/service-name": SERVICE_NAME,
                "endpointslice.kubernetes.io/managed-by": "ingress-kubelab-controller"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [self.address],
                           "conditions": {"ready": True, "serving": True, "terminating": False}}],
            "ports": [{"name": "http", "port": self.http_port, "protocol": "TCP"},
                      {"name": "https", "port": self.https_port, "protocol": "TCP"}],
        }
        slices = self.client.resource("discovery.k8s.io/v1", "endpointslices")
        try:
            slices.create(endpoint_slice)
        except errors.AlreadyExists:
            endpoint_slice["metadata"]["resourceVersion"] = slices.get(self._slice_name, SERVICE_NAMESPACE)[
                "metadata"]["resourceVersion"]
            slices.update(endpoint_slice)


def main(argv: list[str]) -> int:
    """``python -m kubelab ingress-controller --kubeconfig K``: run as its own process."""
    from kubelab.component import serve

    parser = argparse.ArgumentParser(prog="kubelab ingress-controller",
                                     description="Run the ingress controller (IngressClass kubelab).")
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    network.add_address_slot_argument(parser)
    parser.add_argument("--bind-address", default="",
                        help="address to listen on (default: the slot's ingress address, 127.224.0.11 in slot 0)")
    parser.add_argument("--http-port", type=int, default=80, help="default: %(default)s (10080 where it cannot be bound)")
    parser.add_argument("--https-port", type=int, default=443,
                        help="default: %(default)s (10443 where it cannot be bound)")
    parser.add_argument("--ingress-class", default=CLASS_NAME, help="the IngressClass served (default: %(default)s)")
    parser.add_argument("--no-publish", action="store_true",
                        help="do not create the controller's LoadBalancer Service")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    controller = IngressController(addresses=args.addresses, address=args.bind_address, http_port=args.http_port,
                                   https_port=args.https_port, class_name=args.ingress_class,
                                   publish=not args.no_publish)
    return serve(controller, args.kubeconfig, "ingress-controller")
