"""The DaemonSet controller: one pod on every node that should run it.

Mirrors ``pkg/controller/daemon`` (``daemon_controller.go``, ``update.go``, ``util``). A node
should run the DaemonSet's pod when it matches the template's ``nodeName``, ``nodeSelector``
and required node affinity, and its NoSchedule / NoExecute taints are tolerated. Every
DaemonSet pod tolerates, besides what the template says, ``not-ready`` and ``unreachable``
(NoExecute, forever: node trouble never evicts it), memory / disk / PID pressure and
``unschedulable`` (so ``kubectl drain`` leaves it), and ``network-unavailable`` with
``hostNetwork``. A pod whose node stops qualifying goes, unless only a NoSchedule taint
came (it tolerates the running pods).

Pods are bound **by the scheduler**, as upstream does since 1.12: each is created with a
required node affinity ``matchFields: metadata.name In [<node>]``, so the scheduler can only
put it there (and accounts for its resources). Failed pods are deleted and replaced, with a
back-off. Each template is a ControllerRevision; pods carry its hash in
``controller-revision-hash``. **RollingUpdate** replaces old pods node by node, at most
``maxUnavailable`` unavailable at once, or, with ``maxSurge``, starts the new pod before
deleting the old one; **OnDelete** waits for you to delete them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubelab import errors
from kubelab.api.meta import parse_time
from kubelab.api.selectors import LabelSelector, NodeSelector, SelectorError
from kubelab.client import Client, Resource
from kubelab.controllers import taints as taintutil
from kubelab.controllers.deployment_util import compute_hash, scaled_value
from kubelab.controllers.history import CONTROLLER_REVISION_HASH_LABEL, History, template_patch
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.pod_control import PodControl
from kubelab.controllers.podutil import is_pod_available, is_pod_ready
from kubelab.controllers.ref_manager import (
    ControllerRefManager,
    controller_of,
    controller_ref,
    recheck_deletion_timestamp,
)
from kubelab.controllers.replicaset import (
    BURST_REPLICAS,
    SLOW_START_INITIAL_BATCH_SIZE,
    pod_key,
    slow_start_batch,
)
from kubelab.runtime import (
    Clock,
    Controller,
    EventRecorder,
    Informer,
    ReadOnlyDict,
    Result,
    UIDTrackingControllerExpectations,
    deep_copy,
    meta_namespace_key,
    split_meta_namespace_key,
)
from kubelab.scheduler.plugins.helper import find_matching_untolerated_taint

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

STATUS_FIELDS = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
                 "updatedNumberScheduled", "numberAvailable", "numberUnavailable")
FAILED_POD_BACKOFF, MAX_FAILED_POD_BACKOFF = 1.0, 900.0


def daemon_pod_tolerations(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The template's tolerations plus the ones every daemon pod has (``AddOrUpdateDaemonPodTolerations``)."""
    tolerations = [dict(t) for t in spec.get("tolerations") or ()]
    extra = [
        (taintutil.NOT_READY, "NoExecute"), (taintutil.UNREACHABLE, "NoExecute"),
        (taintutil.DISK_PRESSURE, "NoSchedule"), (taintutil.MEMORY_PRESSURE, "NoSchedule"),
        (taintutil.PID_PRESSURE, "NoSchedule"), (taintutil.UNSCHEDULABLE, "NoSchedule"),
    ]
    if spec.get("hostNetwork"):
        extra.append((taintutil.NETWORK_UNAVAILABLE, "NoSchedule"))
    for key, effect in extra:
        toleration = {"key": key, "operator": "Exists", "effect": effect}
        same = [i for i, t in enumerate(tolerations)
                if (t.get("key"), t.get("operator") or "Equal", t.get("value") or "", t.get("effect")) ==
                (key, "Exists", "", effect)]
        if same:
            tolerations[same[0]] = toleration
        else:
            tolerations.append(toleration)
    return tolerations


def target_node_affinity(affinity: Mapping[str, Any] | None, node: str) -> dict[str, Any]:
    """The pod's affinity with its required node terms replaced by ``metadata.name In [node]``.

    (``ReplaceDaemonSetPodNodeNameNodeAffinity``: the scheduler then has one choice.)
    """
    copy: dict[str, Any] = deep_copy(affinity or {})
    node_affinity = copy.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
    return copy


def target_node_name(pod: Obj) -> str:
    """The node a daemon pod is for: its ``nodeName``, else the node its affinity pins (``GetTargetNodeName``)."""
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        return str(node)
    required = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or ():
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and len(field.get("values") or ()) == 1:
                return str(field["values"][0])
    return ""


def node_should_run_daemon_pod(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """``(should run, should continue running)`` a DaemonSet's pod on ``node`` (``NodeShouldRunDaemonPod``)."""
    spec = ds["spec"]["template"].get("spec") or {}
    name = node["metadata"]["name"]
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    labels = node["metadata"].get("labels") or {}
    if spec.get("nodeSelector") and not LabelSelector.from_set(spec["nodeSelector"]).matches(labels):
        return False, False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None and not NodeSelector.from_spec(required).matches(node):
        return False, False
    tolerations = daemon_pod_tolerations(spec)
    taints = taintutil.node_taints(node)
    if find_matching_untolerated_taint(taints, tolerations, ("NoSchedule", "NoExecute")) is not None:
        # Running pods stay unless a NoExecute taint is not tolerated.
        return False, find_matching_untolerated_taint(taints, tolerations, ("NoExecute",)) is None
    return True, True


def pod_template(ds: Obj, hash: str) -> dict[str, Any]:
    """The DaemonSet's pod template with the daemon tolerations and the revision hash label (``CreatePodTemplate``)."""
    template = deep_copy(ds["spec"]["template"])
    template.setdefault("spec", {})["tolerations"] = daemon_pod_tolerations(template["spec"])
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), CONTROLLER_REVISION_HASH_LABEL: hash}
    return template  # type: ignore[no-any-return]


def is_pod_updated(pod: Obj, hash: str) -> bool:
    return bool(hash) and (pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL) == hash


def by_creation_and_phase(pod: Obj) -> tuple[bool, float, str]:
    """Scheduled pods first, then oldest first (``podByCreationTimestampAndPhase``)."""
    created = pod["metadata"].get("creationTimestamp")
    return (not (pod.get("spec") or {}).get("nodeName"), parse_time(created) if created else 0.0,
            pod["metadata"]["name"])


def updated_pods_on_node(pods: Sequence[Obj], hash: str) -> tuple[Obj | None, Obj | None, bool]:
    """``(new pod, old pod, ok)`` on one node; not ok when there are several of either (``findUpdatedPodsOnNode``)."""
    new = old = None
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        if is_pod_updated(pod, hash):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


class FailedPodBackoff:
    """How long to wait before killing yet another failed pod on a node: 1 s, doubling to 15 min."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._entries: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def in_backoff(self, key: str) -> float:
        """Seconds still to wait (0 if none)."""
        with self._lock:
            delay, last = self._entries.get(key, (0.0, 0.0))
        return max(0.0, last + delay - self.clock.now())

    def next(self, key: str) -> None:
        with self._lock:
            delay, last = self._entries.get(key, (0.0, 0.0))
            now = self.clock.now()
            if now - last > 2 * MAX_FAILED_POD_BACKOFF:
                delay = 0.0
            self._entries[key] = (min(max(delay * 2, FAILED_POD_BACKOFF), MAX_FAILED_POD_BACKOFF), now)


class DaemonSetController:
    """Runs DaemonSets: a pod on each eligible node, rolled out node by node."""

    name = "daemonset"
    component = "daemonset-controller"
    kind, api_version = "DaemonSet", "apps/v1"

    def __init__(self, *, workers: int = 2, burst_replicas: int = BURST_REPLICAS) -> None:
        self.workers = workers
        self.burst_replicas = burst_replicas

    # -- wiring -----------------------------------------------------------------------------------

    def start(self, context: ControllerContext) -> None:
        """Watch DaemonSets, pods, nodes and revisions; start the workers."""
        self.client: Client = context.client
        self.clock: Clock = context.clock
        self.recorder: EventRecorder = context.recorder(self.component)
        self.pod_control = PodControl(context.client, self.recorder)
        self.expectations = UIDTrackingControllerExpectations(context.clock)
        self.backoff = FailedPodBackoff(context.clock)
        self.history = History(context.client)
        self.sets_api: Resource = context.client.resource(self.api_version, "daemonsets")
        self.pods_api: Resource = context.client.resource("v1", "pods")
        self.revisions_api: Resource = context.client.resource("apps/v1", "controllerrevisions")
        self.sets: Informer = context.informers.informer(self.api_version, "daemonsets")
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.nodes: Informer = context.informers.informer("v1", "nodes")
        self.revisions: Informer = context.informers.informer("apps/v1", "controllerrevisions")
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix=self.component)
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        for informer in (self.sets, self.pods, self.nodes, self.revisions):
            self.controller.waits_for(informer)
        self.sets.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._delete_set)
        self.pods.add_event_handler(self._add_pod, self._update_pod, self._delete_pod)
        self.nodes.add_event_handler(self._node_changed, self._node_updated)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.executor.shutdown(wait=True)

    # -- handlers -------------------------------------------------------------------------------------

    def _enqueue(self, ds: Obj) -> None:
        self.controller.queue.add(meta_namespace_key(ds))

    def _delete_set(self, ds: ReadOnlyDict) -> None:
        self.expectations.delete_expectations(meta_namespace_key(ds))
        self._enqueue(ds)

    def _set_of(self, pod: Obj) -> ReadOnlyDict | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        ds = self.sets.cache.get(ref["name"], pod["metadata"]["namespace"])
        return ds if ds is not None and ds["metadata"].get("uid") == ref.get("uid") else None

    def _sets_selecting(self, pod: Obj) -> list[ReadOnlyDict]:
        matching = []
        for ds in self.sets.cache.list(pod["metadata"]["namespace"]):
            try:
                selector = LabelSelector.from_label_selector(ds["spec"].get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(pod["metadata"].get("labels")):
                matching.append(ds)
        return matching

    def _add_pod(self, pod: ReadOnlyDict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._delete_pod(pod)
            return
        ds = self._set_of(pod)
        if ds is not None:
            key = meta_namespace_key(ds)
            self.expectations.creation_observed(key)
            self.controller.queue.add(key)
        elif controller_of(pod) is None:
            for candidate in self._sets_selecting(pod):
                self._enqueue(candidate)

    def _update_pod(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if new["metadata"].get("deletionTimestamp"):
            self._delete_pod(new)
            return
        old_ds, ds = self._set_of(old), self._set_of(new)
        if old_ds is not None and (ds is None or old_ds["metadata"]["uid"] != ds["metadata"]["uid"]):
            self._enqueue(old_ds)
        if ds is not None:
            self._enqueue(ds)
            min_ready = int(ds["spec"].get("minReadySeconds") or 0)
            if min_ready and not is_pod_ready(old) and is_pod_ready(new):
                self.controller.queue.add_after(meta_namespace_key(ds), min_ready + 1)
        elif controller_of(new) is None:
            for candidate in self._sets_selecting(new):
                self._enqueue(candidate)

    def _delete_pod(self, pod: ReadOnlyDict) -> None:
        ds = self._set_of(pod)
        if ds is None:
            return
        key = meta_namespace_key(ds)
        self.expectations.deletion_observed(key, pod_key(pod))
        self.controller.queue.add(key)

    def _node_changed(self, node: ReadOnlyDict) -> None:
        for ds in self.sets.cache.list():
            self._enqueue(ds)

    def _node_updated(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        """Only what decides where daemon pods run: labels, taints, and the node's own name."""
        def placement(node: Obj) -> tuple[Any, ...]:
            return node["metadata"].get("labels"), (node.get("spec") or {}).get("taints")
        if placement(old) != placement(new):
            self._node_changed(new)

    # -- reconcile (syncDaemonSet) ----------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        """Converge one DaemonSet's pods to its eligible nodes, roll it, and write its status."""
        namespace, name = split_meta_namespace_key(key)
        cached = self.sets.cache.get(name, namespace)
        if cached is None:
            self.expectations.delete_expectations(key)
            return None
        ds = deep_copy(cached)
        if ds["spec"].get("selector") == {}:
            self.recorder.event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return None
        if ds["metadata"].get("deletionTimestamp"):
            return None
        nodes = self.nodes.cache.list()
        current, old = self.construct_history(ds)
        hash = current["metadata"]["labels"][CONTROLLER_REVISION_HASH_LABEL]
        requeue: float | None = None
        error: Exception | None = None
        if self.expectations.satisfied_expectations(key):
            try:
                requeue = self.manage(ds, nodes, hash)
                if self.expectations.satisfied_expectations(key) \
                        and (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
                    self.rolling_update(ds, nodes, hash)
                self.cleanup_history(ds, old)
            except Exception as e:
                error = e
            self.update_status(ds, nodes, hash, observed=True)
        else:
            # Only the counts: the generation has not been acted on yet.
            self.update_status(ds, nodes, hash, observed=False)
        if error is not None:
            raise error
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        status = ds.get("status") or {}
        if min_ready and status.get("numberReady") != status.get("numberAvailable"):
            requeue = min(requeue or min_ready, min_ready)
        return Result(requeue_after=requeue) if requeue else None

    def pods_by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        """The DaemonSet's pods (claimed: adopted or released as its selector says), by target node."""
        selector = LabelSelector.from_label_selector(ds["spec"].get("selector"))
        manager = ControllerRefManager(self.pods_api, ds, selector, recheck_deletion_timestamp(self.client, ds))
        by_node: dict[str, list[Obj]] = {}
        for pod in manager.claim(self.pods.cache.list(ds["metadata"]["namespace"])):
            node = target_node_name(pod)
            if node:
                by_node.setdefault(node, []).append(pod)
        return by_node

    def manage(self, ds: Obj, nodes: Sequence[Obj], hash: str) -> float | None:
        """Create the missing daemon pods and delete the ones that should not run; seconds to look again, if any."""
        by_node = self.pods_by_node(ds)
        needing: list[str] = []
        to_delete: list[Obj] = []
        retry: float | None = None
        for node in nodes:
            need, delete, wait = self.pods_should_be_on_node(node, by_node, ds, hash)
            needing += need
            to_delete += delete
            if wait:
                retry = wait if retry is None else min(retry, wait)
        names = {n["metadata"]["name"] for n in nodes}
        # Pods for nodes that are gone were never scheduled: the scheduler cannot bind them, nothing else deletes them.
        for node_name, pods in by_node.items():
            if node_name not in names:
                to_delete += [p for p in pods if not (p.get("spec") or {}).get("nodeName")
                              and not p["metadata"].get("deletionTimestamp")]
        self.sync_nodes(ds, to_delete, needing, hash)
        return retry

    def pods_should_be_on_node(self, node: Obj, by_node: Mapping[str, list[Obj]], ds: Obj,
                               hash: str) -> tuple[list[str], list[Obj], float]:
        """``(nodes needing a pod, pods to delete, seconds to wait on a failed-pod back-off)`` for one node."""
        name = node["metadata"]["name"]
        should_run, should_continue = node_should_run_daemon_pod(node, ds)
        pods = by_node.get(name)
        if should_run and not pods:
            return [name], [], 0.0
        if not should_continue:
            return [], [p for p in pods or () if not p["metadata"].get("deletionTimestamp")], 0.0
        to_delete, running, wait = [], [], 0.0
        for pod in pods or ():
            if pod["metadata"].get("deletionTimestamp"):
                continue
            phase = (pod.get("status") or {}).get("phase")
            where = f"{pod['metadata']['namespace']}/{pod['metadata']['name']} on node {name}"
            if phase == "Failed":
                # Kubelets may keep rejecting a pod: back off rather than fight them.
                backoff_key = f"{ds['metadata']['uid']}/{name}"
                remaining = self.backoff.in_backoff(backoff_key)
                if remaining > 0:
                    wait = remaining
                    continue
                self.backoff.next(backoff_key)
                self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                    f"Found failed daemon pod {where}, will try to kill it")
                to_delete.append(pod)
            elif phase == "Succeeded":
                self.recorder.event(ds, "Normal", "SucceededDaemonPod",
                                    f"Found succeeded daemon pod {where}, will try to delete it")
                to_delete.append(pod)
            else:
                running.append(pod)
        running.sort(key=by_creation_and_phase)
        if not self.max_surge_configured(ds):
            # One pod per node: keep the oldest.
            return [], to_delete + running[1:], wait
        if len(running) <= 1:
            return ([name] if not running and should_run else []), to_delete, wait
        # Surging: keep the oldest new pod, and the oldest old one only while the new one is not available.
        newest = oldest_old = None
        for pod in running:
            if is_pod_updated(pod, hash) and newest is None:
                newest = pod
            elif not is_pod_updated(pod, hash) and oldest_old is None:
                oldest_old = pod
            else:
                to_delete.append(pod)
        if newest is not None and oldest_old is not None and (
                not is_pod_ready(oldest_old)
                or is_pod_available(newest, int(ds["spec"].get("minReadySeconds") or 0), self.clock.wall())):
            to_delete.append(oldest_old)
        return [], to_delete, wait

    def max_surge_configured(self, ds: Obj) -> bool:
        strategy = ds["spec"].get("updateStrategy") or {}
        surge = (strategy.get("rollingUpdate") or {}).get("maxSurge")
        return strategy.get("type", "RollingUpdate") == "RollingUpdate" and surge not in (None, 0, "0", "0%")

    def sync_nodes(self, ds: Obj, to_delete: Sequence[Obj], needing: Sequence[str], hash: str) -> None:
        """Create a pod for each node in ``needing`` (slow start) and delete ``to_delete``; raise the first failure."""
        key = meta_namespace_key(ds)
        needing = list(needing)[:self.burst_replicas]
        to_delete = list(to_delete)[:self.burst_replicas]
        # Expected before acting: the informer may show the results before the calls return.
        self.expectations.expect_deletions(key, [pod_key(p) for p in to_delete])
        self.expectations.raise_expectations(key, len(needing), 0)
        template = pod_template(ds, hash)
        owner = controller_ref(ds)
        remaining = iter(needing)
        lock = threading.Lock()

        def create() -> None:
            with lock:
                node = next(remaining)
            pod_template_for_node = deep_copy(template)
            pod_template_for_node["spec"]["affinity"] = target_node_affinity(
                pod_template_for_node["spec"].get("affinity"), node)
            try:
                self.pod_control.create_pods(ds["metadata"]["namespace"], pod_template_for_node, ds, owner)
            except errors.ApiError as e:
                if any(c.get("reason") == "NamespaceTerminating" for c in e.details.get("causes") or ()):
                    return
                raise

        failures: list[Exception] = []
        if needing:
            created, error = slow_start_batch(len(needing), SLOW_START_INITIAL_BATCH_SIZE, create, self.executor)
            self.expectations.lower_expectations(key, len(needing) - created, 0)
            if error is not None:
                failures.append(error)

        def delete(pod: Obj) -> None:
            try:
                self.pod_control.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], ds)
            except errors.ClientError as e:
                self.expectations.deletion_observed(key, pod_key(pod))
                if not isinstance(e, errors.NotFound):
                    raise

        for future in [self.executor.submit(delete, p) for p in to_delete]:
            if future.exception() is not None:
                failures.append(future.exception())  # type: ignore[arg-type]
        if failures:
            raise failures[0]

    # -- rolling update (update.go) ---------------------------------------------------------------------

    def desired_counts(self, ds: Obj, nodes: Sequence[Obj], by_node: dict[str, list[Obj]]) -> tuple[int, int, int]:
        """``(max surge, max unavailable, desired number scheduled)`` (``updatedDesiredNodeCounts``)."""
        desired = 0
        for node in nodes:
            if node_should_run_daemon_pod(node, ds)[0]:
                desired += 1
                by_node.setdefault(node["metadata"]["name"], [])
        rolling = (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
        max_unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, True)
        max_surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
        if desired > 0 and max_unavailable == 0 and max_surge == 0:
            max_unavailable = 1
        return max_surge, max_unavailable, desired

    def rolling_update(self, ds: Obj, nodes: Sequence[Obj], hash: str) -> None:
        """Replace old pods: delete within maxUnavailable, or surge new pods within maxSurge."""
        by_node = self.pods_by_node(ds)
        max_surge, max_unavailable, desired = self.desired_counts(ds, nodes, by_node)
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = self.clock.wall()
        nodes_by_name = {n["metadata"]["name"]: n for n in nodes}
        if max_surge == 0:
            unavailable = 0
            replacements: list[Obj] = []
            candidates: list[Obj] = []
            for name in sorted(by_node):
                new, old, ok = updated_pods_on_node(by_node[name], hash)
                if not ok or (new is None) == (old is None):
                    # Several pods, or none, or both: the manage loop sorts this node out first.
                    unavailable += 1
                elif new is not None:
                    unavailable += not is_pod_available(new, min_ready, now)
                elif old is not None and not is_pod_available(old, min_ready, now):
                    replacements.append(old)
                    unavailable += 1
                elif old is not None and unavailable < max_unavailable:
                    candidates.append(old)
            allowed = min(max(0, max_unavailable - unavailable), len(candidates))
            self.sync_nodes(ds, replacements + candidates[:allowed], [], hash)
            return
        old_to_delete: list[Obj] = []
        should_not_run: list[Obj] = []
        candidate_nodes: list[str] = []
        allowed_nodes: list[str] = []
        surge = available = 0
        for name in sorted(by_node):
            new, old, ok = updated_pods_on_node(by_node[name], hash)
            if not ok:
                surge += 1
                continue
            if old is not None:
                available += is_pod_available(old, min_ready, now)
            elif new is not None:
                available += is_pod_available(new, min_ready, now)
            if old is None:
                continue
            node = nodes_by_name.get(name)
            if new is None:
                runs = node is not None and node_should_run_daemon_pod(node, ds)[0]
                if not is_pod_available(old, min_ready, now):
                    if runs:
                        allowed_nodes.append(name)
                    else:
                        old_to_delete.append(old)
                elif not runs:
                    should_not_run.append(old)
                elif surge < max_surge:
                    candidate_nodes.append(name)
            elif not is_pod_available(new, min_ready, now):
                surge += 1
            else:
                old_to_delete.append(old)
        # Pods on nodes no longer eligible go only as pods elsewhere become available.
        deletable = min(max(0, available - desired), len(should_not_run))
        old_to_delete += should_not_run[:deletable]
        allowed = min(max(0, max_surge - surge), len(candidate_nodes))
        self.sync_nodes(ds, old_to_delete, allowed_nodes + candidate_nodes[:allowed], hash)

    # -- history ----------------------------------------------------------------------------------------

    def construct_history(self, ds: dict[str, Any]) -> tuple[Obj, list[Obj]]:
        """``(current revision, old revisions)``: the current one made (or renumbered) to be the newest."""
        selector = LabelSelector.from_label_selector(ds["spec"].get("selector"))
        manager = ControllerRefManager(self.revisions_api, ds, selector, recheck_deletion_timestamp(self.client, ds))
        histories = manager.claim(self.revisions.cache.list(ds["metadata"]["namespace"]))
        patch = template_patch(ds)
        current = [h for h in histories if h.get("data") == patch]
        old = [h for h in histories if h.get("data") != patch]
        next_number = max((int(h.get("revision") or 0) for h in old), default=0) + 1
        if not current:
            return self.snapshot(ds, next_number), old
        current.sort(key=lambda h: int(h.get("revision") or 0), reverse=True)
        cur = current[0]
        for duplicate in current[1:]:
            self.history.delete(duplicate)
        if int(cur.get("revision") or 0) < next_number:
            cur = self.history.update_revision(cur, next_number)
        return cur, old

    def snapshot(self, ds: dict[str, Any], revision: int) -> Obj:
        """Save the DaemonSet's current template as a revision named ``<ds>-<hash>``."""
        status = ds.get("status") or {}
        hash = compute_hash(ds["spec"]["template"], status.get("collisionCount"))
        labels = {**((ds["spec"]["template"].get("metadata") or {}).get("labels") or {}),
                  CONTROLLER_REVISION_HASH_LABEL: hash}
        history: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": f"{ds['metadata']['name']}-{hash}", "namespace": ds["metadata"]["namespace"],
                         "labels": labels, "annotations": dict(ds["metadata"].get("annotations") or {}),
                         "ownerReferences": [controller_ref(ds)]},
            "data": template_patch(ds),
            "revision": revision,
        }
        try:
            return self.revisions_api.create(history)
        except errors.AlreadyExists:
            existing = self.revisions_api.get(history["metadata"]["name"], ds["metadata"]["namespace"])
            if existing.get("data") == history["data"]:
                return existing
            # Another template hashed to the same name: count the collision, and retry with a new name.
            fresh = self.sets_api.get(ds["metadata"]["name"], ds["metadata"]["namespace"])
            fresh.setdefault("status", {})["collisionCount"] = int(fresh["status"].get("collisionCount") or 0) + 1
            self.sets_api.update_status(fresh)
            raise

    def cleanup_history(self, ds: Obj, old: Sequence[Obj]) -> None:
        """Delete the oldest revisions no pod runs, beyond ``revisionHistoryLimit``."""
        excess = len(old) - int(ds["spec"].get("revisionHistoryLimit", 10))
        if excess <= 0:
            return
        live = {(p["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL)
                for pods in self.pods_by_node(ds).values() for p in pods}
        for history in sorted(old, key=lambda h: int(h.get("revision") or 0)):
            if excess <= 0:
                break
            if (history["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL) in live:
                continue
            self.history.delete(history)
            excess -= 1

    # -- status -------------------------------------------------------------------------------------------

    def update_status(self, ds: dict[str, Any], nodes: Sequence[Obj], hash: str, *, observed: bool) -> None:
        """Count desired, scheduled, misscheduled, ready, updated and available pods and write them."""
        by_node = self.pods_by_node(ds)
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = self.clock.wall()
        counts = dict.fromkeys(STATUS_FIELDS, 0)
        for node in nodes:
            should_run, _ = node_should_run_daemon_pod(node, ds)
            pods = by_node.get(node["metadata"]["name"]) or []
            if not should_run:
                counts["numberMisscheduled"] += bool(pods)
                continue
            counts["desiredNumberScheduled"] += 1
            if not pods:
                continue
            counts["currentNumberScheduled"] += 1
            pod = sorted(pods, key=by_creation_and_phase)[0]
            if is_pod_ready(pod):
                counts["numberReady"] += 1
                counts["numberAvailable"] += is_pod_available(pod, min_ready, now)
            counts["updatedNumberScheduled"] += is_pod_updated(pod, hash)
        counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
        status = ds.setdefault("status", {})
        generation = ds["metadata"].get("generation")
        if all(int(status.get(k) or 0) == v for k, v in counts.items()) \
                and (not observed or status.get("observedGeneration") == generation):
            return
        status.update(counts)
        for field in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"):
            if not status[field]:
                del status[field]
        if observed:
            status["observedGeneration"] = generation
        try:
            updated = self.sets_api.update_status(ds)
        except errors.Conflict:
            fresh = self.sets_api.get(ds["metadata"]["name"], ds["metadata"]["namespace"])
            fresh["status"] = {**(fresh.get("status") or {}), **status}
            updated = self.sets_api.update_status(fresh)
        ds["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
