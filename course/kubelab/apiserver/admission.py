"""Admission: the checks and defaults every write passes between the handler and the registry.

Mirrors ``k8s.io/apiserver/pkg/admission`` and three of kube-apiserver's default plugins:

- ``NamespaceLifecycle`` (``plugin/pkg/admission/namespace/lifecycle``): nothing is created
  in a namespace that does not exist (404) or is being deleted (403); ``default``,
  ``kube-system`` and ``kube-public`` cannot be deleted. It reads namespaces from a cache
  (upstream's informer) and asks the store for one the cache lacks or that was deleted lately.
- ``DefaultTolerationSeconds`` (``plugin/pkg/admission/defaulttolerationseconds``): every
  pod tolerates ``node.kubernetes.io/not-ready`` and ``unreachable`` for 300 s, so it is
  evicted five minutes after its node fails.
- ``ServiceAccount`` (``plugin/pkg/admission/serviceaccount``): a pod without a service
  account runs as ``default``.

Mutating plugins run on the decoded object before the registry prepares it
(:meth:`Admission.admit`); validating ones on the final object just before it is stored
(:meth:`Admission.validator`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import errors

Obj = dict[str, Any]
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
FORCE_LIVE_LOOKUP_SECONDS = 30.0
"""How long after a namespace's deletion is admitted its lookups skip the cache (upstream's ``forceLiveLookupTTL``)."""


@dataclass(frozen=True)
class Attributes:
    """What is being done to what (``admission.Attributes``)."""

    operation: str
    """``CREATE``, ``UPDATE``, ``DELETE`` or ``CONNECT``."""
    resource: ResourceInfo
    subresource: str
    namespace: str
    name: str
    object: Obj | None
    old_object: Obj | None

    @property
    def gr(self) -> errors.GroupResource:
        return errors.GroupResource(self.resource.group, self.resource.plural)


class Plugin(Protocol):
    """One admission plugin; either method may raise a :class:`~kubelab.apiserver.errors.StatusError`."""

    async def admit(self, attrs: Attributes) -> None:
        """Mutate ``attrs.object`` (defaults, injected fields)."""
        ...

    async def validate(self, attrs: Attributes) -> None:
        """Reject the request, without changing anything."""
        ...


NamespaceGetter = Callable[[str], Awaitable[Obj | None]]
CachedNamespace = Callable[[str], Obj | None]


class NamespaceLifecycle:
    """Refuse content in missing or terminating namespaces, and the deletion of the system ones.

    ``get_namespace`` reads the store; ``cached``, if given, a cache of the namespaces that may
    lag it, consulted first. ``clock`` gives seconds (``time.monotonic``).
    """

    def __init__(
        self, get_namespace: NamespaceGetter, cached: CachedNamespace | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.get_namespace = get_namespace
        self.cached = cached
        self.clock = clock
        self._force_live_until: dict[str, float] = {}

    async def admit(self, attrs: Attributes) -> None:
        info = attrs.resource
        if info.group == "" and info.plural == "namespaces":
            if attrs.operation == "DELETE":
                if attrs.name in IMMORTAL_NAMESPACES:
                    raise errors.forbidden(attrs.gr, attrs.name, "this namespace may not be deleted")
                # The cache may not show it Terminating yet: content created meanwhile would outlive it.
                now = self.clock()
                self._force_live_until = {n: t for n, t in self._force_live_until.items() if t > now}
                self._force_live_until[attrs.name] = now + FORCE_LIVE_LOOKUP_SECONDS
            return
        if not info.namespaced or not attrs.namespace or attrs.operation == "DELETE":
            return
        namespace = await self._namespace(attrs.namespace)
        if namespace is None:
            raise errors.not_found(errors.GroupResource("", "namespaces"), attrs.namespace)
        if attrs.operation == "CREATE" and (namespace.get("status") or {}).get("phase") == "Terminating":
            err = errors.forbidden(
                attrs.gr, attrs.name,
                f"unable to create new content in namespace {attrs.namespace} because it is being terminated",
            )
            assert err.details is not None
            err.details["causes"] = [{
                "reason": NAMESPACE_TERMINATING_CAUSE,
                "message": f"namespace {attrs.namespace} is being terminated",
                "field": "metadata.namespace",
            }]
            raise err

    async def _namespace(self, name: str) -> Obj | None:
        """The namespace from the cache, or from the store if the cache lacks it or it was deleted lately."""
        until = self._force_live_until.get(name)
        if until is not None and self.clock() >= until:
            del self._force_live_until[name]
            until = None
        if self.cached is not None and until is None:
            namespace = self.cached(name)
            if namespace is not None:
                return namespace
        return await self.get_namespace(name)

    async def validate(self, attrs: Attributes) -> None:
        return None


def _is_pod_create(attrs: Attributes) -> bool:
    info = attrs.resource
    return (
        attrs.operation == "CREATE" and not attrs.subresource and info.group == "" and info.plural == "pods"
        and attrs.object is not None
    )


class DefaultTolerationSeconds:
    """Give every new pod NoExecute tolerations for the not-ready and unreachable taints."""

    def __init__(self, not_ready_seconds: int = 300, unreachable_seconds: int = 300) -> None:
        self.seconds = {NOT_READY_TAINT: not_ready_seconds, UNREACHABLE_TAINT: unreachable_seconds}

    async def admit(self, attrs: Attributes) -> None:
        if not _is_pod_create(attrs):
            return
        assert attrs.object is not None
        spec = attrs.object.get("spec")
        if not isinstance(spec, dict):
            return
        tolerations = spec.get("tolerations")
        if not isinstance(tolerations, list):
            tolerations = []
        for key, seconds in self.seconds.items():
            tolerated = any(
                isinstance(t, dict) and t.get("key") in (key, None, "") and t.get("effect") in ("NoExecute", None, "")
                for t in tolerations
            )
            if not tolerated:
                tolerations.append(
                    {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
                )
        spec["tolerations"] = tolerations

    async def validate(self, attrs: Attributes) -> None:
        return None


class ServiceAccount:
    """Run a pod that names no service account as ``default``."""

    async def admit(self, attrs: Attributes) -> None:
        if not _is_pod_create(attrs):
            return
        assert attrs.object is not None
        spec = attrs.object.get("spec")
        if isinstance(spec, dict):
            if not spec.get("serviceAccountName"):
                spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
            if not spec.get("serviceAccount"):
                spec["serviceAccount"] = spec["serviceAccountName"]

    async def validate(self, attrs: Attributes) -> None:
        return None


class Admission:
    """The chain of plugins, run in order."""

    def __init__(self, plugins: list[Plugin]) -> None:
        self.plugins = plugins

    async def admit(
        self, operation: str, resource: ResourceInfo, subresource: str, namespace: str, name: str,
        obj: Obj | None, old: Obj | None,
    ) -> None:
        """Run every plugin's mutating step (and NamespaceLifecycle's checks) on ``obj``."""
        attrs = Attributes(operation, resource, subresource, namespace, name, obj, old)
        for plugin in self.plugins:
            await plugin.admit(attrs)

    def validator(
        self, operation: str, resource: ResourceInfo, subresource: str, namespace: str
    ) -> Callable[[Obj, Obj | None], Awaitable[None]]:
        """The validating step, for the registry to call on the final object."""

        async def validate(obj: Obj, old: Obj | None) -> None:
            name = (obj.get("metadata") or {}).get("name") or ""
            attrs = Attributes(operation, resource, subresource, namespace, name, obj, old)
            for plugin in self.plugins:
                await plugin.validate(attrs)

        return validate
