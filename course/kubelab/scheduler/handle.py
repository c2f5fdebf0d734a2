"""What a plugin may use of the scheduler running it (``framework.Handle``).

A plugin that needs more than the pod and one node gets a :class:`Handle` through an
optional ``setup(handle)`` method, called once before scheduling starts: the snapshot of
the current cycle (all nodes, for spreading and inter-pod affinity), read-only views of
other objects (services, replica sets, namespaces...) kept by informers, and the API
client (for binding and preemption).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from kubelab.scheduler.cache import Snapshot

if TYPE_CHECKING:
    from kubelab.scheduler.profile import Profile

__all__ = ["Handle", "Objects", "StaticObjects"]


class Objects(Protocol):
    """Read-only access to cluster objects by resource name (``pods``, ``services``, ``namespaces``...)."""

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        ...

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        ...


class StaticObjects:
    """Objects held in memory: for unit tests, and for scheduling against a fixed picture."""

    def __init__(self, objects: Mapping[str, Iterable[dict[str, Any]]] | None = None) -> None:
        self._objects = {resource: list(items) for resource, items in (objects or {}).items()}

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        items = self._objects.get(resource, [])
        if namespace is None:
            return list(items)
        return [o for o in items if (o.get("metadata") or {}).get("namespace") == namespace]

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        for o in self._objects.get(resource, []):
            meta = o.get("metadata") or {}
            if meta.get("name") == name and (meta.get("namespace") or "") == namespace:
                return o
        return None


class Handle:
    """The snapshot, the object caches, the API client and the profile, as plugins see them."""

    def __init__(self, snapshot: Snapshot, objects: Objects | None = None, client: Any = None,
                 recorder: Any = None, profile: Profile | None = None) -> None:
        self.snapshot = snapshot
        self.objects: Objects = objects if objects is not None else StaticObjects()
        self.client = client
        """A :class:`kubelab.client.Client`, or None when scheduling offline."""
        self.recorder = recorder
        """The scheduler's event recorder, or None."""
        self._profile = profile

    @property
    def profile(self) -> Profile:
        """The profile running the plugin: its filters say whether a pod fits (preemption asks them)."""
        if self._profile is None:
            raise RuntimeError("this handle belongs to no profile: build a Profile with it first")
        return self._profile

    @profile.setter
    def profile(self, profile: Profile) -> None:
        self._profile = profile

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.objects.get("namespaces", "", namespace)
        return ((ns or {}).get("metadata") or {}).get("labels") or {}
