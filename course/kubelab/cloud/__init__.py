"""A cloud-controller-manager in miniature: LoadBalancer Services get an address on loopback.

:class:`ServiceController` (service_controller.py) hands out addresses from an
:class:`IPPool` (ippool.py); kube-proxy serves them.
"""

from kubelab.cloud.ippool import IPPool, PoolError
from kubelab.cloud.service_controller import FINALIZER, ServiceController, main, wants_load_balancer

__all__ = ["FINALIZER", "IPPool", "PoolError", "ServiceController", "main", "wants_load_balancer"]
