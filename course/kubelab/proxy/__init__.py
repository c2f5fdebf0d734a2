"""kube-proxy: Services made reachable, and the iptables rules that would do it.

Mirrors ``pkg/proxy``. The pieces, in the order a Service meets them::

    Service ─► ServicePort (serviceport.py) ─┐
    EndpointSlices ─► Endpoint (endpoints.py) ┴► categorize ─► RoundRobin (loadbalancer.py)
                                                  │                 │
                             iptables.render (iptables.py)    Proxier (proxier.py): listen, choose, relay

:class:`KubeProxy` (kube_proxy.py) is the component that watches the cluster and runs them.
"""

from kubelab.proxy.endpoints import Categorized, Endpoint, categorize, endpoints_map
from kubelab.proxy.iptables import render
from kubelab.proxy.kube_proxy import KubeProxy, main
from kubelab.proxy.loadbalancer import RoundRobin
from kubelab.proxy.proxier import Choice, Frontend, Proxier, Route, choose
from kubelab.proxy.serviceport import ServicePort, ServicePortName, all_service_ports, service_ports

__all__ = [
    "Categorized",
    "Choice",
    "Endpoint",
    "Frontend",
    "KubeProxy",
    "Proxier",
    "RoundRobin",
    "Route",
    "ServicePort",
    "ServicePortName",
    "all_service_ports",
    "categorize",
    "choose",
    "endpoints_map",
    "main",
    "render",
    "service_ports",
]
