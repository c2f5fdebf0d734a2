"""The node: the kubelet, and the container runtime it drives (lab 06).

- :mod:`~kubelab.kubelet.runtime`: the CRI in miniature (what the kubelet asks of a runtime);
- :mod:`~kubelab.kubelet.process_runtime`: the runtime whose containers are processes, run
  per node as its own daemon (:mod:`~kubelab.kubelet.runtime_daemon`) and reached over a
  socket (:mod:`~kubelab.kubelet.cri_socket`);
- :mod:`~kubelab.kubelet.kubelet`: the kubelet, with its parts: node status and lease,
  pod sync (:mod:`~kubelab.kubelet.runtime_manager`), pod status, probes, volumes,
  environment, images, and its HTTPS server for logs, exec and port-forward.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Kubelet", "ProcessRuntime"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the runtime daemon must not pay for the kubelet's imports.
    if name == "Kubelet":
        from kubelab.kubelet.kubelet import Kubelet

        return Kubelet
    if name == "ProcessRuntime":
        from kubelab.kubelet.process_runtime import ProcessRuntime

        return ProcessRuntime
    raise AttributeError(f"module 'kubelab.kubelet' has no attribute {name!r}")
