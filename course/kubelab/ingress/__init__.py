"""The ingress controller: Ingress rules (routing.py) served by a reverse proxy (proxy.py), kept in
step with the cluster by the controller (controller.py)."""

from kubelab.ingress.controller import CLASS_NAME, CONTROLLER_NAME, IngressController, main
from kubelab.ingress.proxy import Configuration, IngressProxy, Upstream
from kubelab.ingress.routing import Backend, Route, RoutingTable, host_matches, is_ours, path_matches

__all__ = [
    "CLASS_NAME",
    "CONTROLLER_NAME",
    "Backend",
    "Configuration",
    "IngressController",
    "IngressProxy",
    "Route",
    "RoutingTable",
    "Upstream",
    "host_matches",
    "is_ours",
    "main",
    "path_matches",
]
