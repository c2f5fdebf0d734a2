"""One strategy per built-in resource: defaulting, validation, status rules, table columns.

:func:`strategy_for` is how the generic registry finds a resource's strategy;
:func:`status_strategy_for` the one for its ``/status`` subresource, and
:func:`finalize_strategy_for` the one of ``namespaces/{name}/finalize``.
"""

from __future__ import annotations

from typing import Any

from kubelab.api.resources import ResourceInfo
from kubelab.apiserver.resources.base import ResourceStrategy, StatusStrategy
from kubelab.apiserver.resources.configmaps import ConfigMapStrategy
from kubelab.apiserver.resources.controllerrevisions import ControllerRevisionStrategy
from kubelab.apiserver.resources.customresourcedefinitions import CustomResourceDefinitionStrategy
from kubelab.apiserver.resources.customresources import CustomResourceStrategy
from kubelab.apiserver.resources.daemonsets import DaemonSetStrategy
from kubelab.apiserver.resources.deployments import DeploymentStrategy
from kubelab.apiserver.resources.endpoints import EndpointsStrategy
from kubelab.apiserver.resources.endpointslices import EndpointSliceStrategy
from kubelab.apiserver.resources.events import EventStrategy, EventsV1Strategy
from kubelab.apiserver.resources.ingressclasses import IngressClassStrategy
from kubelab.apiserver.resources.ingresses import IngressStrategy
from kubelab.apiserver.resources.jobs import JobStrategy
from kubelab.apiserver.resources.leases import LeaseStrategy
from kubelab.apiserver.resources.namespaces import NamespaceFinalizeStrategy, NamespaceStrategy
from kubelab.apiserver.resources.nodes import NodeStrategy
from kubelab.apiserver.resources.persistentvolumeclaims import PersistentVolumeClaimStrategy
from kubelab.apiserver.resources.persistentvolumes import PersistentVolumeStrategy
from kubelab.apiserver.resources.pods import PodStrategy
from kubelab.apiserver.resources.replicasets import ReplicaSetStrategy
from kubelab.apiserver.resources.secrets import SecretStrategy
from kubelab.apiserver.resources.serviceaccounts import ServiceAccountStrategy
from kubelab.apiserver.resources.services import ServiceStrategy
from kubelab.apiserver.resources.statefulsets import StatefulSetStrategy
from kubelab.apiserver.strategy import Strategy

_STRATEGIES: dict[tuple[str, str], type[ResourceStrategy]] = {
    ("", "pods"): PodStrategy,
    ("", "nodes"): NodeStrategy,
    ("", "namespaces"): NamespaceStrategy,
    ("", "services"): ServiceStrategy,
    ("", "endpoints"): EndpointsStrategy,
    ("", "configmaps"): ConfigMapStrategy,
    ("", "secrets"): SecretStrategy,
    ("", "events"): EventStrategy,
    ("", "serviceaccounts"): ServiceAccountStrategy,
    ("", "persistentvolumeclaims"): PersistentVolumeClaimStrategy,
    ("", "persistentvolumes"): PersistentVolumeStrategy,
    ("apps", "deployments"): DeploymentStrategy,
    ("apps", "replicasets"): ReplicaSetStrategy,
    ("apps", "statefulsets"): StatefulSetStrategy,
    ("apps", "daemonsets"): DaemonSetStrategy,
    ("apps", "controllerrevisions"): ControllerRevisionStrategy,
    ("batch", "jobs"): JobStrategy,
    ("networking.k8s.io", "ingresses"): IngressStrategy,
    ("networking.k8s.io", "ingressclasses"): IngressClassStrategy,
    ("discovery.k8s.io", "endpointslices"): EndpointSliceStrategy,
    ("coordination.k8s.io", "leases"): LeaseStrategy,
    ("events.k8s.io", "events"): EventsV1Strategy,
    ("apiextensions.k8s.io", "customresourcedefinitions"): CustomResourceDefinitionStrategy,
}


def strategy_for(info: ResourceInfo, crd: dict[str, Any] | None = None) -> ResourceStrategy:
    """The strategy of ``info``'s resource; a custom resource's needs its CRD (``info.crd``)."""
    if info.crd:
        if crd is None:
            raise ValueError(f"{info.group_resource} is a custom resource: its CRD is needed")
        return CustomResourceStrategy(info, crd)
    return _STRATEGIES.get((info.group, info.plural), ResourceStrategy)(info)


def status_strategy_for(info: ResourceInfo, crd: dict[str, Any] | None = None) -> Strategy:
    """The strategy of the resource's ``/status`` subresource: only ``status`` changes."""
    return StatusStrategy(strategy_for(info, crd))


def finalize_strategy_for(info: ResourceInfo) -> Strategy:
    """The strategy of ``namespaces/{name}/finalize``: only ``spec.finalizers`` changes."""
    return NamespaceFinalizeStrategy(info)
