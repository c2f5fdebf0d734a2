"""The ReplicaSet controller: keep ``spec.replicas`` pods running that match the template.

The reference solution of lab 04; mirrors ``pkg/controller/replicaset/replica_set.go``.
One reconcile of a ReplicaSet:

1. read it from the cache (gone? forget its expectations, done);
2. claim its pods: those it controls and still selects, plus matching orphans it adopts
   (pods that stop matching are released);
3. if its last creations and deletions have all been observed (expectations), create the
   missing pods in slow-start batches (1, 2, 4, ...) or delete the surplus, the least
   valuable first;
4. write the status last: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
   observedGeneration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubelab import errors
from kubelab.api.selectors import LabelSelector, SelectorError
from kubelab.client import Client, Resource
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.pod_control import PodControl
from kubelab.controllers.podutil import filter_active_pods, is_pod_available, is_pod_ready, rank_for_deletion
from kubelab.controllers.ref_manager import (
    ControllerRefManager,
    controller_of,
    controller_ref,
    recheck_deletion_timestamp,
)
from kubelab.runtime import (
    Clock,
    Controller,
    Informer,
    ReadOnlyDict,
    Result,
    UIDTrackingControllerExpectations,
    deep_copy,
    meta_namespace_key,
    rfc3339,
    split_meta_namespace_key,
)

log = logging.getLogger(__name__)

BURST_REPLICAS = 500
"""At most this many pods are created or deleted in one reconcile."""

SLOW_START_INITIAL_BATCH_SIZE = 1
CONTROLLER_UID_INDEX = "controllerUID"

Obj = Mapping[str, Any]


def controller_uid_index(obj: Obj) -> list[str]:
    """Index objects by the uid of their controller, to find a Deployment's ReplicaSets fast."""
    ref = controller_of(obj)
    return [ref["uid"]] if ref is not None and ref.get("uid") else []


def pod_key(pod: Obj) -> str:
    return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"


def slow_start_batch(count: int, initial_batch_size: int, fn: Callable[[], object],
                     executor: ThreadPoolExecutor) -> tuple[int, Exception | None]:
    """Call ``fn`` ``count`` times in doubling batches (1, 2, 4, ...) run concurrently; stop after a failing batch.

    Returns how many calls succeeded and the first failure. Starting small means that when
    every call would fail (a quota is exhausted, the namespace is being deleted) only one
    is made, not hundreds.
    """
    remaining, successes = count, 0
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        futures = [executor.submit(fn) for _ in range(batch)]
        failures = [f.exception() for f in futures if f.exception() is not None]
        successes += batch - len(failures)
        if failures:
            return successes, failures[0]  # type: ignore[return-value]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def replicas_of(obj: Obj) -> int:
    """``spec.replicas``, 1 when unset (the API server's default)."""
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def get_condition(status: Mapping[str, Any], type: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == type:
            return condition  # type: ignore[no-any-return]
    return None


class ReplicaSetController:
    """Runs ReplicaSets: creates and deletes pods so each has ``spec.replicas`` of them."""

    name = "replicaset"
    component = "replicaset-controller"
    kind, api_version = "ReplicaSet", "apps/v1"

    def __init__(self, *, workers: int = 5, burst_replicas: int = BURST_REPLICAS) -> None:
        self.workers = workers
        self.burst_replicas = burst_replicas

    # -- wiring -------------------------------------------------------------------------------

    def start(self, context: ControllerContext) -> None:
        """Register with the shared informers and start the workers (they wait for the caches)."""
        self.client: Client = context.client
        self.clock: Clock = context.clock
        self.pod_control = PodControl(context.client, context.recorder(self.component))
        self.expectations = UIDTrackingControllerExpectations(context.clock)
        self.replicasets_api: Resource = context.client.resource(self.api_version, "replicasets")
        self.pods_api: Resource = context.client.resource("v1", "pods")
        self.replicasets: Informer = context.informers.informer(
            self.api_version, "replicasets", indexers={CONTROLLER_UID_INDEX: controller_uid_index}
        )
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix=self.component)
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        self.controller.waits_for(self.replicasets)
        self.controller.waits_for(self.pods)
        self.replicasets.add_event_handler(self._add_replicaset, self._update_replicaset, self._delete_replicaset)
        self.pods.add_event_handler(self._add_pod, self._update_pod, self._delete_pod)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.executor.shutdown(wait=True)

    @property
    def queue(self) -> Any:
        return self.controller.queue

    # -- event handlers: only enqueue keys (and count expectations) --------------------------

    def _add_replicaset(self, rs: ReadOnlyDict) -> None:
        self.queue.add(meta_namespace_key(rs))

    def _update_replicaset(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("uid") != new["metadata"].get("uid"):
            # Deleted and recreated with the same name between two events.
            self._delete_replicaset(old)
        self.queue.add(meta_namespace_key(new))

    def _delete_replicaset(self, rs: ReadOnlyDict) -> None:
        key = meta_namespace_key(rs)
        # A new ReplicaSet with the same name must start with clean expectations.
        self.expectations.delete_expectations(key)
        self.queue.add(key)

    def _resolve_controller_ref(self, namespace: str, ref: Obj) -> ReadOnlyDict | None:
        """The ReplicaSet a controller reference points to, if it is one of ours and still that object."""
        if ref.get("kind") != self.kind:
            return None
        rs = self.replicasets.cache.get(ref["name"], namespace)
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return rs

    def _pod_replicasets(self, pod: Obj) -> list[ReadOnlyDict]:
        """ReplicaSets whose (non-empty) selector matches the pod: who might adopt this orphan."""
        labels = pod["metadata"].get("labels")
        matching = []
        for rs in self.replicasets.cache.list(pod["metadata"].get("namespace")):
            try:
                selector = LabelSelector.from_label_selector(rs["spec"].get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(labels):
                matching.append(rs)
        if len(matching) > 1:
            log.warning("more than one ReplicaSet selects pods with labels %s: that is a user error", dict(labels or {}))
        return matching

    def _add_pod(self, pod: ReadOnlyDict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            # Seen for the first time already being deleted (e.g. after a restart): not a creation.
            self._delete_pod(pod)
            return
        ref = controller_of(pod)
        if ref is not None:
            rs = self._resolve_controller_ref(pod["metadata"]["namespace"], ref)
            if rs is not None:
                key = meta_namespace_key(rs)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for rs in self._pod_replicasets(pod):
            self.queue.add(meta_namespace_key(rs))

    def _update_pod(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a resync: nothing changed
        labels_changed = old["metadata"].get("labels") != new["metadata"].get("labels")
        if new["metadata"].get("deletionTimestamp"):
            # Graceful deletion has begun: replace the pod now rather than when it is finally gone.
            self._delete_pod(new)
            if labels_changed:
                self._delete_pod(old)
            return
        new_ref, old_ref = controller_of(new), controller_of(old)
        ref_changed = new_ref != old_ref
        namespace = new["metadata"]["namespace"]
        if ref_changed and old_ref is not None:
            rs = self._resolve_controller_ref(namespace, old_ref)
            if rs is not None:
                self.queue.add(meta_namespace_key(rs))
        if new_ref is not None:
            rs = self._resolve_controller_ref(namespace, new_ref)
            if rs is None:
                return
            key = meta_namespace_key(rs)
            self.queue.add(key)
            min_ready = int(rs["spec"].get("minReadySeconds") or 0)
            if not is_pod_ready(old) and is_pod_ready(new) and min_ready > 0:
                # Check again once the pod has been ready long enough to count as available;
                # the extra second absorbs clock skew.
                self.queue.add_after(key, min_ready + 1)
            return
        if labels_changed or ref_changed:
            for rs in self._pod_replicasets(new):
                self.queue.add(meta_namespace_key(rs))

    def _delete_pod(self, pod: ReadOnlyDict) -> None:
        ref = controller_of(pod)
        if ref is None:
            return
        rs = self._resolve_controller_ref(pod["metadata"]["namespace"], ref)
        if rs is None:
            return
        key = meta_namespace_key(rs)
        self.expectations.deletion_observed(key, pod_key(pod))
        self.queue.add(key)

    # -- reconcile -------------------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        """Converge one ReplicaSet's pods to its spec and write its status."""
        namespace, name = split_meta_namespace_key(key)
        rs = self.replicasets.cache.get(name, namespace)
        if rs is None:
            self.expectations.delete_expectations(key)
            return None
        needs_sync = self.expectations.satisfied_expectations(key)
        try:
            selector = LabelSelector.from_label_selector(rs["spec"].get("selector"))
        except SelectorError as e:
            log.error("ReplicaSet %s has an invalid selector: %s", key, e)
            return None
        # Every pod in the namespace, not only matching ones: a pod we control whose labels
        # changed must still be found, to be released.
        pods = self.claim_pods(rs, selector, filter_active_pods(self.pods.cache.list(namespace)))

        manage_error: Exception | None = None
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            try:
                self.manage_replicas(pods, rs)
            except Exception as e:
                manage_error = e
        status = self.calculate_status(rs, pods, manage_error)
        updated = self.update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        min_ready = int(updated["spec"].get("minReadySeconds") or 0)
        replicas = replicas_of(updated)
        new_status = updated.get("status") or {}
        if min_ready > 0 and new_status.get("readyReplicas", 0) == replicas \
                and new_status.get("availableReplicas", 0) != replicas:
            # Ready pods become available only with time: look again then.
            return Result(requeue_after=min_ready)
        return None

    def claim_pods(self, rs: Obj, selector: LabelSelector, pods: Sequence[Obj]) -> list[Obj]:
        """The pods ``rs`` controls, adopting matching orphans and releasing pods that no longer match."""
        manager = ControllerRefManager(self.pods_api, rs, selector, recheck_deletion_timestamp(self.client, rs))
        return manager.claim(pods)

    def manage_replicas(self, pods: Sequence[Obj], rs: Obj) -> None:
        """Create or delete pods so that ``rs`` has ``spec.replicas`` of them; raise the first failure."""
        key = meta_namespace_key(rs)
        namespace = rs["metadata"]["namespace"]
        diff = len(pods) - replicas_of(rs)
        if diff < 0:
            missing = min(-diff, self.burst_replicas)
            # Expect them before creating any: their watch events may arrive before create returns.
            self.expectations.expect_creations(key, missing)
            template, owner = rs["spec"]["template"], controller_ref(rs)

            def create() -> None:
                try:
                    self.pod_control.create_pods(namespace, template, rs, owner)
                except errors.ApiError as e:
                    if not any(c.get("reason") == "NamespaceTerminating" for c in e.details.get("causes") or ()):
                        raise

            created, error = slow_start_batch(missing, SLOW_START_INITIAL_BATCH_SIZE, create, self.executor)
            # Pods never attempted, or failed, will never be observed: stop expecting them.
            self.expectations.lower_expectations(key, missing - created, 0)
            if error is not None:
                raise error
        elif diff > 0:
            surplus = min(diff, self.burst_replicas)
            victims = pods_to_delete(pods, self.related_pods(rs), surplus, self.clock.wall())
            # Track exactly which pods, so each deletion is counted once (update, then delete).
            self.expectations.expect_deletions(key, [pod_key(p) for p in victims])

            def delete(pod: Obj) -> None:
                try:
                    self.pod_control.delete_pod(namespace, pod["metadata"]["name"], rs)
                except errors.ClientError as e:
                    self.expectations.deletion_observed(key, pod_key(pod))
                    if not isinstance(e, errors.NotFound):
                        raise

            failures = [f.exception() for f in [self.executor.submit(delete, p) for p in victims]]
            first = next((f for f in failures if f is not None), None)
            if first is not None:
                raise first

    def related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet sharing ``rs``'s controller (its Deployment's other revisions)."""
        ref = controller_of(rs)
        if ref is None:
            return []
        seen: set[str] = set()
        related: list[Obj] = []
        for other in self.replicasets.cache.by_index(CONTROLLER_UID_INDEX, ref["uid"]):
            try:
                selector = LabelSelector.from_label_selector(other["spec"].get("selector"))
            except SelectorError:
                continue
            for pod in self.pods.cache.list(other["metadata"]["namespace"], selector):
                uid = pod["metadata"].get("uid") or pod_key(pod)
                if uid not in seen:
                    seen.add(uid)
                    related.append(pod)
        return related

    def calculate_status(self, rs: Obj, pods: Sequence[Obj], manage_error: Exception | None) -> dict[str, Any]:
        """The status ``pods`` give ``rs`` (``calculateStatus``); a failure to manage shows as ReplicaFailure."""
        status = deep_copy(rs.get("status") or {})
        template_labels = LabelSelector.from_set((rs["spec"]["template"].get("metadata") or {}).get("labels"))
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        now = self.clock.wall()
        fully_labeled = sum(1 for p in pods if template_labels.matches(p["metadata"].get("labels")))
        ready = [p for p in pods if is_pod_ready(p)]
        available = sum(1 for p in ready if is_pod_available(p, min_ready, now))

        failure = get_condition(status, "ReplicaFailure")
        if manage_error is not None and failure is None:
            diff = len(pods) - replicas_of(rs)
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            status["conditions"] = [*(status.get("conditions") or []), {
                "type": "ReplicaFailure", "status": "True", "lastTransitionTime": rfc3339(now),
                "reason": reason, "message": str(manage_error),
            }]
        elif manage_error is None and failure is not None:
            status["conditions"] = [c for c in status["conditions"] if c.get("type") != "ReplicaFailure"]
        status.update(replicas=len(pods), fullyLabeledReplicas=fully_labeled, readyReplicas=len(ready),
                      availableReplicas=available)
        return omit_empty(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration",
                                   "conditions"))

    def update_status(self, rs: Obj, status: dict[str, Any]) -> Obj:
        """Write ``status`` (with observedGeneration) unless nothing changed; retry once on failure."""
        generation = rs["metadata"].get("generation")
        old = rs.get("status") or {}
        unchanged = all(old.get(f, 0) == status.get(f, 0)
                        for f in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
        if unchanged and generation == old.get("observedGeneration") \
                and (old.get("conditions") or []) == (status.get("conditions") or []):
            return rs
        if generation:
            status["observedGeneration"] = generation
        obj = deep_copy(rs)
        obj["status"] = status
        try:
            return self.replicasets_api.update_status(obj)
        except errors.ClientError:
            # One retry on a fresh copy, as upstream (statusUpdateRetries = 1).
            obj = self.replicasets_api.get(rs["metadata"]["name"], rs["metadata"]["namespace"])
        obj["status"] = status
        return self.replicasets_api.update_status(obj)


def pods_to_delete(pods: Sequence[Obj], related: Sequence[Obj], count: int, now: float) -> list[Obj]:
    """The ``count`` pods to delete first (``getPodsToDelete``); all of them need no ranking."""
    if count < len(pods):
        return rank_for_deletion(pods, related, now)[:count]
    return list(pods[:count])


def omit_empty(status: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Drop zero counts and empty lists, as the API's ``omitempty`` fields are left out of JSON."""
    return {k: v for k, v in status.items() if not (k in fields and not v)}

