"""One strategy per built-in resource: defaulting, validation, status rules, table columns.

:func:`strategy_for` is how the generic registry finds a resource's strategy;
:func:`status_strategy_for` the one for its ``/status`` subresource, and
:func:`finalize_strategy_for` the one of ``namespaces/{name}/finalize``. Each resource's
module is imported when its strategy is first asked for, so that the API server starts
without loading the rules of every resource.
"""

from __future__ import annotations

import importlib
from typing import Any

from kubelab.api.resources import ResourceInfo
from kubelab.apiserver.resources.base import ResourceStrategy, StatusStrategy
from kubelab.apiserver.strategy import Strategy

_STRATEGIES: dict[tuple[str, str], str] = {
    ("", "pods"): "pods:PodStrategy",
    ("", "nodes"): "nodes:NodeStrategy",
    ("", "namespaces"): "namespaces:NamespaceStrategy",
    ("", "services"): "services:ServiceStrategy",
    ("", "endpoints"): "endpoints:EndpointsStrategy",
    ("", "configmaps"): "configmaps:ConfigMapStrategy",
    ("", "secrets"): "secrets:SecretStrategy",
    ("", "events"): "events:EventStrategy",
    ("", "serviceaccounts"): "serviceaccounts:ServiceAccountStrategy",
    ("", "persistentvolumeclaims"): "persistentvolumeclaims:PersistentVolumeClaimStrategy",
    ("", "persistentvolumes"): "persistentvolumes:PersistentVolumeStrategy",
    ("apps", "deployments"): "deployments:DeploymentStrategy",
    ("apps", "replicasets"): "replicasets:ReplicaSetStrategy",
    ("apps", "statefulsets"): "statefulsets:StatefulSetStrategy",
    ("apps", "daemonsets"): "daemonsets:DaemonSetStrategy",
    ("apps", "controllerrevisions"): "controllerrevisions:ControllerRevisionStrategy",
    ("batch", "jobs"): "jobs:JobStrategy",
    ("networking.k8s.io", "ingresses"): "ingresses:IngressStrategy",
    ("networking.k8s.io", "ingressclasses"): "ingressclasses:IngressClassStrategy",
    ("discovery.k8s.io", "endpointslices"): "endpointslices:EndpointSliceStrategy",
    ("coordination.k8s.io", "leases"): "leases:LeaseStrategy",
    ("events.k8s.io", "events"): "events:EventsV1Strategy",
    ("apiextensions.k8s.io", "customresourcedefinitions"): "customresourcedefinitions:CustomResourceDefinitionStrategy",
}
"""The module (in this package) and class of each built-in resource's strategy."""


def _strategy_class(name: str) -> Any:
    """The class named ``module:Class``, its module imported now if it was not yet."""
    module, _, cls = name.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def strategy_for(info: ResourceInfo, crd: dict[str, Any] | None = None) -> ResourceStrategy:
    """The strategy of ``info``'s resource; a custom resource's needs its CRD (``info.crd``)."""
    if info.crd:
        if crd is None:
            raise ValueError(f"{info.group_resource} is a custom resource: its CRD is needed")
        from kubelab.apiserver.resources.customresources import CustomResourceStrategy

        return CustomResourceStrategy(info, crd)
    name = _STRATEGIES.get((info.group, info.plural))
    return _strategy_class(name)(info) if name else ResourceStrategy(info)


def status_strategy_for(info: ResourceInfo, crd: dict[str, Any] | None = None) -> Strategy:
    """The strategy of the resource's ``/status`` subresource: only ``status`` changes."""
    return StatusStrategy(strategy_for(info, crd))


def finalize_strategy_for(info: ResourceInfo) -> Strategy:
    """The strategy of ``namespaces/{name}/finalize``: only ``spec.finalizers`` changes."""
    from kubelab.apiserver.resources.namespaces import NamespaceFinalizeStrategy

    return NamespaceFinalizeStrategy(info)
