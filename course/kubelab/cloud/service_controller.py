"""The service controller of a cloud-controller-manager, with loopback as the cloud.

Mirrors ``k8s.io/cloud-provider/controllers/service``: every Service of ``type:
LoadBalancer`` (without a ``loadBalancerClass``, which names another implementation) gets a
load balancer. Here a load balancer is an address from the pool (:class:`~kubelab.cloud.ippool.IPPool`, the
cluster's :attr:`~kubelab.network.AddressPlan.load_balancer_network`) written to
``status.loadBalancer.ingress``; kube-proxy then serves that address, as upstream's
kube-proxy does for a load balancer's VIP. The controller adds the finalizer
``service.kubernetes.io/load-balancer-cleanup`` first, so a deleted Service keeps its address
until the controller has released it, and records upstream's events (``EnsuringLoadBalancer``,
``EnsuredLoadBalancer``, ``DeletingLoadBalancer``, ``DeletedLoadBalancer``,
``SyncLoadBalancerFailed``).

As a process: ``python -m kubelab cloud-controller-manager --kubeconfig K [--address-slot N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kubernetes.client

from kubelab import errors, network
from kubelab.client import Client
from kubelab.cloud.ippool import IPPool, PoolError
from kubelab.runtime import Controller, EventRecorder, SharedInformerFactory, deep_copy, meta_namespace_key

log = logging.getLogger(__name__)

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def wants_load_balancer(service: Mapping[str, Any]) -> bool:
    """Whether this controller should give ``service`` a load balancer (``wantsLoadBalancer``)."""
    spec = service.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def ingress_ips(service: Mapping[str, Any]) -> list[str]:
    """The IPs in ``status.loadBalancer.ingress``."""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [entry["ip"] for entry in ingress if entry.get("ip")]


class ServiceController:
    """Gives LoadBalancer Services an address and takes it back (a :class:`kubelab.component.Component`)."""

    def __init__(self, addresses: network.AddressPlan | None = None) -> None:
        self.pool = IPPool(str((addresses or network.AddressPlan()).load_balancer_network))
        self.client: Client | None = None
        self.informers: SharedInformerFactory | None = None
        self.recorder: EventRecorder | None = None
        self.controller: Controller | None = None
        self._assigned: dict[str, str] = {}

    def start(self, client: kubernetes.client.ApiClient | Client) -> None:
        """Start watching Services; return at once."""
        if self.client is not None:
            raise RuntimeError("this service controller is already running")
        self.client = client if isinstance(client, Client) else Client(client)
        self.informers = SharedInformerFactory(self.client)
        self.services = self.informers.informer("v1", "services")
        self.recorder = EventRecorder(self.client, "service-controller")
        self.controller = Controller("service-controller", self.reconcile)
        self.controller.watches(self.services)
        self.informers.start()
        self.controller.start()

    def stop(self) -> None:
        """Stop; return when every thread has ended. Addresses stay with their Services."""
        if self.controller is not None:
            self.controller.stop()
        if self.informers is not None:
            self.informers.shutdown()
        if self.recorder is not None:
            self.recorder.stop()
        self.client = self.controller = self.informers = self.recorder = None

    # -- reconcile ---------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        """Converge one Service: ensure its load balancer, or release it (``syncLoadBalancerIfNeeded``)."""
        assert self.client is not None and self.recorder is not None
        cached = self.services.cache.get_by_key(key)
        if cached is None:
            return
        service = deep_copy(cached)
        finalizers = service["metadata"].get("finalizers") or []
        deleting = bool(service["metadata"].get("deletionTimestamp"))
        if deleting or not wants_load_balancer(service):
            if FINALIZER in finalizers:
                self._release(key, service, deleting)
            return
        desired = self._address_for(key, service)
        if desired is None:
            return
        self._assigned[key] = desired
        if FINALIZER in finalizers and ingress_ips(service) == [desired]:
            return
        self.recorder.event(service, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        if FINALIZER not in finalizers:
            service = self._patch_finalizers(service, [*finalizers, FINALIZER])
        service["status"] = {**(service.get("status") or {}), "loadBalancer": {"ingress": [{"ip": desired}]}}
        self.client.resource("v1", "services").update_status(service)
        self.recorder.event(service, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")

    def _address_for(self, key: str, service: dict[str, Any]) -> str | None:
        """The address ``service`` should have: the one it holds, else a new one (None after a Warning)."""
        assert self.recorder is not None
        requested = (service.get("spec") or {}).get("loadBalancerIP") or ""
        held = [ip for ip in ingress_ips(service) if ip in self.pool]
        if held and (not requested or requested in held):
            return held[0]
        # Addresses just given may not be in the cache yet: count them too.
        in_use = {ip for other in self.services.cache.list() if meta_namespace_key(other) != key
                  for ip in ingress_ips(other)}
        in_use |= {ip for other, ip in self._assigned.items() if other != key}
        try:
            return self.pool.allocate(in_use, requested)
        except PoolError as e:
            self.recorder.event(service, "Warning", "SyncLoadBalancerFailed",
                                f"Error syncing load balancer: failed to ensure load balancer: {e}")
            return None

    def _release(self, key: str, service: dict[str, Any], deleting: bool) -> None:
        assert self.client is not None and self.recorder is not None
        self.recorder.event(service, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
        if ingress_ips(service) and not deleting:
            service["status"] = {**(service.get("status") or {}), "loadBalancer": {}}
            service = self.client.resource("v1", "services").update_status(service)
        finalizers = service["metadata"].get("finalizers") or []
        if FINALIZER in finalizers:
            with contextlib.suppress(errors.NotFound):
                self._patch_finalizers(service, [f for f in finalizers if f != FINALIZER])
        self._assigned.pop(key, None)
        self.recorder.event(service, "Normal", "DeletedLoadBalancer", "Deleted load balancer")

    def _patch_finalizers(self, service: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
        """Set the finalizers, guarded by the resourceVersion read (a conflict retries the reconcile)."""
        assert self.client is not None
        meta = service["metadata"]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        return self.client.resource("v1", "services").patch(meta["name"], patch, meta.get("namespace"))


def main(argv: list[str]) -> int:
    """``python -m kubelab cloud-controller-manager --kubeconfig K``: run as its own process."""
    from kubelab.component import serve

    parser = argparse.ArgumentParser(
        prog="kubelab cloud-controller-manager",
        description="Run the load-balancer (service) controller: LoadBalancer Services get an address.")
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    network.add_address_slot_argument(parser, ", whose load-balancer range is used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return serve(ServiceController(args.addresses), args.kubeconfig, "cloud-controller-manager")
