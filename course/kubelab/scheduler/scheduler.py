"""The scheduler component: watch pending pods, choose a node for each, bind it.

Mirrors ``pkg/scheduler`` (``scheduler.go``, ``schedule_one.go``, ``eventhandlers.go``).
Informers feed two structures: assigned pods and nodes go into the :class:`Cache`; pending
pods whose ``spec.schedulerName`` is this scheduler's go into the :class:`SchedulingQueue`.
One thread then takes pods from the queue, one at a time:

1. **scheduling cycle** (one pod at a time): snapshot the cache, run the profile's
   plugins to choose a node, *assume* the pod there in the cache, run Reserve;
2. **binding cycle** (several at once, on worker threads): POST the binding; on success
   record the ``Scheduled`` event, on failure forget the pod and retry it.

A pod no node fits gets a ``FailedScheduling`` event and a ``PodScheduled=False`` condition
saying why, and waits in the queue for a cluster change that may help.
"""

from __future__ import annotations

import argparse
import logging
import random
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes.client

from kubelab import errors
from kubelab.api.meta import now_rfc3339
from kubelab.client import Client
from kubelab.runtime import EventRecorder, Informer, SharedInformerFactory, deep_copy
from kubelab.runtime.clock import REAL_CLOCK, Clock
from kubelab.scheduler.cache import Cache, CacheError, Snapshot
from kubelab.scheduler.framework import ClusterEvent, CycleState, FitError
from kubelab.scheduler.handle import Handle
from kubelab.scheduler.nodeinfo import PodInfo
from kubelab.scheduler.plugins import DEFAULT_WEIGHTS, default_plugins
from kubelab.scheduler.profile import DEFAULT_SCHEDULER_NAME, PluginError, Profile
from kubelab.scheduler.queue import QueuedPodInfo, SchedulingQueue
from kubelab.scheduler.schedule_one import NoNodesAvailable, schedule_pod

__all__ = ["Scheduler", "main", "node_scheduling_properties_change"]

log = logging.getLogger(__name__)

NOTE_LENGTH_LIMIT = 1024
"""Longest event message the API server accepts (``validation.NoteLengthLimit``)."""

WATCHED: dict[str, str] = {
    "pods": "v1",
    "nodes": "v1",
    "namespaces": "v1",
    "services": "v1",
    "replicationcontrollers": "v1",
    "replicasets": "apps/v1",
    "statefulsets": "apps/v1",
}
"""What the scheduler watches: pods and nodes, plus what plugins read (spreading, affinity)."""


def _assigned(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def node_scheduling_properties_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ClusterEvent]:
    """The narrow Node update events a change amounts to (``nodeSchedulingPropertiesChange``).

    Becoming schedulable again (uncordon) counts as a taint change, as upstream has it.
    """
    events = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    if bool(old_spec.get("unschedulable")) and not new_spec.get("unschedulable"):
        events.append(ClusterEvent("Node", "UpdateNodeTaint"))
    if old_status.get("allocatable") != new_status.get("allocatable"):
        events.append(ClusterEvent("Node", "UpdateNodeAllocatable"))
    if old_meta.get("labels") != new_meta.get("labels"):
        events.append(ClusterEvent("Node", "UpdateNodeLabel"))
    if old_spec.get("taints") != new_spec.get("taints"):
        events.append(ClusterEvent("Node", "UpdateNodeTaint"))
    if old_status.get("conditions") != new_status.get("conditions"):
        events.append(ClusterEvent("Node", "UpdateNodeCondition"))
    return events


class _InformerObjects:
    """The handle's read-only object access, served from the scheduler's informers."""

    def __init__(self, informers: Mapping[str, Informer]) -> None:
        self._informers = informers

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        informer = self._informers.get(resource)
        return [] if informer is None else informer.cache.list(namespace)  # type: ignore[return-value]

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        informer = self._informers.get(resource)
        return None if informer is None else informer.cache.get(name, namespace or None)  # type: ignore[return-value]


class Scheduler:
    """kube-scheduler: binds each pending pod that names this scheduler to the best node.

    ``plugins`` and ``weights`` make the profile (default: upstream's default profile);
    ``scheduler_name`` is the ``spec.schedulerName`` this scheduler answers to, so a
    second scheduler can run beside the cluster's own. ``seed`` fixes how ties between
    equally good nodes are broken.
    """

    def __init__(
        self,
        plugins: Sequence[Any] | None = None,
        weights: Mapping[str, int] | None = None,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        percentage_of_nodes_to_score: int = 0,
        bind_workers: int = 16,
        clock: Clock = REAL_CLOCK,
        seed: int | None = None,
    ) -> None:
        if not 0 <= percentage_of_nodes_to_score <= 100:
            raise ValueError(
                f"percentage_of_nodes_to_score must be between 0 and 100 (0: adaptive), got {percentage_of_nodes_to_score}"
            )
        if not scheduler_name:
            raise ValueError("a scheduler needs a name: the spec.schedulerName of the pods it takes")
        plugins = default_plugins() if plugins is None else list(plugins)
        if weights is None:
            names = {getattr(p, "name", None) for p in plugins}
            weights = {name: w for name, w in DEFAULT_WEIGHTS.items() if name in names and _scores(plugins, name)}
        self.profile = Profile(plugins, weights, name=scheduler_name)
        self.scheduler_name = scheduler_name
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.bind_workers = bind_workers
        self.clock = clock
        self.rng = random.Random(seed)
        self.handle = Handle(Snapshot(), profile=self.profile)
        self._reset()
        self.client: Client | None = None
        self.recorder: EventRecorder | None = None
        self._informers: SharedInformerFactory | None = None
        self._pods: Informer | None = None
        self._binder: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- Component -----------------------------------------------------------------------

    def _reset(self) -> None:
        """Empty cache, snapshot and queue: a (re)started scheduler learns everything from its informers."""
        self.cache = Cache()
        self.snapshot = self.handle.snapshot = Snapshot()
        self.queue = SchedulingQueue(
            self.profile.less, clock=self.clock, pre_enqueue=self.profile.pre_enqueue,
            plugin_events=self.profile.plugin_events(),
        )
        self.profile.nominator = self.queue
        self._next_start_node_index = 0

    def start(self, client: kubernetes.client.ApiClient) -> None:
        """Start watching the cluster behind ``client`` and scheduling; return once caches are synced.

        A stopped scheduler may be started again: it starts from what the cluster says.
        """
        if self._thread is not None:
            raise RuntimeError(f"scheduler {self.scheduler_name!r} is already running; stop() it first")
        self._reset()
        self.client = Client(client)
        self.recorder = EventRecorder(self.client, self.scheduler_name, clock=self.clock)
        self._informers = SharedInformerFactory(self.client, clock=self.clock)
        informers: dict[str, Informer] = {}
        for resource, version in WATCHED.items():
            try:
                informers[resource] = self._informers.informer(version, resource)
            except errors.NotFound:
                # A cluster without this kind simply has none of it for plugins to read.
                log.info("the server has no %s %s: not watching them", version, resource)
        self._pods = informers["pods"]
        self.handle.objects = _InformerObjects(informers)
        self.handle.client = self.client
        self.handle.recorder = self.recorder
        for plugin in self.profile.plugins:
            if hasattr(plugin, "setup"):
                plugin.setup(self.handle)
        informers["pods"].add_event_handler(self.on_pod_add, self.on_pod_update, self.on_pod_delete)
        informers["nodes"].add_event_handler(self.on_node_add, self.on_node_update, self.on_node_delete)
        self._binder = ThreadPoolExecutor(self.bind_workers, thread_name_prefix=f"{self.scheduler_name} bind")
        self._informers.start()
        if not self._informers.wait_for_cache_sync(timeout=60):
            self.stop()
            raise errors.ConnectionFailed("the scheduler's informers did not sync within 60 s")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.scheduler_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling, finish in-flight bindings, stop watching."""
        self._stopping.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._binder is not None:
            self._binder.shutdown(wait=True)
            self._binder = None
        if self._informers is not None:
            self._informers.shutdown()
            self._informers = None
        if self.recorder is not None:
            self.recorder.stop()
            self.recorder = None
        if self.client is not None:
            self.client.close()
            self.client = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            qpi = self.queue.pop()
            if qpi is None:
                return
            try:
                self.schedule_one(qpi)
            except Exception:
                log.exception("scheduling %s failed unexpectedly", qpi)
                self.queue.done(qpi.uid)

    # -- event handlers (eventhandlers.go) -----------------------------------------------

    def responsible_for(self, pod: Mapping[str, Any]) -> bool:
        """Whether ``pod`` is pending and asks for this scheduler."""
        spec = pod.get("spec") or {}
        return (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == self.scheduler_name

    def on_pod_add(self, pod: Mapping[str, Any]) -> None:
        if _assigned(pod):
            if not _terminal(pod):
                self.cache.add_pod(PodInfo(deep_copy(pod)))
                self.queue.move_all_to_active_or_backoff(ClusterEvent("Pod", "Add"))
        elif self.responsible_for(pod) and not _terminal(pod):
            self.queue.add(PodInfo(deep_copy(pod)))

    def on_pod_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        info = PodInfo(deep_copy(new))
        if not _assigned(new):
            if self.responsible_for(new) and not _terminal(new):
                self.queue.update(PodInfo(deep_copy(old)), info)
            else:
                self.queue.delete(info)
            return
        if _terminal(new):
            # A finished pod no longer holds its resources.
            self.cache.remove_pod(info)
            self.queue.move_all_to_active_or_backoff(ClusterEvent("Pod", "Delete"))
            return
        self.cache.update_pod(info)
        if not _assigned(old):
            # Just bound (by us or anyone): it leaves the queue and now counts on its node.
            self.queue.delete(info)
            action = "Add"
        elif (old.get("metadata") or {}).get("labels") != info.labels:
            action = "UpdatePodLabel"
        else:
            action = "UpdatePodOther"
        self.queue.move_all_to_active_or_backoff(ClusterEvent("Pod", action))

    def on_pod_delete(self, pod: Mapping[str, Any]) -> None:
        info = PodInfo(deep_copy(pod))
        if _assigned(pod):
            self.cache.remove_pod(info)
            self.queue.move_all_to_active_or_backoff(ClusterEvent("Pod", "Delete"))
        else:
            self.queue.delete(info)

    def on_node_add(self, node: Mapping[str, Any]) -> None:
        self.cache.add_node(deep_copy(node))
        self.queue.move_all_to_active_or_backoff(ClusterEvent("Node", "Add"))

    def on_node_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.cache.update_node(deep_copy(new))
        for event in node_scheduling_properties_change(old, new):
            self.queue.move_all_to_active_or_backoff(event)

    def on_node_delete(self, node: Mapping[str, Any]) -> None:
        self.cache.remove_node(deep_copy(node))
        self.queue.move_all_to_active_or_backoff(ClusterEvent("Node", "Delete"))

    # -- scheduling one pod (schedule_one.go) ---------------------------------------------

    def schedule_one(self, qpi: QueuedPodInfo) -> None:
        """Run the scheduling cycle for one popped pod and hand a success to the binder."""
        pod = qpi.pod_info
        if pod.terminating:
            self.queue.done(pod.uid)
            self._record(pod, "Warning", "FailedScheduling", f"skip schedule deleting pod: {pod.namespace}/{pod.name}")
            return
        if self.cache.is_assumed(pod.uid):
            self.queue.done(pod.uid)
            return
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        self.cache.update_snapshot(self.snapshot)
        try:
            result = schedule_pod(
                self.profile, state, pod, self.snapshot, rng=self.rng,
                start_index=self._next_start_node_index,
                percentage_of_nodes_to_score=self.percentage_of_nodes_to_score,
            )
        except FitError as fit:
            nominated: str | None = None
            if self.profile.post_filter:
                nominated, status = self.profile.run_post_filter_plugins(state, pod, fit.diagnosis.node_to_status)
                fit.diagnosis.post_filter_msg = status.message
            self.handle_failure(qpi, cycle, str(fit), rejected_by=fit.diagnosis.unschedulable_plugins,
                                nominated=nominated)
            return
        except NoNodesAvailable as e:
            self.handle_failure(qpi, cycle, str(e), rejected_by=set(), nominated="")
            return
        except PluginError as e:
            self.handle_failure(qpi, cycle, str(e), rejected_by=None, nominated="")
            return
        self._next_start_node_index = result.next_start_node_index
        assumed = pod.assumed_on(result.suggested_host)
        try:
            self.cache.assume_pod(assumed)
        except CacheError as e:
            self.handle_failure(qpi, cycle, str(e), rejected_by=None, nominated="")
            return
        self.queue.delete_nominated_pod_if_exists(pod)
        reserved = self.profile.run_reserve_plugins(state, assumed, result.suggested_host)
        if reserved is not None:
            self.profile.run_unreserve_plugins(state, assumed, result.suggested_host)
            self.cache.forget_pod(assumed)
            self.handle_failure(qpi, cycle, reserved.message, nominated="",
                                rejected_by={reserved.plugin} if reserved.is_rejected() else None)
            return
        self.queue.done(pod.uid)
        if self._binder is None:
            self.binding_cycle(state, qpi, assumed, cycle)
        else:
            self._binder.submit(self.binding_cycle, state, qpi, assumed, cycle)

    def binding_cycle(self, state: CycleState, qpi: QueuedPodInfo, assumed: PodInfo, cycle: int) -> None:
        """Bind an assumed pod; on failure, forget it and put it back in the queue."""
        node = assumed.node_name
        status = self.profile.run_bind_plugins(state, assumed, node)
        if status is not None:
            self.profile.run_unreserve_plugins(state, assumed, node)
            self.cache.forget_pod(assumed)
            # The room it held is free again: pods waiting for it may now fit.
            self.queue.move_all_to_active_or_backoff(ClusterEvent("Pod", "Delete"))
            self.handle_failure(qpi, cycle, status.message, rejected_by=None, nominated="")
            return
        self.cache.finish_binding(assumed)
        self._record(assumed, "Normal", "Scheduled",
                     f"Successfully assigned {assumed.namespace}/{assumed.name} to {node}")

    def handle_failure(
        self,
        qpi: QueuedPodInfo,
        cycle: int,
        message: str,
        *,
        rejected_by: set[str] | None,
        nominated: str | None = None,
    ) -> None:
        """Requeue a pod that failed, tell the user why (event + condition) (``handleSchedulingFailure``).

        ``rejected_by`` names the plugins that found the pod does not fit; None means an
        error, retried after a back-off whatever happens in the cluster. ``nominated`` is
        the node preemption made room on (``""`` clears a nomination, None keeps it).
        """
        pod = qpi.pod_info
        if rejected_by is None:
            qpi.consecutive_errors += 1
            qpi.unschedulable_plugins = set()
        else:
            qpi.unschedulable_count += 1
            qpi.consecutive_errors = 0
            qpi.unschedulable_plugins = set(rejected_by)
        latest = self._pods.cache.get(pod.name, pod.namespace) if self._pods is not None else pod.pod
        if latest is None or _assigned(latest):
            # Deleted, or bound by someone else, meanwhile: nothing to retry.
            self.queue.done(pod.uid)
        else:
            if self._pods is not None:
                pod = qpi.pod_info = PodInfo(deep_copy(latest))
            if nominated is not None:
                self.queue.add_nominated_pod(pod, nominated)
            self.queue.add_unschedulable_if_not_present(qpi, cycle)
        self._record(pod, "Warning", "FailedScheduling", _truncate(message))
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable" if rejected_by is not None else "SchedulerError",
            "message": message,
        }
        if self._binder is not None:
            self._binder.submit(self._update_pod_status, pod, condition, nominated)
        else:
            self._update_pod_status(pod, condition, nominated)

    def _update_pod_status(self, pod: PodInfo, condition: dict[str, Any], nominated: str | None) -> None:
        """Write the PodScheduled condition (and nominated node) if they changed (``updatePod``)."""
        if self.client is None:
            return
        status = pod.pod.get("status") or {}
        current = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
        nominate = nominated is not None and (status.get("nominatedNodeName") or "") != nominated
        unchanged = current is not None and all(current.get(k) == condition[k] for k in ("status", "reason", "message"))
        if unchanged and not nominate:
            return
        transition = current.get("lastTransitionTime") if current and current.get("status") == "False" else None
        patch: dict[str, Any] = {"conditions": [
            {**condition, "lastProbeTime": None, "lastTransitionTime": transition or now_rfc3339()}
        ]}
        if nominate:
            patch["nominatedNodeName"] = nominated or None
        try:
            self.client.resource("v1", "pods").patch(
                pod.name, {"status": patch}, pod.namespace, type="strategic", subresource="status")
        except errors.NotFound:
            return
        except errors.ClientError as e:
            log.warning("could not update the status of pod %s/%s: %s", pod.namespace, pod.name, e)

    def _record(self, pod: PodInfo, type: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(pod.pod, type, reason, message)  # type: ignore[arg-type]


def _truncate(message: str) -> str:
    """An event message within the API's length limit (``truncateMessage``)."""
    if len(message) <= NOTE_LENGTH_LIMIT:
        return message
    return message[: NOTE_LENGTH_LIMIT - 4] + " ..."


def _scores(plugins: Sequence[Any], name: str) -> bool:
    return any(getattr(p, "name", None) == name and hasattr(p, "score") for p in plugins)


def main(argv: list[str]) -> int:
    """``python -m kubelab scheduler --kubeconfig K [--scheduler-name N]``: run as its own process."""
    from kubelab.component import serve

    parser = argparse.ArgumentParser(prog="kubelab scheduler", description="Run the kubelab scheduler.")
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster to schedule pods for")
    parser.add_argument("--scheduler-name", default=DEFAULT_SCHEDULER_NAME,
                        help="the spec.schedulerName this scheduler answers to (default: %(default)s)")
    parser.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                        help="stop filtering once this %% of nodes fit (default: adaptive, as upstream)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        scheduler = Scheduler(scheduler_name=args.scheduler_name,
                              percentage_of_nodes_to_score=args.percentage_of_nodes_to_score)
    except ValueError as e:
        parser.error(str(e))
    return serve(scheduler, args.kubeconfig, "scheduler")
