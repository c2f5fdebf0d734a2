"""Defaulting of the pod spec, shared by Pods and every workload's pod template.

Mirrors ``pkg/apis/core/v1/defaults.go`` (``SetDefaults_PodSpec``, ``SetDefaults_Container``,
``SetDefaults_Probe``, the volume sources...). Validation of the same structure is in
:mod:`kubelab.apiserver.resources.podspec_validation`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kubelab.api.quantity import QuantityError, canonical
from kubelab.apiserver.resources.base import child, items, set_default

Obj = dict[str, Any]

VOLUME_SOURCES = (
    "emptyDir", "hostPath", "configMap", "secret", "persistentVolumeClaim", "downwardAPI", "projected",
    "nfs", "iscsi", "csi", "ephemeral", "image", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo",
    "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos",
)
_DEFAULT_MODE = 0o644


def image_tag(image: str) -> str:
    """The tag of an image reference; ``latest`` when it has neither tag nor digest (``ParseImageName``)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"


def canonical_quantities(values: Any) -> None:
    """Rewrite each quantity of a resource list in canonical form (``0.5`` → ``500m``), as stored."""
    if isinstance(values, dict):
        for name, value in values.items():
            with contextlib.suppress(QuantityError):  # left as sent: validation reports it
                values[name] = canonical(value)


def default_container(c: Obj) -> None:
    """``SetDefaults_Container``: pull policy from the tag, termination message, ports, probes, env."""
    # Go always writes a container's resources struct: `resources: {}` when nothing is asked for.
    resources = set_default(c, "resources", {})
    if isinstance(resources, dict):
        canonical_quantities(resources.get("limits"))
        canonical_quantities(resources.get("requests"))
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if image_tag(str(c.get("image") or "")) == "latest" else "IfNotPresent"
    if not c.get("terminationMessagePath"):
        c["terminationMessagePath"] = "/dev/termination-log"
    if not c.get("terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    for port in items(c, "ports"):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(c.get(key), dict):
            default_probe(c[key])
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                _default_handler(lifecycle[hook])
    for env in items(c, "env"):
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            set_default(field_ref, "apiVersion", "v1")


def default_probe(probe: Obj) -> None:
    """``SetDefaults_Probe``: timeout 1s, period 10s, success 1, failure 3."""
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _default_handler(probe)


def _default_handler(handler: Obj) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        if not http.get("path"):
            http["path"] = "/"
        if not http.get("scheme"):
            http["scheme"] = "HTTP"


def default_volume(volume: Obj) -> None:
    """``SetDefaults_Volume`` and the volume sources' defaults (file modes 0644, hostPath type)."""
    if not any(volume.get(source) is not None for source in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(volume.get(source), dict):
            set_default(volume[source], "defaultMode", _DEFAULT_MODE)
    if isinstance(volume.get("hostPath"), dict):
        set_default(volume["hostPath"], "type", "")
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for projection in items(projected, "sources"):
            token = projection.get("serviceAccountToken")
            if isinstance(token, dict):
                set_default(token, "expirationSeconds", 3600)
            for item in items(projection.get("downwardAPI"), "items"):
                if isinstance(item.get("fieldRef"), dict):
                    set_default(item["fieldRef"], "apiVersion", "v1")
    for item in items(volume.get("downwardAPI"), "items"):
        if isinstance(item.get("fieldRef"), dict):
            set_default(item["fieldRef"], "apiVersion", "v1")
    claim = (volume.get("ephemeral") or {}).get("volumeClaimTemplate")
    if isinstance(claim, dict) and isinstance(claim.get("spec"), dict):
        set_default(claim["spec"], "volumeMode", "Filesystem")


def default_pod_spec(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` and everything nested: what a pod template gets."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    set_default(spec, "securityContext", {})
    set_default(spec, "terminationGracePeriodSeconds", 30)
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in items(spec, key):
            default_container(c)
    for volume in items(spec, "volumes"):
        default_volume(volume)


def default_pod_template(template: Obj | None) -> None:
    """Defaults of a workload's ``spec.template`` (only what ``SetDefaults_PodSpec`` sets).

    The template's metadata gets ``creationTimestamp: null``, as Go writes an unset timestamp
    of an embedded ObjectMeta (what ``kubectl get -o yaml`` shows on a real cluster).
    """
    if isinstance(template, dict):
        child(template, "metadata").setdefault("creationTimestamp", None)
        default_pod_spec(child(template, "spec"))


def default_pod_only(spec: Obj) -> None:
    """``SetDefaults_Pod``: what only a Pod gets, not a template (requests from limits, service links)."""
    for key in ("containers", "initContainers"):
        for c in items(spec, key):
            resources = c.get("resources")
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                requests = child(resources, "requests")
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)
    set_default(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in items(spec, key):
                for port in items(c, "ports"):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
