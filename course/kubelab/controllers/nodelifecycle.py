"""The node lifecycle controller: notice nodes whose kubelet went quiet, mark them, taint them.

Mirrors ``pkg/controller/nodelifecycle/node_lifecycle_controller.go``. A kubelet shows it is
alive by renewing its Lease in ``kube-node-lease`` (and by posting node status). Every
``node_monitor_period`` seconds the controller checks each node:

- no renewal for ``node_monitor_grace_period`` seconds (40 by default; ``node_startup_grace_period``
  for a node that never reported): its ``Ready`` condition (and the pressure conditions)
  become ``Unknown``, reason ``NodeStatusUnknown``, "Kubelet stopped posting node status.";
  a ``NodeNotReady`` event is recorded and its pods are marked not Ready (so Services stop
  sending them traffic);
- a node ``Ready=Unknown`` gets the ``node.kubernetes.io/unreachable:NoExecute`` taint, one
  ``Ready=False`` the ``not-ready:NoExecute`` taint; the taint eviction controller
  (:mod:`~kubelab.controllers.tainteviction`) then evicts pods that do not tolerate them,
  or once their ``tolerationSeconds`` (300 s by default) run out. A Ready node loses both;
- NoSchedule taints mirror the node's conditions (``not-ready``, ``unreachable``, memory /
  disk / PID pressure, network unavailable) and ``spec.unschedulable`` (``kubectl cordon``).

NoExecute taints are added at most ``eviction_qps`` nodes a second per zone. If every node
of every zone is not Ready, the controller assumes the problem is its own connection, not
the nodes: it removes the taints and evicts nothing ("master disruption mode"), and a zone
where most nodes (55 %, more than two) are down is tainted only slowly, in a large cluster,
or not at all.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubelab import errors
from kubelab.api.meta import parse_time
from kubelab.client import Client, Resource
from kubelab.controllers import taints as taintutil
from kubelab.controllers.manager import ControllerContext
from kubelab.runtime import (
    Clock,
    Controller,
    EventRecorder,
    Informer,
    ReadOnlyDict,
    Result,
    deep_copy,
    rfc3339,
)

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

NODE_MONITOR_PERIOD = 5.0
NODE_MONITOR_GRACE_PERIOD = 40.0
NODE_STARTUP_GRACE_PERIOD = 60.0
EVICTION_QPS = 0.1
SECONDARY_EVICTION_QPS = 0.01
LARGE_CLUSTER_THRESHOLD = 50
UNHEALTHY_ZONE_THRESHOLD = 0.55
NODE_EVICTION_PERIOD = 0.1
NODE_HEALTH_UPDATE_RETRY = 5
NODE_LEASE_NAMESPACE = "kube-node-lease"
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"
NODE_INDEX = "spec.nodeName"

UNREACHABLE_NO_EXECUTE = {"key": taintutil.UNREACHABLE, "effect": "NoExecute"}
NOT_READY_NO_EXECUTE = {"key": taintutil.NOT_READY, "effect": "NoExecute"}

CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": taintutil.NOT_READY, "Unknown": taintutil.UNREACHABLE},
    "MemoryPressure": {"True": taintutil.MEMORY_PRESSURE},
    "DiskPressure": {"True": taintutil.DISK_PRESSURE},
    "NetworkUnavailable": {"True": taintutil.NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": taintutil.PID_PRESSURE},
}
"""Which condition status means which NoSchedule taint (``nodeConditionToTaintKeyStatusMap``)."""
CONDITION_TAINT_KEYS = {key for by_status in CONDITION_TAINTS.values() for key in by_status.values()}

STATE_INITIAL, STATE_NORMAL = "Initial", "Normal"
STATE_FULL_DISRUPTION, STATE_PARTIAL_DISRUPTION = "FullDisruption", "PartialDisruption"


def node_index(pod: Obj) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [node] if node else []


def get_condition(node: Obj | None, type: str) -> dict[str, Any] | None:
    for condition in ((node or {}).get("status") or {}).get("conditions") or ():
        if condition.get("type") == type:
            return condition  # type: ignore[no-any-return]
    return None


def zone_key(node: Obj) -> str:
    """The node's failure zone: region and zone labels (``topology.GetZoneKey``); "" for none."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def compute_zone_state(ready_conditions: Sequence[Obj | None], unhealthy_threshold: float) -> tuple[int, str]:
    """``(not ready nodes, state)`` of a zone (``ComputeZoneState``)."""
    ready = sum(1 for c in ready_conditions if c is not None and c.get("status") == "True")
    not_ready = len(ready_conditions) - ready
    if ready == 0 and not_ready > 0:
        return not_ready, STATE_FULL_DISRUPTION
    if not_ready > 2 and not_ready / (ready + not_ready) >= unhealthy_threshold:
        return not_ready, STATE_PARTIAL_DISRUPTION
    return not_ready, STATE_NORMAL


def no_schedule_taints(node: Obj) -> list[dict[str, str]]:
    """The NoSchedule taints the node's conditions and ``spec.unschedulable`` call for."""
    wanted = []
    for condition in (node.get("status") or {}).get("conditions") or ():
        key = CONDITION_TAINTS.get(condition.get("type", ""), {}).get(condition.get("status", ""))
        if key:
            wanted.append({"key": key, "effect": "NoSchedule"})
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": taintutil.UNSCHEDULABLE, "effect": "NoSchedule"})
    return wanted


class TokenBucket:
    """``qps`` actions a second, bursts of ``burst``; qps 0 allows nothing (``flowcontrol`` token bucket)."""

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        self.qps, self.burst, self.clock = qps, burst, clock
        self._tokens, self._last = float(burst), clock.now()

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        now = self.clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class RateLimitedTimedQueue:
    """Node names waiting to be tainted, let through by a token bucket (``RateLimitedTimedQueue``).

    A name is processed once until :meth:`remove` (the node recovered) allows it again.
    """

    def __init__(self, qps: float, clock: Clock) -> None:
        self.clock = clock
        self.limiter = TokenBucket(qps, 1, clock)
        self._queue: dict[str, float] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def add(self, name: str) -> bool:
        with self._lock:
            if name in self._seen:
                return False
            self._seen.add(name)
            self._queue[name] = self.clock.now()
            return True

    def remove(self, name: str) -> bool:
        with self._lock:
            self._queue.pop(name, None)
            if name in self._seen:
                self._seen.discard(name)
                return True
            return False

    def swap_limiter(self, qps: float) -> None:
        with self._lock:
            if qps != self.limiter.qps:
                self.limiter = TokenBucket(qps, 1, self.clock)

    def try_each(self, action: Any) -> None:
        """Call ``action(name) -> (done, retry_after)`` for due names while the limiter allows."""
        while True:
            with self._lock:
                due = sorted((t, n) for n, t in self._queue.items() if t <= self.clock.now())
                if not due or not self.limiter.try_accept():
                    return
                name = due[0][1]
            done, retry_after = action(name)
            with self._lock:
                if name in self._queue:
                    if done:
                        del self._queue[name]
                    else:
                        self._queue[name] = self.clock.now() + retry_after


@dataclass
class NodeHealth:
    """What the controller last saw of a node's heartbeat, and when (its own clock, not the node's)."""

    probe_timestamp: float
    ready_transition_timestamp: float
    ready: Mapping[str, Any] | None
    lease_renew_time: float | None = None


class NodeLifecycleController:
    """Marks nodes that stopped reporting, mirrors conditions as taints, and marks their pods not ready."""

    name = "nodelifecycle"
    component = "node-controller"

    def __init__(
        self,
        *,
        node_monitor_period: float = NODE_MONITOR_PERIOD,
        node_monitor_grace_period: float = NODE_MONITOR_GRACE_PERIOD,
        node_startup_grace_period: float = NODE_STARTUP_GRACE_PERIOD,
        eviction_qps: float = EVICTION_QPS,
        secondary_eviction_qps: float = SECONDARY_EVICTION_QPS,
        large_cluster_threshold: int = LARGE_CLUSTER_THRESHOLD,
        unhealthy_zone_threshold: float = UNHEALTHY_ZONE_THRESHOLD,
    ) -> None:
        self.node_monitor_period = node_monitor_period
        self.node_monitor_grace_period = node_monitor_grace_period
        self.node_startup_grace_period = node_startup_grace_period
        self.eviction_qps = eviction_qps
        self.secondary_eviction_qps = secondary_eviction_qps
        self.large_cluster_threshold = large_cluster_threshold
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self.health: dict[str, NodeHealth] = {}
        self.known_nodes: dict[str, Obj] = {}
        self.zone_states: dict[str, str] = {}
        self.zone_tainters: dict[str, RateLimitedTimedQueue] = {}
        self.nodes_to_retry: set[str] = set()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- wiring -----------------------------------------------------------------------------------

    def start(self, context: ControllerContext) -> None:
        """Watch nodes, Leases and pods; start the health monitor, the tainting pass and the workers."""
        self.client: Client = context.client
        self.clock: Clock = context.clock
        self.recorder: EventRecorder = context.recorder(self.component)
        self.nodes_api: Resource = context.client.resource("v1", "nodes")
        self.pods_api: Resource = context.client.resource("v1", "pods")
        self.nodes: Informer = context.informers.informer("v1", "nodes")
        self.leases: Informer = context.informers.informer("coordination.k8s.io/v1", "leases")
        self.pods: Informer = context.informers.informer("v1", "pods", indexers={NODE_INDEX: node_index})
        self.node_updates = Controller("nodelifecycle-nodes", self.do_no_schedule_tainting_pass, workers=2,
                                       clock=context.clock)
        self.pod_updates = Controller("nodelifecycle-pods", self.process_pod, workers=2, clock=context.clock)
        for controller in (self.node_updates, self.pod_updates):
            for informer in (self.nodes, self.leases, self.pods):
                controller.waits_for(informer)
        self.nodes.add_event_handler(self._node_changed, lambda old, new: self._node_changed(new))
        self.pods.add_event_handler(lambda pod: self._pod_updated(None, pod), self._pod_updated)
        self.node_updates.start()
        self.pod_updates.start()
        self._threads = [
            threading.Thread(target=self._every, args=(self.node_monitor_period, self.monitor_node_health),
                             name="nodelifecycle monitor", daemon=True),
            threading.Thread(target=self._every, args=(NODE_EVICTION_PERIOD, self.do_no_execute_tainting_pass),
                             name="nodelifecycle tainter", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.node_updates.stop()
        self.pod_updates.stop()
        for thread in self._threads:
            thread.join(10)

    def _every(self, period: float, action: Any) -> None:
        for informer in (self.nodes, self.leases, self.pods):
            while not informer.wait_for_sync(0.1):
                if self._stopping.is_set():
                    return
        condition = threading.Condition()
        while not self._stopping.is_set():
            try:
                action()
            except Exception:
                log.exception("node lifecycle: %s failed", getattr(action, "__name__", action))
            deadline = self.clock.now() + period
            with condition:
                while not self._stopping.is_set() and self.clock.now() < deadline:
                    self.clock.wait(condition, min(deadline - self.clock.now(), 0.1))

    def _node_changed(self, node: ReadOnlyDict) -> None:
        self.node_updates.queue.add(node["metadata"]["name"])

    def _pod_updated(self, old: ReadOnlyDict | None, new: ReadOnlyDict) -> None:
        node = (new.get("spec") or {}).get("nodeName")
        if node and (old is None or (old.get("spec") or {}).get("nodeName") != node):
            self.pod_updates.queue.add(f"{new['metadata']['namespace']}/{new['metadata']['name']}")

    def _now(self) -> str:
        return rfc3339(self.clock.wall())

    def _node_event(self, node: Obj, reason: str, message: str, type: str = "Normal") -> None:
        ref = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node["metadata"]["name"],
                                                               "uid": node["metadata"].get("uid")}}
        self.recorder.event(ref, type, reason, message)  # type: ignore[arg-type]

    # -- monitoring (monitorNodeHealth) ----------------------------------------------------------------

    def monitor_node_health(self) -> None:
        """One pass over every node: update health, taint or untaint, mark pods, handle disruption."""
        nodes = self.nodes.cache.list()
        names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in self.known_nodes:
                self._node_event(node, "RegisteredNode", f"Node {name} event: Registered Node {name} in Controller")
                self.known_nodes[name] = node
                self._tainter_for(node)
                self.mark_node_as_reachable(node)
            elif zone_key(node) not in self.zone_states:
                self._tainter_for(node)
        for name in [n for n in self.known_nodes if n not in names]:
            gone = self.known_nodes.pop(name)
            self._node_event(gone, "RemovingNode", f"Node {name} event: Removing Node {name} from Controller")
        zone_conditions: dict[str, list[Obj | None]] = {}
        for cached in nodes:
            node = deep_copy(cached)
            try:
                observed, current = self._update_health_with_retries(node)
            except errors.ClientError as e:
                log.error("node lifecycle: could not update the health of node %s, no pods will be evicted: %s",
                          node["metadata"]["name"], e)
                continue
            if EXCLUDE_DISRUPTION_LABEL not in (node["metadata"].get("labels") or {}):
                zone_conditions.setdefault(zone_key(node), []).append(current)
            if current is None:
                continue
            name = node["metadata"]["name"]
            self.process_taint_based_eviction(node, observed)
            if current.get("status") != "True" and observed.get("status") == "True":
                self._node_event(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
                self._mark_pods_not_ready_or_retry(name)
            elif name in self.nodes_to_retry and observed.get("status") != "True":
                self._mark_pods_not_ready_or_retry(name)
            else:
                self.nodes_to_retry.discard(name)
        self.handle_disruption(zone_conditions, nodes)

    def _mark_pods_not_ready_or_retry(self, node_name: str) -> None:
        try:
            self.mark_pods_not_ready(node_name)
            self.nodes_to_retry.discard(node_name)
        except errors.ClientError as e:
            log.warning("node lifecycle: could not mark every pod on %s not ready, will retry: %s", node_name, e)
            self.nodes_to_retry.add(node_name)

    def _update_health_with_retries(self, node: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        for attempt in range(NODE_HEALTH_UPDATE_RETRY):
            try:
                return self.try_update_node_health(node)
            except errors.ClientError:
                if attempt == NODE_HEALTH_UPDATE_RETRY - 1:
                    raise
                node = self.nodes_api.get(node["metadata"]["name"])
        raise AssertionError("unreachable")

    def try_update_node_health(self, node: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """``(observed Ready condition, current Ready condition)``; marks the node Unknown if its heartbeat is too old.

        ``observed`` is what the node said before this pass; ``current`` after it (None if the
        node has never reported at all).
        """
        name = node["metadata"]["name"]
        now = self.clock.now()
        current = get_condition(node, "Ready")
        created_ago = max(0.0, self.clock.wall() - parse_time(node["metadata"]["creationTimestamp"])) \
            if node["metadata"].get("creationTimestamp") else 0.0
        with self._lock:
            health = self.health.get(name)
        if current is None:
            # Never reported: count from the node's creation, with the longer startup grace period.
            created = node["metadata"].get("creationTimestamp")
            observed: dict[str, Any] = {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": created,
                                        "lastTransitionTime": created}
            grace = self.node_startup_grace_period
            if health is None:
                health = NodeHealth(now - created_ago, now - created_ago, None)
            else:
                health.ready = None
        else:
            observed = dict(current)
            grace = self.node_monitor_grace_period
        saved = health.ready if health is not None else None
        if health is None or (saved is None and current is not None):
            health = NodeHealth(now, now, current)
        elif saved is not None and current is not None \
                and saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
            transition = now if saved.get("lastTransitionTime") != current.get("lastTransitionTime") \
                else health.ready_transition_timestamp
            health = NodeHealth(now, transition, current, health.lease_renew_time)
        lease = self.leases.cache.get(name, NODE_LEASE_NAMESPACE)
        renew = (lease.get("spec") or {}).get("renewTime") if lease is not None else None
        if renew:
            renewed = parse_time(renew)
            if health.lease_renew_time is None or health.lease_renew_time < renewed:
                health.lease_renew_time = renewed
                health.probe_timestamp = now
        try:
            if now > health.probe_timestamp + grace:
                self._mark_unknown(node, now - health.probe_timestamp)
                current = get_condition(node, "Ready")
                if current != observed:
                    self.nodes_api.update_status(node)
                    health = NodeHealth(health.probe_timestamp, now, current, health.lease_renew_time)
        finally:
            with self._lock:
                self.health[name] = health
        return observed, current

    def _mark_unknown(self, node: dict[str, Any], silent_for: float) -> None:
        """Set Ready and the pressure conditions to Unknown: nothing is known of this node any more."""
        now = self._now()
        conditions = node.setdefault("status", {}).setdefault("conditions", [])
        for type in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
            condition = get_condition(node, type)
            if condition is None:
                conditions.append({"type": type, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                                   "message": "Kubelet never posted node status.",
                                   "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                                   "lastTransitionTime": now})
            elif condition.get("status") != "Unknown":
                if type == "Ready":
                    log.info("node lifecycle: node %s has not reported for %.0fs", node["metadata"]["name"], silent_for)
                condition.update(status="Unknown", reason="NodeStatusUnknown",
                                 message="Kubelet stopped posting node status.", lastTransitionTime=now)

    # -- NoExecute taints ---------------------------------------------------------------------------------

    def _tainter_for(self, node: Obj) -> RateLimitedTimedQueue:
        zone = zone_key(node)
        with self._lock:
            if zone not in self.zone_states:
                self.zone_states[zone] = STATE_INITIAL
                self.zone_tainters[zone] = RateLimitedTimedQueue(self.eviction_qps, self.clock)
            return self.zone_tainters[zone]

    def process_taint_based_eviction(self, node: Obj, observed: Obj) -> None:
        """Queue a not-ready or unreachable node for its NoExecute taint; untaint a Ready one."""
        taints = taintutil.node_taints(node)
        name = node["metadata"]["name"]
        status = observed.get("status")
        if status == "False":
            if taintutil.taint_exists(taints, UNREACHABLE_NO_EXECUTE):
                self._swap(name, NOT_READY_NO_EXECUTE, UNREACHABLE_NO_EXECUTE)
            else:
                self.mark_node_for_tainting(node, "False")
        elif status == "Unknown":
            if taintutil.taint_exists(taints, NOT_READY_NO_EXECUTE):
                self._swap(name, UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE)
            else:
                self.mark_node_for_tainting(node, "Unknown")
        elif status == "True":
            self.mark_node_as_reachable(node)

    def _swap(self, name: str, add: Obj, remove: Obj) -> bool:
        try:
            taintutil.change_node_taints(self.nodes_api, name, [add], [remove], time_added=self._now())
            return True
        except errors.ClientError as e:
            log.warning("node lifecycle: could not change the taints of node %s: %s", name, e)
            return False

    def mark_node_for_tainting(self, node: Obj, status: str) -> bool:
        tainter = self._tainter_for(node)
        taints = taintutil.node_taints(node)
        name = node["metadata"]["name"]
        wanted = NOT_READY_NO_EXECUTE if status == "False" else UNREACHABLE_NO_EXECUTE
        if not taintutil.taint_exists(taints, wanted):
            # A node tainted before, then healthy, then down again must be tainted again.
            tainter.remove(name)
        return tainter.add(name)

    def mark_node_as_reachable(self, node: Obj) -> bool:
        """Remove both NoExecute taints and forget the node in the tainting queue."""
        name = node["metadata"]["name"]
        if taintutil.taint_exists(taintutil.node_taints(node), UNREACHABLE_NO_EXECUTE) \
                or taintutil.taint_exists(taintutil.node_taints(node), NOT_READY_NO_EXECUTE):
            taintutil.change_node_taints(self.nodes_api, name, [], [UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE])
        return self._tainter_for(node).remove(name)

    def do_no_execute_tainting_pass(self) -> None:
        """Taint the queued nodes, as fast as each zone's rate limiter allows."""
        with self._lock:
            tainters = list(self.zone_tainters.values())
        for tainter in tainters:
            tainter.try_each(self._taint_node)

    def _taint_node(self, name: str) -> tuple[bool, float]:
        node = self.nodes.cache.get(name)
        if node is None:
            return True, 0.0
        ready = get_condition(node, "Ready")
        if ready is None:
            return False, 0.05
        if ready.get("status") == "False":
            add, remove = NOT_READY_NO_EXECUTE, UNREACHABLE_NO_EXECUTE
        elif ready.get("status") == "Unknown":
            add, remove = UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE
        else:
            return True, 0.0
        return self._swap(name, add, remove), 0.0

    # -- disruption (handleDisruption) ----------------------------------------------------------------------

    def handle_disruption(self, zone_conditions: Mapping[str, list[Obj | None]], nodes: Sequence[Obj]) -> None:
        """Slow down or stop tainting when whole zones, or the whole cluster, look down."""
        new_states: dict[str, str] = {}
        all_fully_disrupted = True
        with self._lock:
            for zone, conditions in zone_conditions.items():
                _, state = compute_zone_state(conditions, self.unhealthy_zone_threshold)
                new_states[zone] = state
                if state != STATE_FULL_DISRUPTION:
                    all_fully_disrupted = False
                self.zone_states.setdefault(zone, STATE_INITIAL)
            for zone in [z for z in self.zone_states if z not in zone_conditions]:
                del self.zone_states[zone]
            all_were_fully_disrupted = all(s == STATE_FULL_DISRUPTION for s in self.zone_states.values())
        if all_fully_disrupted and all_were_fully_disrupted:
            return
        if all_fully_disrupted:
            log.info("node lifecycle: every node is not ready; entering master disruption mode")
            for node in nodes:
                with contextlib.suppress(errors.ClientError):
                    self.mark_node_as_reachable(node)
            with self._lock:
                for zone in self.zone_states:
                    self.zone_tainters[zone].swap_limiter(0)
                    self.zone_states[zone] = STATE_FULL_DISRUPTION
            return
        with self._lock:
            if all_were_fully_disrupted:
                log.info("node lifecycle: some nodes are ready again; leaving master disruption mode")
                now = self.clock.now()
                for health in self.health.values():
                    health.probe_timestamp = now
                    health.ready_transition_timestamp = now
                for zone in self.zone_states:
                    self._set_limiter(zone, len(zone_conditions[zone]), new_states[zone])
                    self.zone_states[zone] = new_states[zone]
                return
            for zone, state in list(self.zone_states.items()):
                if new_states[zone] != state:
                    log.info("node lifecycle: zone %r is now %s", zone, new_states[zone])
                    self._set_limiter(zone, len(zone_conditions[zone]), new_states[zone])
                    self.zone_states[zone] = new_states[zone]

    def _set_limiter(self, zone: str, size: int, state: str) -> None:
        if state == STATE_PARTIAL_DISRUPTION:
            qps = self.secondary_eviction_qps if size > self.large_cluster_threshold else 0.0
        else:
            qps = self.eviction_qps
        self.zone_tainters[zone].swap_limiter(qps)

    # -- pods ---------------------------------------------------------------------------------------------------

    def mark_pods_not_ready(self, node_name: str) -> None:
        """Set the Ready condition of every pod on the node to False (``MarkPodsNotReady``)."""
        failures = []
        for cached in self.pods.cache.by_index(NODE_INDEX, node_name):
            try:
                self.mark_pod_not_ready(cached)
            except errors.NotFound:
                continue
            except errors.ClientError as e:
                failures.append(e)
        if failures:
            raise failures[0]

    def mark_pod_not_ready(self, cached: Obj) -> None:
        pod = deep_copy(cached)
        for condition in (pod.get("status") or {}).get("conditions") or ():
            if condition.get("type") != "Ready":
                continue
            if condition.get("status") == "False":
                return
            condition["status"] = "False"
            condition["lastTransitionTime"] = self._now()
            self.pods_api.update_status(pod)
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
            return

    def process_pod(self, key: str) -> Result | None:
        """A pod newly on a node that is not Ready is marked not Ready too."""
        namespace, _, name = key.partition("/")
        pod = self.pods.cache.get(name, namespace)
        if pod is None:
            return None
        node_name = pod["spec"].get("nodeName")
        with self._lock:
            health = self.health.get(node_name)
        if health is None or health.ready is None or self.nodes.cache.get(node_name) is None:
            return None
        if health.ready.get("status") != "True":
            self.mark_pod_not_ready(pod)
        return None

    # -- NoSchedule taints (doNoScheduleTaintingPass) ---------------------------------------------------------

    def do_no_schedule_tainting_pass(self, name: str) -> Result | None:
        """Make the node's condition NoSchedule taints (and the unschedulable one) match its conditions."""
        node = self.nodes.cache.get(name)
        if node is None:
            return None
        wanted = no_schedule_taints(node)
        current = [t for t in taintutil.node_taints(node) if t.get("effect") == "NoSchedule"
                   and (t.get("key") == taintutil.UNSCHEDULABLE or t.get("key") in CONDITION_TAINT_KEYS)]
        to_add = [t for t in wanted if not taintutil.taint_exists(current, t)]
        to_remove = [t for t in current if not taintutil.taint_exists(wanted, t)]
        if to_add or to_remove:
            taintutil.change_node_taints(self.nodes_api, name, to_add, to_remove, time_added=self._now())
        return None
