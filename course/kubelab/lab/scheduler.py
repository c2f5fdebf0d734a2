"""Lab 03, the scheduler: the loop around the learner's scheduler, reference answers, samples and checks.

The learner writes filters and a score as plain functions over API objects (dicts), then
:func:`schedule` (filter, score, pick), then three methods of a :class:`SchedulerLoop`
(``bind``, ``record_failure``, ``schedule_pending``). :class:`SchedulerLoop` is the part
given: it watches pods and nodes and calls ``schedule_pending`` whenever something changed.

Each task is graded alone: :func:`alone` runs a learner's function with the functions it
calls replaced by kubelab's, and :class:`ReferenceScheduler` is a working loop that takes
one learner method at a time (with :func:`kubelab.lab.hybrid`). The reference answers are
thin adapters over kubelab's real scheduler (:mod:`kubelab.scheduler`) where it has the
same rule, so the learner's code is checked against the scheduler the cluster runs.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import types
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes.client

from kubelab import errors
from kubelab.api.quantity import parse_quantity
from kubelab.client import Client
from kubelab.grading import CheckFailed, expect_equal, expect_raises, expect_true
from kubelab.lab.checks import Checks
from kubelab.lab.progress import wait_for
from kubelab.lab.session import LabCluster
from kubelab.runtime import EventRecorder, SharedInformerFactory, deep_copy
from kubelab.scheduler.cache import Snapshot
from kubelab.scheduler.framework import Code, CycleState, Diagnosis, FitError, NodeToStatus, Status
from kubelab.scheduler.handle import Handle
from kubelab.scheduler.nodeinfo import NodeInfo, PodInfo, pod_requests
from kubelab.scheduler.plugins.helper import find_matching_untolerated_taint
from kubelab.scheduler.plugins.inter_pod_affinity import (
    ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
    InterPodAffinity,
)
from kubelab.scheduler.plugins.node_affinity import ERR_REASON_POD, RequiredNodeAffinity
from kubelab.scheduler.plugins.node_resources import insufficient_resources
from kubelab.scheduler.plugins.node_unschedulable import ERR_REASON_UNSCHEDULABLE
from kubelab.scheduler.profile import DEFAULT_SCHEDULER_NAME

Obj = dict[str, Any]

__all__ = [
    "ANTI_AFFINITY",
    "DEFAULT_SCHEDULER_NAME",
    "NODE_AFFINITY",
    "NO_NODES",
    "UNSCHEDULABLE",
    "ReferenceScheduler",
    "SchedulerFailed",
    "SchedulerLoop",
    "Unschedulable",
    "alone",
    "check",
    "pod_requests",
    "prepare_nodes",
    "reference",
    "taint_reason",
]

UNSCHEDULABLE = ERR_REASON_UNSCHEDULABLE
"""Why a cordoned node (``spec.unschedulable``) takes no pod: "node(s) were unschedulable"."""
NODE_AFFINITY = ERR_REASON_POD
"""Why a node fails a pod's ``nodeSelector`` or required node affinity."""
ANTI_AFFINITY = ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH
"""Why a node fails a pod's required pod anti-affinity."""
NO_NODES = "no nodes available to schedule pods"
"""What the scheduler says when the cluster has no node at all."""
NON_ZERO_CPU = 100
"""Millicores a pod that requests no CPU counts as, when scoring (upstream's ``DefaultMilliCPURequest``)."""
NON_ZERO_MEMORY = 200 * 1024 * 1024
"""Bytes a pod that requests no memory counts as, when scoring (``DefaultMemoryRequest``)."""


class Unschedulable(Exception):
    """No node fits the pod; ``str()`` is the message a FailedScheduling event shows."""


class SchedulerFailed(CheckFailed):
    """A scheduler's own methods raised an error while it ran."""


def taint_reason(taint: Mapping[str, Any]) -> str:
    """Why a node with an untolerated ``taint`` is rejected: ``node(s) had untolerated taint {key: value}``."""
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


def alone(function: Callable[..., Any], **references: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as it is, except that the names it calls (``references``) are kubelab's versions.

    A task that calls an earlier one is then graded on its own: a bug in the learner's
    ``amount`` costs points in ``amount`` only, not in every task that calls it.
    """
    if not isinstance(function, types.FunctionType):
        raise TypeError(f"expected a function you wrote, got {type(function).__name__}")
    copy = types.FunctionType(function.__code__, {**function.__globals__, **references}, function.__name__,
                              function.__defaults__, function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


# -- kubelab's answers, for the hidden tests ------------------------------------------------------


class _Reference:
    """kubelab's answer to each task, named as the tasks are."""

    @staticmethod
    def amount(resource: str, quantity: str) -> int:
        q = parse_quantity(quantity)
        return q.milli_value() if resource == "cpu" else q.value()

    @staticmethod
    def fits_resources(pod: Obj, node: Obj, pods_on_node: list[Obj]) -> list[str]:
        info = NodeInfo(node, [PodInfo(p) for p in pods_on_node])
        reasons = insufficient_resources(PodInfo(pod).requests, info)
        fixed = [r for r in reasons if r in ("Too many pods", "Insufficient cpu", "Insufficient memory")]
        return fixed + sorted(r for r in reasons if r not in fixed)

    @staticmethod
    def matches_node_affinity(pod: Obj, node: Obj) -> bool:
        return RequiredNodeAffinity(pod).matches(NodeInfo(node))

    @staticmethod
    def untolerated_taint(pod: Obj, node: Obj) -> Obj | None:
        taint = find_matching_untolerated_taint((node.get("spec") or {}).get("taints") or [],
                                                (pod.get("spec") or {}).get("tolerations") or [])
        return dict(taint) if taint is not None else None

    @staticmethod
    def anti_affinity_violated(pod: Obj, node: Obj, nodes: list[Obj], pods: list[Obj]) -> bool:
        infos = {n["metadata"]["name"]: NodeInfo(n) for n in nodes}
        for placed in pods:
            infos[placed["spec"]["nodeName"]].add_pod(PodInfo(placed))
        plugin = InterPodAffinity()
        plugin.setup(Handle(Snapshot(list(infos.values()))))
        state = CycleState()
        incoming = PodInfo(pod)
        if plugin.pre_filter(state, incoming, list(infos.values())) is not None:
            return False
        status = plugin.filter(state, incoming, infos[node["metadata"]["name"]])
        return status is not None and ANTI_AFFINITY in status.reasons

    @staticmethod
    def least_allocated_score(pod: Obj, node: Obj, pods_on_node: list[Obj]) -> int:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        scores = []
        for resource, default in (("cpu", NON_ZERO_CPU), ("memory", NON_ZERO_MEMORY)):
            capacity = _Reference.amount(resource, allocatable.get(resource, "0"))
            used = sum(pod_requests(p).get(resource, 0) or default for p in [pod, *pods_on_node])
            scores.append(0 if used > capacity or capacity == 0 else (capacity - used) * 100 // capacity)
        return sum(scores) // 2

    @staticmethod
    def failure_message(num_nodes: int, reasons: Mapping[str, list[str]]) -> str:
        statuses = NodeToStatus({node: Status(Code.UNSCHEDULABLE, tuple(r)) for node, r in reasons.items()})
        return str(FitError(PodInfo({}), num_nodes, Diagnosis(statuses)))

    @staticmethod
    def schedule(pod: Obj, nodes: list[Obj], pods: list[Obj]) -> str:
        r = _Reference
        if not nodes:
            raise Unschedulable(NO_NODES)
        reasons: dict[str, list[str]] = {}
        best: tuple[int, str] | None = None
        for node in nodes:
            name = node["metadata"]["name"]
            on_node = [p for p in pods if p["spec"].get("nodeName") == name]
            taint = r.untolerated_taint(pod, node)
            if (node.get("spec") or {}).get("unschedulable"):
                reasons[name] = [UNSCHEDULABLE]
            elif taint is not None:
                reasons[name] = [taint_reason(taint)]
            elif not r.matches_node_affinity(pod, node):
                reasons[name] = [NODE_AFFINITY]
            elif missing := r.fits_resources(pod, node, on_node):
                reasons[name] = missing
            elif r.anti_affinity_violated(pod, node, nodes, pods):
                reasons[name] = [ANTI_AFFINITY]
            else:
                score = r.least_allocated_score(pod, node, on_node)
                if best is None or score > best[0]:
                    best = (score, name)
        if best is None:
            raise Unschedulable(r.failure_message(len(nodes), reasons))
        return best[1]


reference = _Reference
"""kubelab's answers: ``reference.amount``, ``reference.schedule``..., one per task."""

REFERENCES = {name: getattr(_Reference, name) for name in (
    "amount", "fits_resources", "matches_node_affinity", "untolerated_taint", "anti_affinity_violated",
    "least_allocated_score", "failure_message", "schedule",
)}


# -- the loop around the learner's methods ----------------------------------------------------


def pod_key(pod: Mapping[str, Any]) -> str:
    """``namespace/name``, how the scheduler names a pod in its logs and in ``schedule_pending``'s answer."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"


class SchedulerLoop:
    """A scheduler's body, given: watch pods and nodes, call ``schedule_pending`` when something changed.

    ``name`` is the ``spec.schedulerName`` the scheduler answers to (and the ``source`` of its
    events); ``schedule(pod, nodes, pods) -> node name`` chooses a node or raises
    :class:`Unschedulable`. A subclass writes ``bind``, ``record_failure`` and
    ``schedule_pending``. Start it like any component: ``cluster.plug("scheduler", it)``
    (embedded) or ``cluster.run(it)`` (any cluster). Errors your methods raise never stop the
    loop: they are kept in ``errors`` and the pass is tried again a second later.
    """

    PERIOD = 1.0
    """Seconds between passes when nothing changes (a pass also runs at once after any change)."""

    def __init__(self, name: str = DEFAULT_SCHEDULER_NAME, *, schedule: Callable[[Obj, list[Obj], list[Obj]], str]) -> None:
        if not callable(schedule):
            raise TypeError("schedule must be a function (pod, nodes, pods) -> node name")
        self.name = name
        self.schedule = schedule
        self.client: Client | None = None
        self.errors: list[str] = []
        self.passes = 0
        self._recorder: EventRecorder | None = None
        self._informers: SharedInformerFactory | None = None
        self._assumed: dict[str, tuple[str, float]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- given: what your methods use ------------------------------------------------------------

    def pods(self) -> list[Obj]:
        """Every pod in the cluster, as plain dicts; pods you bound show their node even before the watch says so."""
        informer = self._informer("pods")
        now = time.monotonic()
        pods = []
        for cached in informer.cache.list():
            pod = deep_copy(cached)
            key = pod_key(pod)
            assumed = self._assumed.get(key)
            if assumed is not None:
                if pod["spec"].get("nodeName") or now - assumed[1] > 30:
                    self._assumed.pop(key, None)
                else:
                    pod["spec"]["nodeName"] = assumed[0]
            pods.append(pod)
        return pods

    def check_errors(self) -> bool:
        """Raise :class:`SchedulerFailed` with the last error your methods raised; ``False`` if there was none.

        Made to stop a wait at once: ``lab.wait_for(lambda: mine.check_errors() or pod_is_bound(), ...)``.
        """
        if self.errors:
            raise SchedulerFailed(f"scheduler {self.name!r} raised {self.errors[-1]}")
        return False

    def nodes(self) -> list[Obj]:
        """Every node, as plain dicts, sorted by name."""
        return sorted((deep_copy(n) for n in self._informer("nodes").cache.list()), key=lambda n: n["metadata"]["name"])

    def record(self, pod: Obj, type: str, reason: str, message: str) -> None:
        """Record an Event about ``pod`` (``type`` ``"Normal"`` or ``"Warning"``) from this scheduler."""
        if self._recorder is None:
            raise RuntimeError("the scheduler is not running: start it first")
        self._recorder.event(pod, type, reason, message)  # type: ignore[arg-type]

    # -- yours ----------------------------------------------------------------------------------

    def bind(self, pod: Obj, node_name: str) -> None:
        raise NotImplementedError("write bind in your scheduler class")

    def record_failure(self, pod: Obj, message: str) -> None:
        raise NotImplementedError("write record_failure in your scheduler class")

    def schedule_pending(self) -> dict[str, str]:
        raise NotImplementedError("write schedule_pending in your scheduler class")

    # -- the component ---------------------------------------------------------------------------

    def start(self, api_client: kubernetes.client.ApiClient) -> None:
        """Watch the cluster behind ``api_client`` and start scheduling; return once the caches are filled."""
        if self._thread is not None:
            raise RuntimeError(f"scheduler {self.name!r} is already running; stop() it first")
        self.client = Client(api_client)
        self._recorder = EventRecorder(self.client, self.name)
        self._informers = SharedInformerFactory(self.client)
        for resource in ("pods", "nodes"):
            self._informers.informer("v1", resource).add_event_handler(
                lambda *_: self._wake.set(), lambda *_: self._wake.set(), lambda *_: self._wake.set())
        self._informers.start()
        if not self._informers.wait_for_cache_sync(timeout=30):
            self.stop()
            raise errors.ConnectionFailed("the scheduler could not list pods and nodes within 30 s")
        self._stopping.clear()
        self._wake.set()
        self._thread = threading.Thread(target=self._run, name=f"scheduler {self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling and watching; return when the loop has ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._informers is not None:
            self._informers.shutdown()
            self._informers = None
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None
        if self.client is not None:
            self.client.close()
            self.client = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.PERIOD)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                placed = self.schedule_pending()
            except Exception as e:  # noqa: BLE001 - the learner's code: keep the error, keep scheduling
                self.errors.append(f"{type(e).__name__}: {e}")
                del self.errors[:-20]
                self._stopping.wait(self.PERIOD)
                continue
            self.passes += 1
            now = time.monotonic()
            for key, node in dict(placed or {}).items():
                self._assumed[str(key)] = (str(node), now)

    def _informer(self, resource: str) -> Any:
        if self._informers is None:
            raise RuntimeError("the scheduler is not running: start it first")
        return self._informers.informer("v1", resource)

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
        return f"<{type(self).__name__} {self.name!r}, {state}, {self.passes} passes, {len(self.errors)} errors>"


class ReferenceScheduler(SchedulerLoop):
    """kubelab's answers to the three loop tasks, so each can be graded inside a working scheduler."""

    def __init__(self, name: str = DEFAULT_SCHEDULER_NAME, *,
                 schedule: Callable[[Obj, list[Obj], list[Obj]], str] = _Reference.schedule) -> None:
        super().__init__(name, schedule=schedule)

    def bind(self, pod: Obj, node_name: str) -> None:
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        assert self.client is not None
        self.client.resource("v1", "pods").create(binding, meta["namespace"], subresource="binding")
        self.record(pod, "Normal", "Scheduled", f"Successfully assigned {pod_key(pod)} to {node_name}")

    def record_failure(self, pod: Obj, message: str) -> None:
        self.record(pod, "Warning", "FailedScheduling", message)
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        current = [c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"]
        if current and all(current[0].get(k) == v for k, v in condition.items()):
            return
        assert self.client is not None
        try:
            self.client.resource("v1", "pods").patch(pod["metadata"]["name"], {"status": {"conditions": [condition]}},
                                                     pod["metadata"]["namespace"], type="strategic", subresource="status")
        except errors.NotFound:
            return

    def schedule_pending(self) -> dict[str, str]:
        pods = self.pods()
        nodes = self.nodes()
        placed_pods = [p for p in pods if p["spec"].get("nodeName")
                       and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        mine = [p for p in pods if not p["spec"].get("nodeName")
                and p["spec"].get("schedulerName", DEFAULT_SCHEDULER_NAME) == self.name
                and not p["metadata"].get("deletionTimestamp")
                and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        mine.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), pod_key(p)))
        placed: dict[str, str] = {}
        for pod in mine:
            try:
                node = self.schedule(pod, nodes, placed_pods)
            except Unschedulable as e:
                self.record_failure(pod, str(e))
                continue
            try:
                self.bind(pod, node)
            except (errors.NotFound, errors.Conflict):
                continue
            placed_pods.append({**pod, "spec": {**pod["spec"], "nodeName": node}})
            placed[pod_key(pod)] = node
        return placed


# -- the lab's cluster --------------------------------------------------------------------------

ZONE = "topology.kubernetes.io/zone"
NODE_SETUP: dict[str, dict[str, Any]] = {
    "node-1": {"labels": {"disk": "ssd", ZONE: "zone-a"}, "taints": []},
    "node-2": {"labels": {"disk": "hdd", ZONE: "zone-a"}, "taints": []},
    "node-3": {"labels": {"disk": "hdd", ZONE: "zone-b"},
               "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
}
"""The lab's three nodes: node-1 has an SSD, node-3 is kept for GPU work, two zones."""


def prepare_nodes(cluster: LabCluster) -> list[str]:
    """Give the lab's nodes the labels and taints of :data:`NODE_SETUP` (again, if changed); their names."""
    nodes = cluster.client.resource("v1", "nodes")
    for name, setup in NODE_SETUP.items():
        nodes.patch(name, {"metadata": {"labels": setup["labels"]},
                           "spec": {"taints": setup["taints"] or None, "unschedulable": None}}, type="merge")
    return list(NODE_SETUP)


def pod(name: str, *, cpu: str | None = None, memory: str | None = None, scheduler: str = DEFAULT_SCHEDULER_NAME,
        labels: Mapping[str, str] | None = None, **spec: Any) -> Obj:
    """A Pod manifest: one ``busybox`` container that sleeps, requesting ``cpu``/``memory``; more ``spec`` as keywords."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}
    if requests:
        container["resources"] = {"requests": requests}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": dict(labels or {"app": name})},
            "spec": {"schedulerName": scheduler, "containers": [container], "terminationGracePeriodSeconds": 0,
                     **spec}}


def outcome(cluster: LabCluster, name: str) -> str | None:
    """Where pod ``name`` was bound, or ``"failed: <message>"`` once a FailedScheduling says why, else None."""
    try:
        current = cluster.client.resource("v1", "pods").get(name, cluster.namespace)
    except errors.NotFound:
        return None
    if current["spec"].get("nodeName"):
        return str(current["spec"]["nodeName"])
    failed = [e for e in events_about(cluster, name) if e["reason"] == "FailedScheduling"]
    return f"failed: {failed[-1]['message']}" if failed else None


def events_about(cluster: LabCluster, name: str) -> list[Obj]:
    """The events about pod ``name`` in the lab's namespace, oldest first."""
    events = cluster.client.resource("v1", "events").list(cluster.namespace)["items"]
    mine = [e for e in events if e["involvedObject"].get("kind") == "Pod" and e["involvedObject"].get("name") == name]
    return sorted(mine, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def outcomes(cluster: LabCluster, manifests: list[Obj], *, scheduler: SchedulerLoop | None = None,
             backlog: bool = False, timeout: float = 20) -> dict[str, str]:
    """Create the pods and wait until each is bound or has failed; ``{name: node, or "failed: ..."}``.

    ``scheduler`` (if given) runs beside the cluster's own for the while, under its own name,
    and the pods ask for it; its errors fail the check. With ``backlog`` it starts only once
    every pod exists, so that one pass must place them all. The pods are deleted at the end.
    """
    if scheduler is not None:
        manifests = [{**m, "spec": {**m["spec"], "schedulerName": scheduler.name}} for m in manifests]
        if not backlog:
            cluster.run(scheduler)
    pods = cluster.client.resource("v1", "pods")
    try:
        for manifest in manifests:
            cluster.create(manifest)
        if scheduler is not None and backlog:
            cluster.run(scheduler)
        names = [m["metadata"]["name"] for m in manifests]
        seen: dict[str, str] = {}

        def settled() -> bool:
            for name in names:
                if name not in seen:
                    found = outcome(cluster, name)
                    if found is not None:
                        seen[name] = found
            if scheduler is not None:
                scheduler.check_errors()
            return len(seen) == len(names)

        wait_for(settled, what=f"{len(names)} pods to be scheduled or to fail", timeout=timeout,
                 status=lambda: f"{len(seen)} settled")
        return seen
    finally:
        if scheduler is not None:
            cluster.stop_running(scheduler)
        for manifest in manifests:
            with contextlib.suppress(errors.NotFound):
                pods.delete(manifest["metadata"]["name"], cluster.namespace, grace_period_seconds=0)


# -- samples, on paper ----------------------------------------------------------------------------


def node(name: str, *, cpu: str = "2", memory: str = "4Gi", pods: str = "110", labels: Mapping[str, str] | None = None,
         taints: list[Obj] | None = None, unschedulable: bool = False, **allocatable: str) -> Obj:
    """A Node as the API server returns it, cut down to what a scheduler reads."""
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    resources = {"cpu": cpu, "memory": memory, "pods": pods, **{k.replace("_", "-"): v for k, v in allocatable.items()}}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec, "status": {"allocatable": resources, "capacity": dict(resources)}}


def placed(manifest: Obj, node_name: str, namespace: str = "default") -> Obj:
    """``manifest`` as a pod already running on ``node_name``."""
    return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace},
            "spec": {**manifest["spec"], "nodeName": node_name}, "status": {"phase": "Running"}}


def sample(manifest: Obj, namespace: str = "default") -> Obj:
    """``manifest`` as a pending pod the API server returns."""
    return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}, "status": {"phase": "Pending"}}


GPU_TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
SAMPLE_NODES = [
    node("node-1", labels={"disk": "ssd", ZONE: "zone-a"}),
    node("node-2", cpu="1", pods="3", labels={"disk": "hdd", ZONE: "zone-a"}),
    node("node-3", memory="8Gi", labels={"disk": "hdd", ZONE: "zone-b"}, taints=[GPU_TAINT]),
]
"""Three nodes on paper, like the lab's cluster: node-2 is small, node-3 is tainted for GPU work."""

SAMPLE_PODS = [
    placed(pod("web-1", cpu="1", memory="1Gi", labels={"app": "web"}), "node-1"),
    placed(pod("db-1", cpu="500m", memory="2Gi", labels={"app": "db"}), "node-2"),
    placed(pod("cache-1", labels={"app": "cache"}), "node-2"),
]
"""Pods already placed on :data:`SAMPLE_NODES`."""


def on_node(pods: list[Obj], name: str) -> list[Obj]:
    return [p for p in pods if p["spec"].get("nodeName") == name]


# -- random cases, for the hidden tests -----------------------------------------------------------

_SUFFIXES = ["", "", "k", "M", "G", "Ki", "Mi", "Gi", "T", "Ti", "m"]


def random_quantity(rng: random.Random, resource: str) -> str:
    """A quantity as people write them: ``250m``, ``1.5``, ``512Mi``, ``1G``..."""
    if resource == "cpu":
        return rng.choice([f"{rng.randrange(0, 4001)}m", str(rng.randrange(0, 9)),
                           f"{rng.randrange(0, 4)}.{rng.choice(['5', '25', '1', '125', '0005'])}"])
    suffix = rng.choice(_SUFFIXES)
    number = rng.choice([str(rng.randrange(0, 5000)), f"{rng.randrange(0, 9)}.{rng.choice(['5', '25', '75', '001'])}"])
    return number + suffix


def _random_request(rng: random.Random, resource: str) -> str:
    if resource == "cpu":
        return rng.choice(["100m", "250m", "500m", "0.5", "1", "1500m"]) if rng.random() < 0.7 else random_quantity(rng, "cpu")
    if resource == "memory":
        return rng.choice(["64Mi", "256Mi", "1Gi", "0.5Gi", "1G", "1500M"]) if rng.random() < 0.7 else random_quantity(rng, "memory")
    return str(rng.randrange(0, 3)) + ("Gi" if resource == "ephemeral-storage" else "")


def random_node(rng: random.Random, name: str) -> Obj:
    extra = {}
    if rng.random() < 0.3:
        extra["example.com/gpu"] = str(rng.randrange(0, 3))
    if rng.random() < 0.2:
        extra["ephemeral-storage"] = rng.choice(["10Gi", "1G", "500Mi"])
    labels = {"disk": rng.choice(["ssd", "hdd"]), "cores": str(rng.randrange(1, 9))}
    if rng.random() < 0.8:
        labels[ZONE] = rng.choice(["zone-a", "zone-b"])
    pool = [GPU_TAINT, {"key": "dedicated", "value": "db", "effect": "NoExecute"},
            {"key": "spot", "effect": "PreferNoSchedule"}, {"key": "maintenance", "effect": "NoSchedule"}]
    taints = rng.sample(pool, rng.choice([0, 0, 0, 0, 1, 2]))
    return node(name, cpu=rng.choice(["1", "2", "4", "500m", "1500m", "2500m"]),
                memory=rng.choice(["1Gi", "2Gi", "4Gi", "3000Mi", "2G"]), pods=rng.choice(["110", "110", "2", "3"]),
                labels=labels, taints=taints, unschedulable=rng.random() < 0.1, **extra)


def _random_expression(rng: random.Random) -> Obj:
    key = rng.choice(["disk", ZONE, "cores", "gpu"])
    operator = rng.choice(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] if key == "cores"
                          else ["In", "NotIn", "Exists", "DoesNotExist"])
    if operator in ("Exists", "DoesNotExist"):
        return {"key": key, "operator": operator}
    if operator in ("Gt", "Lt"):
        return {"key": key, "operator": operator, "values": [str(rng.randrange(0, 9))]}
    values = {"disk": ["ssd", "hdd", "nvme"], ZONE: ["zone-a", "zone-b", "zone-c"], "cores": ["1", "2", "4"],
              "gpu": ["yes"]}[key]
    return {"key": key, "operator": operator, "values": rng.sample(values, rng.randrange(1, len(values) + 1))}


def _random_toleration(rng: random.Random) -> Obj:
    key = rng.choice(["dedicated", "dedicated", "spot", "maintenance", ""])
    toleration: Obj = {"key": key} if key else {}
    if not key or rng.random() < 0.4:
        toleration["operator"] = "Exists"
    else:
        if rng.random() < 0.5:
            toleration["operator"] = "Equal"
        toleration["value"] = rng.choice(["gpu", "db", ""])
    if rng.random() < 0.6:
        toleration["effect"] = rng.choice(["NoSchedule", "NoExecute", "PreferNoSchedule"])
    return toleration


def random_pod(rng: random.Random, name: str) -> Obj:
    """A pending pod with random requests, node selector, affinity, tolerations and anti-affinity."""
    containers = []
    for i in range(rng.randrange(1, 3)):
        requests = {}
        for resource, chance in (("cpu", 0.7), ("memory", 0.6), ("example.com/gpu", 0.1), ("ephemeral-storage", 0.1)):
            if rng.random() < chance:
                requests[resource] = _random_request(rng, resource)
        container: Obj = {"name": f"c{i}", "image": "busybox"}
        if requests:
            container["resources"] = {"requests": requests}
        containers.append(container)
    spec: Obj = {"containers": containers}
    if rng.random() < 0.2:
        spec["nodeSelector"] = {"disk": rng.choice(["ssd", "hdd"])}
    affinity: Obj = {}
    if rng.random() < 0.3:
        node_terms = [{"matchExpressions": [_random_expression(rng) for _ in range(rng.randrange(0, 3))]}
                      for _ in range(rng.randrange(1, 3))]
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": node_terms}}
    if rng.random() < 0.35:
        terms: list[Obj] = [{"topologyKey": rng.choice(["kubernetes.io/hostname", ZONE]),
                              "labelSelector": {"matchLabels": {"app": rng.choice(["web", "db", "cache"])}
                                                if rng.random() < 0.9 else {}}}
                             for _ in range(rng.randrange(1, 3))]
        for term in terms:
            if rng.random() < 0.2:
                term["namespaces"] = rng.sample(["default", "team-a"], rng.randrange(1, 3))
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": terms}
    if affinity:
        spec["affinity"] = affinity
    if rng.random() < 0.5:
        spec["tolerations"] = [_random_toleration(rng) for _ in range(rng.randrange(1, 3))]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": rng.choice(["default", "default", "team-a"]),
                         "labels": {"app": rng.choice(["web", "db", "cache"])}},
            "spec": spec, "status": {"phase": "Pending"}}


def random_cluster(rng: random.Random) -> tuple[Obj, list[Obj], list[Obj]]:
    """``(pod, nodes, pods)``: a pending pod, up to five nodes, and up to eight pods placed on them."""
    nodes = [random_node(rng, f"node-{i}") for i in range(1, rng.randrange(1, 6) + 1)]
    pods = []
    for i in range(rng.randrange(0, 9)):
        existing = random_pod(rng, f"old-{i}")
        existing["spec"].pop("affinity", None)
        pods.append(placed(existing, rng.choice(nodes)["metadata"]["name"], existing["metadata"]["namespace"]))
    return random_pod(rng, "new"), nodes, pods


def random_reasons(rng: random.Random) -> tuple[int, dict[str, list[str]]]:
    """``(num_nodes, {node: reasons})`` as a scheduler collects them; some nodes may have none."""
    pool = ["Insufficient cpu", "Insufficient memory", "Too many pods", UNSCHEDULABLE, NODE_AFFINITY,
            ANTI_AFFINITY, taint_reason(GPU_TAINT), taint_reason({"key": "spot", "value": ""})]
    num_nodes = rng.randrange(1, 40)
    reasons = {}
    for i in rng.sample(range(num_nodes), rng.randrange(1, num_nodes + 1)):
        reasons[f"node-{i}"] = rng.sample(pool[:3], rng.randrange(1, 4)) if rng.random() < 0.3 else [rng.choice(pool)]
    return num_nodes, reasons


def same_as_reference(task: str, function: Callable[..., Any], case: tuple[Any, ...]) -> None:
    """Fail unless ``function(*case)`` answers as kubelab's ``task`` does (an ``Unschedulable`` message included)."""
    want = _answer(getattr(_Reference, task), case)
    got = _answer(function, case)
    expect_equal(got, want, what=f"{task}(...)")


def _answer(function: Callable[..., Any], case: tuple[Any, ...]) -> Any:
    try:
        return function(*case)
    except Unschedulable as e:
        return f"Unschedulable: {e}"


def graded(function: Callable[..., Any], task: str) -> Callable[..., Any]:
    """The learner's ``function`` for ``task``, calling kubelab's answers for every other task."""
    return alone(function, **{name: ref for name, ref in REFERENCES.items() if name != task})


def scheduler_with(method: str, function: Any, name: str, **references: Any) -> SchedulerLoop:
    """A :class:`ReferenceScheduler` called ``name`` whose ``method`` is the learner's ``function``."""
    from kubelab.lab.hybrid import hybrid

    scheduler: SchedulerLoop = hybrid(ReferenceScheduler, **{method: function})(name, **references)
    return scheduler


# -- the visible checks ----------------------------------------------------------------------------

check = Checks("03-scheduler")


@check.task("amount", "amount", title="amount")
def _amount(amount: Any) -> None:
    for resource, quantity, want in [("cpu", "500m", 500), ("cpu", "2", 2000), ("cpu", "0.1", 100),
                                     ("memory", "1Gi", 1024**3), ("memory", "128M", 128 * 10**6),
                                     ("memory", "1.5Ki", 1536), ("pods", "110", 110)]:
        expect_equal(amount(resource, quantity), want, what=f"amount({resource!r}, {quantity!r})")


@check.task("fits_resources", "fits_resources", title="fits_resources")
def _fits_resources(fits_resources: Any) -> None:
    fits = graded(fits_resources, "fits_resources")
    node1, node2, _ = SAMPLE_NODES
    expect_equal(fits(pod("a", cpu="1"), node1, on_node(SAMPLE_PODS, "node-1")), [],
                 what="fits_resources(a pod asking for 1 CPU, node-1 with 1 of its 2 CPUs taken)")
    expect_equal(fits(pod("a", cpu="1100m"), node1, on_node(SAMPLE_PODS, "node-1")), ["Insufficient cpu"],
                 what="fits_resources(a pod asking for 1100m CPU, node-1 with 1 of its 2 CPUs taken)")
    expect_equal(fits(pod("a", cpu="600m", memory="3Gi"), node2, on_node(SAMPLE_PODS, "node-2")),
                 ["Insufficient cpu", "Insufficient memory"],
                 what="fits_resources(600m and 3Gi, node-2: 500m of 1 CPU and 2Gi of 4Gi taken)")
    expect_equal(fits(pod("a", cpu="600m", memory="3Gi"), node1, []), [],
                 what="fits_resources(600m and 3Gi, an empty node-1)")
    full = on_node(SAMPLE_PODS, "node-2") + [placed(pod("x"), "node-2")]
    expect_equal(fits(pod("a", memory="3Gi"), node2, full), ["Too many pods", "Insufficient memory"],
                 what="fits_resources(3Gi, node-2 already running its 3 pods and 2Gi)")


@check.task("matches_node_affinity", "matches_node_affinity", title="matches_node_affinity")
def _matches_node_affinity(matches_node_affinity: Any) -> None:
    node1, node2, _ = SAMPLE_NODES
    ssd = pod("a", nodeSelector={"disk": "ssd"})
    expect_equal(matches_node_affinity(ssd, node1), True, what="nodeSelector disk=ssd on node-1 (disk=ssd)")
    expect_equal(matches_node_affinity(ssd, node2), False, what="nodeSelector disk=ssd on node-2 (disk=hdd)")
    expect_equal(matches_node_affinity(pod("a"), node2), True, what="a pod with no nodeSelector nor affinity, on node-2")
    zone_b = pod("a", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-b", "zone-c"]}]},
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]},
                              {"key": "gpu", "operator": "DoesNotExist"}]}]}}})
    expect_equal([matches_node_affinity(zone_b, n) for n in SAMPLE_NODES], [True, False, True],
                 what="required affinity 'zone in (zone-b, zone-c), or disk=ssd without a gpu label' on nodes 1, 2, 3")


@check.task("untolerated_taint", "untolerated_taint", title="untolerated_taint")
def _untolerated_taint(untolerated_taint: Any) -> None:
    node1, _, node3 = SAMPLE_NODES
    expect_equal(untolerated_taint(pod("a"), node3), GPU_TAINT, what="untolerated_taint(a pod without tolerations, node-3)")
    expect_equal(untolerated_taint(pod("a"), node1), None, what="untolerated_taint(a pod, node-1 without taints)")
    tolerates = pod("a", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    expect_equal(untolerated_taint(tolerates, node3), None, what="untolerated_taint(a pod tolerating dedicated=gpu:NoSchedule, node-3)")
    other = pod("a", tolerations=[{"key": "dedicated", "value": "db"}])
    expect_equal(untolerated_taint(other, node3), GPU_TAINT, what="untolerated_taint(a pod tolerating dedicated=db, node-3)")
    soft = node("soft", taints=[{"key": "spot", "effect": "PreferNoSchedule"}])
    expect_equal(untolerated_taint(pod("a"), soft), None, what="untolerated_taint(a pod, a node with only a PreferNoSchedule taint)")


@check.task("anti_affinity_violated", "anti_affinity_violated", title="anti_affinity_violated")
def _anti_affinity_violated(anti_affinity_violated: Any) -> None:
    def away(key: str) -> Obj:
        return sample(pod("web-2", labels={"app": "web"}, affinity={"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": key, "labelSelector": {"matchLabels": {"app": "web"}}}]}}))

    hosts = [anti_affinity_violated(away("kubernetes.io/hostname"), n, SAMPLE_NODES, SAMPLE_PODS) for n in SAMPLE_NODES]
    expect_equal(hosts, [True, False, False], what="away from app=web pods by hostname, on nodes 1, 2, 3 (web-1 runs on node-1)")
    zones = [anti_affinity_violated(away(ZONE), n, SAMPLE_NODES, SAMPLE_PODS) for n in SAMPLE_NODES]
    expect_equal(zones, [True, True, False], what="away from app=web pods by zone, on nodes 1, 2, 3 (nodes 1 and 2 share zone-a)")
    expect_equal(anti_affinity_violated(sample(pod("free")), SAMPLE_NODES[0], SAMPLE_NODES, SAMPLE_PODS), False,
                 what="a pod without anti-affinity, on node-1")


@check.task("least_allocated_score", "least_allocated_score", title="least_allocated_score")
def _least_allocated_score(least_allocated_score: Any) -> None:
    score = graded(least_allocated_score, "least_allocated_score")
    node1 = SAMPLE_NODES[0]
    expect_equal(score(pod("a", cpu="500m", memory="1Gi"), node1, []), 75,
                 what="least_allocated_score(500m and 1Gi, an empty node of 2 CPUs and 4Gi)")
    expect_equal(score(pod("a", cpu="500m", memory="1Gi"), node1, on_node(SAMPLE_PODS, "node-1")), 37,
                 what="least_allocated_score(500m and 1Gi, node-1 where 1 CPU and 1Gi are taken: (25 + 50) // 2)")
    expect_equal(score(pod("a"), node1, []), 95,
                 what="least_allocated_score(a pod asking for nothing, counted as 100m and 200Mi, an empty node-1)")
    expect_equal(score(pod("a", cpu="3"), node1, []), 47,
                 what="least_allocated_score(3 CPUs, more than node-1 has: cpu scores 0, memory 95)")


@check.task("failure_message", "failure_message", title="failure_message")
def _failure_message(failure_message: Any) -> None:
    reasons = {"node-1": ["Insufficient cpu"], "node-2": ["Insufficient cpu"], "node-3": [taint_reason(GPU_TAINT)]}
    expect_equal(failure_message(3, reasons),
                 "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.",
                 what="failure_message(3, two nodes short of cpu, one tainted)")
    expect_equal(failure_message(2, {"a": ["Too many pods", "Insufficient memory"], "b": ["Insufficient memory"]}),
                 "0/2 nodes are available: 1 Too many pods, 2 Insufficient memory.",
                 what="failure_message(2, a node full and short of memory, another short of memory)")


@check.task("schedule", "schedule", title="schedule")
def _schedule(schedule: Any) -> None:
    mine = graded(schedule, "schedule")
    expect_equal(mine(sample(pod("a", cpu="500m")), SAMPLE_NODES, SAMPLE_PODS), "node-1",
                 what="schedule(500m, on the sample nodes): node-3 is tainted, node-1 has the most room left")
    expect_equal(mine(sample(pod("a", cpu="500m", tolerations=[{"key": "dedicated", "operator": "Exists"}])),
                      SAMPLE_NODES, SAMPLE_PODS), "node-3",
                 what="schedule(500m, tolerating node-3's taint): the empty node-3 has the most room")
    error = expect_raises(Unschedulable, mine, sample(pod("a", cpu="1500m")), SAMPLE_NODES, SAMPLE_PODS,
                          what="schedule(1500m, on the sample nodes)")
    expect_equal(str(error), "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.",
                 what="the message of Unschedulable for 1500m")
    error = expect_raises(Unschedulable, mine, sample(pod("a")), [], [], what="schedule(a pod, no nodes at all)")
    expect_equal(str(error), NO_NODES, what="the message of Unschedulable with no nodes")


def _loop_check(function: Any, cluster: LabCluster, method: str) -> None:
    scheduler = scheduler_with(method, function, f"check-{method.replace('_', '-')}")
    suffix = random.Random().randrange(10**6)
    fits, too_big = f"fits-{suffix}", f"too-big-{suffix}"
    seen = outcomes(cluster, [pod(fits, cpu="100m"), pod(too_big, cpu="1000")], scheduler=scheduler)
    expect_true(seen[fits] in NODE_SETUP and seen[fits] != "node-3",
                f"pod {fits} (100m) should be bound to node-1 or node-2, but it ended {seen[fits]!r}")
    want = "failed: 0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
    expect_equal(seen[too_big], want, what=f"what happened to pod {too_big} (1000 CPUs)")
    if method == "bind":
        scheduled = [e for e in events_about(cluster, fits) if e["reason"] == "Scheduled"]
        expect_true(bool(scheduled), f"pod {fits} was bound, but no Scheduled event says so")
        expect_equal(scheduled[-1]["message"], f"Successfully assigned default/{fits} to {seen[fits]}",
                     what="the Scheduled event's message")


@check.task("bind", "bind", "cluster", title="bind")
def _bind(bind: Any, cluster: LabCluster) -> None:
    _loop_check(bind, cluster, "bind")


@check.task("record_failure", "record_failure", "cluster", title="record_failure")
def _record_failure(record_failure: Any, cluster: LabCluster) -> None:
    _loop_check(record_failure, cluster, "record_failure")


@check.task("schedule_pending", "schedule_pending", "cluster", title="schedule_pending")
def _schedule_pending(schedule_pending: Any, cluster: LabCluster) -> None:
    _loop_check(schedule_pending, cluster, "schedule_pending")
