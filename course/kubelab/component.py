"""What every pluggable cluster component looks like to the launcher.

The scheduler, the controller-manager (and each controller in it), the kubelet, kube-proxy,
DNS and the ingress controller all follow this shape, and so does a learner's replacement:
``start`` receives an official-client ``ApiClient`` for the cluster and returns at once
(the component works in its own threads); ``stop`` ends that work and returns when it has
ended. Components talk to the cluster only through the API server.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import kubernetes.client


@runtime_checkable
class Component(Protocol):
    """A cluster component that can run in-process."""

    def start(self, client: kubernetes.client.ApiClient) -> None:
        """Begin working against the cluster behind ``client``; return without blocking."""
        ...

    def stop(self) -> None:
        """Stop working; return when every thread the component started has ended."""
        ...


def serve(component: Component, kubeconfig: str, name: str) -> int:
    """Run ``component`` as this process's only job until SIGTERM/SIGINT (``python -m kubelab <name>``).

    Reports ready to the launcher once ``start`` returns and exits with the parent.
    """
    import signal
    import threading

    from kubelab.kubeconfig import api_client
    from kubelab.process import report_ready, watch_parent

    watch_parent()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    client = api_client(kubeconfig)
    component.start(client)
    report_ready(component=name)
    stopping.wait()
    component.stop()
    client.close()
    return 0
