"""The scheduler: a plugin framework, the default plugins, and the component that runs them.

Mirrors ``pkg/scheduler``. The pieces, in the order a pod meets them::

    informers ─► SchedulingQueue ─► schedule_pod(Profile, Snapshot) ─► assume in Cache ─► bind
                 (queue.py)          (schedule_one.py, profile.py)      (cache.py)

Run it against a cluster (``Scheduler().start(api_client)``), or as a second scheduler
beside the real one (``Scheduler(scheduler_name="my-scheduler")``: it takes only pods
with that ``spec.schedulerName``). Plugins are plain classes: see :mod:`~kubelab.scheduler.framework`
for the extension points and :mod:`~kubelab.scheduler.plugins` for the defaults.
"""

from kubelab.scheduler.cache import Cache, Snapshot
from kubelab.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    ClusterEvent,
    Code,
    CycleState,
    Diagnosis,
    FitError,
    NodeToStatus,
    PreFilterResult,
    Status,
)
from kubelab.scheduler.handle import Handle, StaticObjects
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo, Resource, pod_requests
from kubelab.scheduler.plugins import DEFAULT_WEIGHTS, default_plugins
from kubelab.scheduler.profile import DEFAULT_SCHEDULER_NAME, PluginError, Profile, ProfileError
from kubelab.scheduler.queue import QueuedPodInfo, SchedulingQueue
from kubelab.scheduler.schedule_one import ScheduleResult, schedule_pod
from kubelab.scheduler.scheduler import Scheduler, main

__all__ = [
    "DEFAULT_SCHEDULER_NAME",
    "DEFAULT_WEIGHTS",
    "MAX_NODE_SCORE",
    "SKIP",
    "Cache",
    "ClusterEvent",
    "Code",
    "CycleState",
    "Diagnosis",
    "FitError",
    "Handle",
    "NodeInfo",
    "NodeToStatus",
    "PluginError",
    "PodInfo",
    "PreFilterResult",
    "Profile",
    "ProfileError",
    "QueuedPodInfo",
    "Resource",
    "ScheduleResult",
    "Scheduler",
    "SchedulingQueue",
    "Snapshot",
    "StaticObjects",
    "Status",
    "default_plugins",
    "main",
    "pod_requests",
    "schedule_pod",
]
