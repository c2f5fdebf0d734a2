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
