"""The controller-manager: many controllers in one process, sharing one set of informers.

Mirrors ``cmd/kube-controller-manager``. Each controller is registered under its upstream
name and any of them can be replaced by your own object with the same two methods::

    manager = ControllerManager(controllers={"replicaset": MyReplicaSetController()})
    manager.start(api_client)       # a kubelab Component: start/stop

or disabled (``ControllerManager(disabled=["deployment"])``). As a process:
``python -m kubelab controller-manager --kubeconfig K [--controllers ...] [--disable ...]``.
"""

from __future__ import annotations

import argparse
import importlib
import threading
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

import kubernetes.client

from kubelab.client import Client
from kubelab.runtime import REAL_CLOCK, Clock, EventRecorder, SharedInformerFactory

BUILTIN_CONTROLLERS: dict[str, str] = {
    "replicaset": "kubelab.controllers.replicaset:ReplicaSetController",
    "deployment": "kubelab.controllers.deployment:DeploymentController",
    "garbagecollector": "kubelab.controllers.garbagecollector:GarbageCollector",
    "namespace": "kubelab.controllers.namespace:NamespaceController",
    "serviceaccount": "kubelab.controllers.serviceaccount:ServiceAccountsController",
    "endpoint": "kubelab.controllers.endpoints:EndpointsController",
    "endpointslice": "kubelab.controllers.endpointslice:EndpointSliceController",
    "nodelifecycle": "kubelab.controllers.nodelifecycle:NodeLifecycleController",
    "taint-eviction-controller": "kubelab.controllers.tainteviction:TaintEvictionController",
    "job": "kubelab.controllers.job:JobController",
    "statefulset": "kubelab.controllers.statefulset:StatefulSetController",
    "daemonset": "kubelab.controllers.daemonset:DaemonSetController",
    "podgc": "kubelab.controllers.podgc:PodGCController",
}
"""Every built-in controller: its upstream name and where its class lives."""


class ControllerContext:
    """What the manager hands each controller: the client, the shared informers, a clock, event recorders."""

    def __init__(self, client: Client, informers: SharedInformerFactory, clock: Clock = REAL_CLOCK) -> None:
        self.client = client
        self.informers = informers
        self.clock = clock
        self._recorders: dict[str, EventRecorder] = {}
        self._lock = threading.Lock()

    def recorder(self, component: str) -> EventRecorder:
        """The event recorder of ``component`` (e.g. ``"replicaset-controller"``), made on first use."""
        with self._lock:
            if component not in self._recorders:
                self._recorders[component] = EventRecorder(self.client, component, clock=self.clock)
            return self._recorders[component]

    def stop(self) -> None:
        """Send the events still queued and stop the recorders."""
        with self._lock:
            recorders, self._recorders = list(self._recorders.values()), {}
        for recorder in recorders:
            recorder.stop()


@runtime_checkable
class ManagedController(Protocol):
    """A controller the manager can run: yours, from a notebook, or a built-in one."""

    def start(self, context: ControllerContext) -> None:
        """Get informers from ``context.informers``, add handlers, start workers; return at once.

        The manager starts the informers after every controller's ``start``; workers wait
        for the caches to sync before their first reconcile.
        """
        ...

    def stop(self) -> None:
        """Stop the workers; return when they have finished."""
        ...


def builtin_controller(name: str) -> ManagedController:
    """A new instance of the built-in controller called ``name``."""
    if name not in BUILTIN_CONTROLLERS:
        raise ValueError(f"{name!r} is not in the list of known controllers: {', '.join(BUILTIN_CONTROLLERS)}")
    module, cls = BUILTIN_CONTROLLERS[name].split(":")
    return getattr(importlib.import_module(module), cls)()  # type: ignore[no-any-return]


class ControllerManager:
    """The controller-manager component (``kubelab.component.Component``).

    ``controllers`` add to or replace built-in controllers by name; ``disabled`` names
    controllers not to run.
    """

    def __init__(
        self,
        controllers: Mapping[str, ManagedController] | None = None,
        *,
        disabled: Iterable[str] = (),
        clock: Clock = REAL_CLOCK,
        resync_period: float = 0.0,
    ) -> None:
        given = dict(controllers or {})
        for name, controller in given.items():
            if not isinstance(controller, ManagedController):
                raise TypeError(
                    f"controller {name!r} must have start(context) and stop() methods, got {type(controller).__name__}"
                )
        disabled = set(disabled)
        unknown = disabled - set(BUILTIN_CONTROLLERS) - set(given)
        if unknown:
            raise ValueError(
                f"cannot disable unknown controllers {', '.join(sorted(unknown))}: "
                f"known are {', '.join(BUILTIN_CONTROLLERS)}"
            )
        names = [n for n in [*BUILTIN_CONTROLLERS, *given] if n not in disabled]
        self.controllers: dict[str, ManagedController] = {
            name: given[name] if name in given else builtin_controller(name) for name in dict.fromkeys(names)
        }
        self.clock = clock
        self.resync_period = resync_period
        self.client: Client | None = None
        self.informers: SharedInformerFactory | None = None
        self.context: ControllerContext | None = None
        self._started: list[ManagedController] = []

    def start(self, client: kubernetes.client.ApiClient | Client) -> None:
        """Start every controller and the shared informers; return at once."""
        if self.client is not None:
            raise RuntimeError("this controller-manager is already running")
        self.client = client if isinstance(client, Client) else Client(client)
        self.informers = SharedInformerFactory(self.client, resync_period=self.resync_period, clock=self.clock)
        self.context = ControllerContext(self.client, self.informers, self.clock)
        try:
            for controller in self.controllers.values():
                controller.start(self.context)
                self._started.append(controller)
            self.informers.start()
        except BaseException:
            self.stop()
            raise

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until every informer has listed once (False if ``timeout`` seconds pass first)."""
        return self.informers is not None and self.informers.wait_for_cache_sync(timeout)

    def stop(self) -> None:
        """Stop every controller, then the informers; return when all their threads have ended."""
        for controller in reversed(self._started):
            controller.stop()
        self._started.clear()
        if self.informers is not None:
            self.informers.shutdown()
        if self.context is not None:
            self.context.stop()
        if self.client is not None:
            self.client.close()
        self.client = self.informers = self.context = None


def main(argv: list[str]) -> int:
    """``kubelab controller-manager``: run the controllers as this process's only job."""
    from kubelab.component import serve

    parser = argparse.ArgumentParser(prog="kubelab controller-manager", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, help="the kubeconfig of the cluster to manage")
    parser.add_argument(
        "--controllers", default="*",
        help="controllers to run, comma-separated: '*' is every built-in one, 'foo' adds foo, '-foo' leaves foo out "
             f"(known: {', '.join(BUILTIN_CONTROLLERS)})",
    )
    parser.add_argument("--disable", action="append", default=[], help="controllers not to run, comma-separated")
    args = parser.parse_args(argv)
    try:
        disabled = _disabled(args.controllers, args.disable)
        manager = ControllerManager(disabled=disabled)
    except ValueError as e:
        parser.error(str(e))
    return serve(manager, args.kubeconfig, "controller-manager")


def _disabled(controllers: str, disable: list[str]) -> set[str]:
    enabled: set[str] = set()
    disabled = {name for item in disable for name in item.split(",") if name}
    for item in (c.strip() for c in controllers.split(",")):
        if item == "*":
            enabled |= set(BUILTIN_CONTROLLERS)
        elif item.startswith("-"):
            disabled.add(item[1:])
        elif item:
            enabled.add(item)
    for name in enabled | disabled:
        if name not in BUILTIN_CONTROLLERS:
            raise ValueError(f"{name!r} is not in the list of known controllers: {', '.join(BUILTIN_CONTROLLERS)}")
    return (set(BUILTIN_CONTROLLERS) - enabled) | disabled
