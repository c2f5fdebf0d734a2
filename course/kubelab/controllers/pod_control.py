"""Creating and deleting a controller's pods, with the Events upstream records.

Mirrors ``RealPodControl`` of ``pkg/controller/controller_utils.go``: a pod is made from
the controller's pod template (labels, annotations, finalizers and spec), named
``<controller name>-<random suffix>`` by the API server through ``generateName``, and owned
by the controller. Each outcome is recorded as an Event on the controller:
``SuccessfulCreate`` ("Created pod: web-7d4b9-x2x8k"), ``FailedCreate`` ("Error creating: ..."),
``SuccessfulDelete`` ("Deleted pod: ..."), ``FailedDelete`` ("Error deleting: ...").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelab import errors
from kubelab.api.validation import name_is_dns_subdomain
from kubelab.client import Client
from kubelab.runtime import EventRecorder, deep_copy

SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_DELETE = "SuccessfulDelete"
FAILED_DELETE = "FailedDelete"


def pods_prefix(controller_name: str) -> str:
    """The ``generateName`` of a controller's pods: ``<name>-``, or ``<name>`` if that would be invalid."""
    prefix = f"{controller_name}-"
    return controller_name if name_is_dns_subdomain(prefix, True) else prefix


def pod_from_template(
    template: Mapping[str, Any], parent: Mapping[str, Any], controller_ref: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A new pod for ``parent`` from its pod ``template`` (``GetPodFromTemplate``)."""
    template_meta = template.get("metadata") or {}
    metadata: dict[str, Any] = {"generateName": pods_prefix(parent["metadata"]["name"])}
    for field in ("labels", "annotations", "finalizers"):
        if template_meta.get(field):
            metadata[field] = deep_copy(template_meta[field])
    if controller_ref is not None:
        metadata["ownerReferences"] = [deep_copy(controller_ref)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": deep_copy(template.get("spec") or {})}


class PodControl:
    """Creates and deletes pods on behalf of a controller object, recording an Event for each."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.pods = client.resource("v1", "pods")
        self.recorder = recorder

    def create_pods(
        self,
        namespace: str,
        template: Mapping[str, Any],
        parent: Mapping[str, Any],
        controller_ref: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Create one pod from ``template`` in ``namespace``, owned by ``parent``; return it as created."""
        pod = pod_from_template(template, parent, controller_ref)
        if not pod["metadata"].get("labels"):
            raise ValueError("unable to create pods, no labels")
        try:
            created = self.pods.create(pod, namespace)
        except errors.ApiError as e:
            if not _namespace_terminating(e):
                self.recorder.event(parent, "Warning", FAILED_CREATE, f"Error creating: {e}")
            raise
        self.recorder.event(parent, "Normal", SUCCESSFUL_CREATE, f"Created pod: {created['metadata']['name']}")
        return created

    def delete_pod(self, namespace: str, name: str, parent: Mapping[str, Any]) -> None:
        """Delete pod ``name``; NotFound is raised without an Event (it was already gone)."""
        try:
            self.pods.delete(name, namespace)
        except errors.NotFound:
            raise
        except errors.ClientError as e:
            self.recorder.event(parent, "Warning", FAILED_DELETE, f"Error deleting: {e}")
            raise
        self.recorder.event(parent, "Normal", SUCCESSFUL_DELETE, f"Deleted pod: {name}")


def _namespace_terminating(error: errors.ApiError) -> bool:
    causes = error.details.get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)
