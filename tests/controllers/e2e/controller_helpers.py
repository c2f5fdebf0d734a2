"""Helpers for controller tests: run some controllers against a cluster, wait for what they do."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubelab.cluster import Cluster
from kubelab.controllers.manager import BUILTIN_CONTROLLERS, ControllerManager, ManagedController


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}: last {last!r}")


@contextlib.contextmanager
def running(cluster: Cluster, **controllers: ManagedController) -> Iterator[ControllerManager]:
    """Run only the given controllers (by their upstream names) in an in-process controller-manager."""
    manager = ControllerManager(
        controllers=controllers, disabled=[n for n in BUILTIN_CONTROLLERS if n not in controllers]
    )
    manager.start(cluster.api_client())
    try:
        assert manager.wait_for_sync(20), "the controllers' informers did not sync"
        yield manager
    finally:
        manager.stop()


def kubectl_apply(cluster: Cluster, namespace: str, manifest: str) -> str:
    """``kubectl apply -f -`` of a manifest (YAML or JSON) in ``namespace``; returns what kubectl printed."""
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest).stdout


def create_widget_crd(cluster: Cluster, group: str) -> str:
    """Create a namespaced ``Widget`` custom resource in ``group``; return its apiVersion."""
    cluster.kubectl("apply", "-f", "-", input=f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
""")
    wait_for(lambda: cluster.kubectl("get", f"widgets.{group}", "-A", check=False).returncode == 0,
             what="the Widget kind to be served")
    return f"{group}/v1"
