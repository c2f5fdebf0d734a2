"""The namespace controller: empty a namespace that is being deleted, then let it go.

Mirrors ``pkg/controller/namespace`` (``namespace_controller.go`` and
``deletion/namespaced_resources_deleter.go``). ``kubectl delete namespace x`` only marks the
namespace: the API server sets ``deletionTimestamp`` and ``status.phase: Terminating``, and
the namespace keeps its ``kubernetes`` finalizer in ``spec.finalizers``. Then, for it:

1. every namespaced resource the server serves (custom resources too) is deleted in it,
   a whole collection at a time, with background propagation;
2. whatever is left is reported in the namespace's conditions (``NamespaceContentRemaining``,
   ``NamespaceFinalizersRemaining``...) and looked at again later: after about half the
   longest pod grace period, or 15 seconds when only finalizers hold things back;
3. once nothing is left, the ``kubernetes`` finalizer is removed through the ``finalize``
   subresource and the namespace is deleted again, for good.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelab import errors
from kubelab.api.resources import ResourceInfo
from kubelab.client import Client, Resource
from kubelab.controllers.discovery import preferred_resources, supporting
from kubelab.controllers.manager import ControllerContext
from kubelab.runtime import Clock, Controller, Informer, ReadOnlyDict, Result, deep_copy, rfc3339

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

FINALIZER = "kubernetes"
FINALIZER_ESTIMATE_SECONDS = 15
"""How long to wait before looking again when only finalizers keep content alive."""

CONDITION_TYPES = (
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
)
OK_CONDITIONS = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentRemoved", "All content successfully removed"),
}


@dataclass
class Remaining:
    """What deleting a namespace's content left behind, and how long to wait before looking again."""

    estimate: int = 0
    by_resource: dict[str, int] = field(default_factory=dict)
    by_finalizer: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    discovery_error: str = ""

    def conditions(self) -> dict[str, tuple[str, str]]:
        """The failing conditions as ``{type: (reason, message)}``; the others are OK."""
        failing: dict[str, tuple[str, str]] = {}
        if self.discovery_error:
            failing["NamespaceDeletionDiscoveryFailure"] = ("DiscoveryFailed", self.discovery_error)
        if self.errors:
            failing["NamespaceDeletionContentFailure"] = (
                "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(self.errors)} remaining: {', '.join(sorted(self.errors))}",
            )
        if self.by_resource:
            left = sorted(f"{resource} has {n} resource instances" for resource, n in self.by_resource.items() if n)
            failing["NamespaceContentRemaining"] = ("SomeResourcesRemain", f"Some resources are remaining: {', '.join(left)}")
        if self.by_finalizer:
            left = sorted(f"{finalizer} in {n} resource instances" for finalizer, n in self.by_finalizer.items() if n)
            failing["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain", f"Some content in the namespace has finalizers remaining: {', '.join(left)}")
        return failing


def update_conditions(status: dict[str, Any], failing: Mapping[str, tuple[str, str]], now: str) -> bool:
    """Set the deleter's five conditions in ``status`` (failing ones True, the rest False); True if any changed."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    changed = False
    for type in CONDITION_TYPES:
        value, (reason, message) = ("True", failing[type]) if type in failing else ("False", OK_CONDITIONS[type])
        current = next((c for c in conditions if c.get("type") == type), None)
        if current is None:
            conditions.append({"type": type, "status": value, "lastTransitionTime": now, "reason": reason,
                               "message": message})
            changed = True
        elif (current.get("status"), current.get("reason"), current.get("message")) != (value, reason, message):
            if current.get("status") != value:
                current["lastTransitionTime"] = now
            current.update(status=value, reason=reason, message=message)
            changed = True
    return changed


def pods_grace_estimate(pods: list[Obj]) -> int:
    """The longest termination grace period among pods still running: how long their deletion may take."""
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if grace is not None:
            estimate = max(estimate, int(grace))
    return estimate


class NamespaceController:
    """Deletes everything in terminating namespaces, then finalizes and removes them."""

    name = "namespace"
    component = "namespace-controller"

    def __init__(self, *, workers: int = 5, finalizer_estimate: int = FINALIZER_ESTIMATE_SECONDS) -> None:
        self.workers = workers
        self.finalizer_estimate = finalizer_estimate

    def start(self, context: ControllerContext) -> None:
        """Watch namespaces and start the workers."""
        self.client: Client = context.client
        self.clock: Clock = context.clock
        self.namespaces_api: Resource = context.client.resource("v1", "namespaces")
        self.namespaces: Informer = context.informers.informer("v1", "namespaces")
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        self.controller.waits_for(self.namespaces)
        self.namespaces.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new))
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def _enqueue(self, namespace: ReadOnlyDict) -> None:
        if namespace["metadata"].get("deletionTimestamp"):
            self.controller.queue.add(namespace["metadata"]["name"])

    # -- reconcile (namespacedResourcesDeleter.Delete) --------------------------------------------

    def reconcile(self, name: str) -> Result | None:
        """Take one terminating namespace a step further towards being gone."""
        try:
            namespace = self.namespaces_api.get(name)
        except errors.NotFound:
            return None
        if not namespace["metadata"].get("deletionTimestamp"):
            return None
        namespace = self.ensure_terminating(namespace)
        if not (namespace.get("spec") or {}).get("finalizers"):
            self.delete_namespace(namespace)
            return None
        remaining = self.delete_all_content(name)
        status = deep_copy(namespace.get("status") or {})
        if update_conditions(status, remaining.conditions(), rfc3339(self.clock.wall())):
            namespace["status"] = status
            try:
                namespace = self.namespaces_api.update_status(namespace)
            except errors.ClientError as e:
                log.warning("could not update the conditions of namespace %s: %s", name, e)
        if remaining.errors or remaining.discovery_error:
            raise RuntimeError(f"deleting the content of namespace {name} failed: "
                               f"{'; '.join([remaining.discovery_error, *remaining.errors]).strip('; ')}")
        if remaining.estimate > 0:
            # As upstream: look again after half the estimate.
            return Result(requeue_after=remaining.estimate // 2 + 1)
        namespace = self.finalize(namespace)
        if not (namespace.get("spec") or {}).get("finalizers"):
            self.delete_namespace(namespace)
        return None

    def ensure_terminating(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """Make sure the namespace says ``phase: Terminating`` (the API server normally already has)."""
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return namespace
        namespace.setdefault("status", {})["phase"] = "Terminating"
        return self.namespaces_api.update_status(namespace)

    def finalize(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """Remove the ``kubernetes`` finalizer through ``namespaces/<name>/finalize`` (retried on conflict)."""
        uid = namespace["metadata"]["uid"]
        while True:
            finalizers = [f for f in (namespace.get("spec") or {}).get("finalizers") or () if f != FINALIZER]
            namespace.setdefault("spec", {})["finalizers"] = finalizers
            try:
                return self.namespaces_api.update(namespace, subresource="finalize")
            except errors.NotFound:
                return namespace
            except errors.Conflict:
                namespace = self.namespaces_api.get(namespace["metadata"]["name"])
                if namespace["metadata"].get("uid") != uid:
                    raise RuntimeError("namespace uid has changed across retries") from None

    def delete_namespace(self, namespace: Obj) -> None:
        with contextlib.suppress(errors.NotFound):
            self.namespaces_api.delete(namespace["metadata"]["name"],
                                       preconditions={"uid": namespace["metadata"]["uid"]})

    # -- content -----------------------------------------------------------------------------------

    def namespaced_resources(self) -> list[ResourceInfo]:
        """Every namespaced resource that can be deleted."""
        return [r for r in supporting(preferred_resources(self.client), ("delete",)) if r.namespaced]

    def delete_all_content(self, namespace: str) -> Remaining:
        """Delete every object in ``namespace``; report what is left and how long it may take."""
        remaining = Remaining()
        try:
            resources = self.namespaced_resources()
        except errors.ClientError as e:
            remaining.discovery_error = str(e)
            return remaining
        for info in resources:
            try:
                self.delete_all_of(Resource(self.client, info), namespace, remaining)
            except errors.ClientError as e:
                remaining.errors.append(str(e))
        return remaining

    def delete_all_of(self, api: Resource, namespace: str, remaining: Remaining) -> None:
        """Delete every object of one resource in ``namespace`` (``deleteAllContentForGroupVersionResource``)."""
        info = api.info
        estimate = 0
        if info.group == "" and info.plural == "pods":
            estimate = pods_grace_estimate(api.list(namespace)["items"])
        if "deletecollection" in info.verbs:
            api.delete_collection(namespace, propagation_policy="Background")
        else:
            for item in api.list(namespace)["items"]:
                try:
                    api.delete(item["metadata"]["name"], namespace, propagation_policy="Background")
                except errors.NotFound:
                    continue
        if "list" not in info.verbs:
            remaining.estimate = max(remaining.estimate, estimate)
            return
        left = api.list(namespace)["items"]
        if not left:
            return
        finalizers: dict[str, int] = {}
        for item in left:
            for finalizer in item["metadata"].get("finalizers") or ():
                finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
        remaining.by_resource[f"{info.plural}.{info.group}"] = len(left)
        for finalizer, count in finalizers.items():
            remaining.by_finalizer[finalizer] = remaining.by_finalizer.get(finalizer, 0) + count
        if estimate:
            remaining.estimate = max(remaining.estimate, estimate)
        elif finalizers:
            remaining.estimate = max(remaining.estimate, self.finalizer_estimate)
        else:
            remaining.errors.append(f"unexpected items still remain in namespace: {namespace} for gvr: "
                                    f"{info.group}/{info.version}, Resource={info.plural}")
