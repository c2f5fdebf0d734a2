"""The in-tree plugins and the default profile (``pkg/scheduler/framework/plugins``).

:func:`default_plugins` returns fresh instances in the order upstream's default profile
runs them; :data:`DEFAULT_WEIGHTS` are its score weights. Build your own profile by
editing that list: drop a plugin, add yours, change a weight::

    plugins = [p for p in default_plugins() if p.name != "NodeResourcesBalancedAllocation"]
    Scheduler(plugins=[*plugins, MyScore()], weights={**DEFAULT_WEIGHTS, "MyScore": 5})
"""

from __future__ import annotations

from typing import Any

from kubelab.scheduler.plugins.default_binder import DefaultBinder
from kubelab.scheduler.plugins.default_preemption import DefaultPreemption
from kubelab.scheduler.plugins.inter_pod_affinity import InterPodAffinity
from kubelab.scheduler.plugins.node_affinity import NodeAffinity
from kubelab.scheduler.plugins.node_name import NodeName
from kubelab.scheduler.plugins.node_ports import NodePorts
from kubelab.scheduler.plugins.node_resources import BalancedAllocation, Fit
from kubelab.scheduler.plugins.node_unschedulable import NodeUnschedulable
from kubelab.scheduler.plugins.pod_topology_spread import PodTopologySpread
from kubelab.scheduler.plugins.queue_sort import PrioritySort
from kubelab.scheduler.plugins.scheduling_gates import SchedulingGates
from kubelab.scheduler.plugins.taint_toleration import TaintToleration

__all__ = [
    "DEFAULT_WEIGHTS",
    "BalancedAllocation",
    "DefaultBinder",
    "DefaultPreemption",
    "Fit",
    "InterPodAffinity",
    "NodeAffinity",
    "NodeName",
    "NodePorts",
    "NodeUnschedulable",
    "PodTopologySpread",
    "PrioritySort",
    "SchedulingGates",
    "TaintToleration",
    "default_plugins",
]

DEFAULT_WEIGHTS: dict[str, int] = {
    "TaintToleration": 3,
    "NodeAffinity": 2,
    "NodeResourcesFit": 1,
    "PodTopologySpread": 2,
    "InterPodAffinity": 2,
    "NodeResourcesBalancedAllocation": 1,
}
"""Score weights of upstream's default profile (``getDefaultPlugins``)."""


def default_plugins() -> list[Any]:
    """New instances of the default profile's plugins, in the order they run.

    Left out from upstream's list: the volume plugins (VolumeBinding, VolumeZone,
    VolumeRestrictions, NodeVolumeLimits) and ImageLocality, which need node and volume
    data this cluster does not have.
    """
    return [
        SchedulingGates(),
        PrioritySort(),
        NodeUnschedulable(),
        NodeName(),
        TaintToleration(),
        NodeAffinity(),
        NodePorts(),
        Fit(),
        PodTopologySpread(),
        InterPodAffinity(),
        DefaultPreemption(),
        BalancedAllocation(),
        DefaultBinder(),
    ]
