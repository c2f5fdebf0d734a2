"""The Job controller: run pods until enough of them succeed, or give up.

Mirrors ``pkg/controller/job/job_controller.go`` (non-indexed Jobs). One reconcile of a Job:

1. claim its pods (the API server gave them the ``batch.kubernetes.io/controller-uid`` and
   ``batch.kubernetes.io/job-name`` labels and the Job's selector);
2. count the pods that finished and are not counted yet, and decide whether the Job is
   over: more failures than ``backoffLimit`` (``BackoffLimitExceeded``), running longer than
   ``activeDeadlineSeconds`` (``DeadlineExceeded``), or ``completions`` successes (or, with no
   ``completions``, one success and nothing running);
3. otherwise keep ``min(parallelism, completions - succeeded)`` pods running, creating them
   in slow-start batches, after an exponential back-off (10 s, 20 s ... 6 min) once pods
   fail; a failed Job's running pods are deleted;
4. write the status: ``active``, ``ready``, ``terminating``, ``succeeded``, ``failed``,
   ``startTime``, ``completionTime`` and the conditions: first ``FailureTarget`` or
   ``SuccessCriteriaMet``, then, once no pod is left terminating, ``Failed`` or ``Complete``
   (what ``kubectl wait --for=condition=complete`` waits for).

Pods are counted exactly once, even if deleted right after finishing, by upstream's
tracking with finalizers: each pod is created with the ``batch.kubernetes.io/job-tracking``
finalizer; a finished pod's uid is first recorded in ``status.uncountedTerminatedPods``,
then its finalizer removed, then it moves into the ``succeeded`` / ``failed`` counters.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubelab import errors
from kubelab.api.meta import parse_time
from kubelab.api.selectors import LabelSelector, SelectorError
from kubelab.client import Client, Resource
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.pod_control import PodControl
from kubelab.controllers.podutil import is_pod_active, is_pod_ready, rank_for_deletion
from kubelab.controllers.ref_manager import (
    ControllerRefManager,
    controller_of,
    controller_ref,
    recheck_deletion_timestamp,
)
from kubelab.controllers.replicaset import SLOW_START_INITIAL_BATCH_SIZE, pod_key, slow_start_batch
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

Obj = Mapping[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
MAX_POD_CREATE_DELETE_PER_SYNC = 500
MAX_UNCOUNTED_PODS = 500
DEFAULT_POD_FAILURE_BACKOFF = 10.0
MAX_POD_FAILURE_BACKOFF = 360.0


def has_tracking_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or ())


def condition_of(job: Obj, type: str) -> Mapping[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") == type and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def is_job_finished(job: Obj) -> bool:
    """Whether the Job has its final ``Complete`` or ``Failed`` condition."""
    return condition_of(job, "Complete") is not None or condition_of(job, "Failed") is not None


def only_replace_failed_pods(job: Obj) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Whether the pod counts as a failure: Failed, or (unless only failed pods are replaced) deleted unfinished."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and phase != "Succeeded"


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def new_condition(type: str, reason: str, message: str, now: str, status: str = "True") -> dict[str, Any]:
    return {"type": type, "status": status, "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def ensure_condition(conditions: list[dict[str, Any]], type: str, status: str, reason: str, message: str,
                     now: str) -> bool:
    """Make the Job's condition ``type`` say this (adding it only if True); True if anything changed."""
    for condition in conditions:
        if condition.get("type") == type:
            if (condition.get("status"), condition.get("reason"), condition.get("message")) == (status, reason, message):
                return False
            if condition.get("status") != status:
                condition["lastTransitionTime"] = now
            condition.update(status=status, reason=reason, message=message, lastProbeTime=now)
            return True
    if status == "True":
        conditions.append(new_condition(type, reason, message, now, status))
        return True
    return False


def finished_time(pod: Obj, default: float) -> float:
    """When the pod's last container finished (its deletion time, or ``default``, if unknown)."""
    times = [parse_time(s["state"]["terminated"]["finishedAt"])
             for s in (pod.get("status") or {}).get("containerStatuses") or ()
             if ((s.get("state") or {}).get("terminated") or {}).get("finishedAt")]
    if times:
        return max(times)
    deleted = pod["metadata"].get("deletionTimestamp")
    return parse_time(deleted) if deleted else default


def past_backoff_limit_on_failure(job: Obj, pods: Sequence[Obj]) -> bool:
    """For ``restartPolicy: OnFailure``: whether the containers' restarts reached ``backoffLimit``."""
    spec = job["spec"]
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(int(s.get("restartCount") or 0)
                   for pod in pods if (pod.get("status") or {}).get("phase") in ("Running", "Pending")
                   for s in [*(pod["status"].get("initContainerStatuses") or ()),
                             *(pod["status"].get("containerStatuses") or ())])
    limit = int(spec.get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


@dataclass
class BackoffRecord:
    """Failures since the last success, and when the last one was: how long to wait before new pods."""

    failures: int = 0
    last_failure: float | None = None

    def after(self, succeeded: Sequence[Obj], failed: Sequence[Obj], now: float) -> BackoffRecord:
        """The record once these newly finished pods are counted (``newBackoffRecord``)."""
        failed_times = sorted(finished_time(p, now) for p in failed)
        if not succeeded:
            if not failed_times:
                return self
            return BackoffRecord(self.failures + len(failed_times), failed_times[-1])
        last_success = max(finished_time(p, now) for p in succeeded)
        later = [t for t in failed_times if t > last_success]
        return BackoffRecord(len(later), later[-1] if later else None)

    def remaining(self, now: float, base: float, maximum: float) -> float:
        """Seconds still to wait before creating pods again."""
        if self.failures == 0 or self.last_failure is None:
            return 0.0
        delay = min(base * 2 ** (self.failures - 1), maximum)
        return max(0.0, delay - (now - self.last_failure))


@dataclass
class SyncContext:
    """What one reconcile of a Job works out (``syncJobCtx``)."""

    job: dict[str, Any]
    pods: list[Obj]
    active_pods: list[Obj]
    expected_removals: set[str]
    uncounted_succeeded: set[str] = field(default_factory=set)
    uncounted_failed: set[str] = field(default_factory=set)
    succeeded: int = 0
    failed: int = 0
    ready: int = 0
    terminating: int = 0
    finished: dict[str, Any] | None = None
    backoff: BackoffRecord = field(default_factory=BackoffRecord)


class JobController:
    """Runs Jobs: creates their pods, counts how they end, and marks each Job Complete or Failed."""

    name = "job"
    component = "job-controller"
    kind, api_version = "Job", "batch/v1"

    def __init__(self, *, workers: int = 5, pod_failure_backoff: float = DEFAULT_POD_FAILURE_BACKOFF,
                 max_pod_failure_backoff: float = MAX_POD_FAILURE_BACKOFF) -> None:
        self.workers = workers
        self.pod_failure_backoff = pod_failure_backoff
        self.max_pod_failure_backoff = max_pod_failure_backoff
        self.backoffs: dict[str, BackoffRecord] = {}
        self.finalizer_removals: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    # -- wiring -------------------------------------------------------------------------------

    def start(self, context: ControllerContext) -> None:
        """Watch Jobs and pods and start the workers."""
        self.client: Client = context.client
        self.clock: Clock = context.clock
        self.recorder = context.recorder(self.component)
        self.pod_control = PodControl(context.client, self.recorder)
        self.expectations = UIDTrackingControllerExpectations(context.clock)
        self.jobs_api: Resource = context.client.resource(self.api_version, "jobs")
        self.pods_api: Resource = context.client.resource("v1", "pods")
        self.jobs: Informer = context.informers.informer(self.api_version, "jobs")
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix=self.component)
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        self.orphans = Controller(f"{self.name}-orphan-pods", self.sync_orphan_pod, workers=1, clock=context.clock)
        for controller in (self.controller, self.orphans):
            controller.waits_for(self.jobs)
            controller.waits_for(self.pods)
        self.jobs.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._delete_job)
        self.pods.add_event_handler(self._add_pod, self._update_pod, self._delete_pod)
        self.controller.start()
        self.orphans.start()

    def stop(self) -> None:
        self.controller.stop()
        self.orphans.stop()
        self.executor.shutdown(wait=True)

    # -- event handlers -------------------------------------------------------------------------------

    def _enqueue(self, job: Obj) -> None:
        self.controller.queue.add(meta_namespace_key(job))

    def _delete_job(self, job: ReadOnlyDict) -> None:
        key = meta_namespace_key(job)
        self.expectations.delete_expectations(key)
        self._enqueue(job)
        # Its pods' finalizers are nobody's business now: remove them, or the pods stay forever.
        for pod in self.pods.cache.list(job["metadata"]["namespace"]):
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") == job["metadata"].get("uid") and has_tracking_finalizer(pod):
                self.orphans.queue.add(pod_key(pod))

    def _job_for(self, pod: Obj) -> ReadOnlyDict | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        job = self.jobs.cache.get(ref["name"], pod["metadata"]["namespace"])
        if job is None or job["metadata"].get("uid") != ref.get("uid"):
            return None
        return job

    def _finalizer_removal_observed(self, job_key: str, pod: Obj) -> None:
        with self._lock:
            expected = self.finalizer_removals.get(job_key)
            if expected is not None:
                expected.discard(pod["metadata"].get("uid", ""))

    def _add_pod(self, pod: ReadOnlyDict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._delete_pod(pod)
            return
        job = self._job_for(pod)
        if job is None:
            if has_tracking_finalizer(pod) and controller_of(pod) is not None:
                self.orphans.queue.add(pod_key(pod))
            return
        key = meta_namespace_key(job)
        self.expectations.creation_observed(key)
        self.controller.queue.add(key)

    def _update_pod(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        job = self._job_for(new)
        if job is None:
            if has_tracking_finalizer(new) and controller_of(new) is not None:
                self.orphans.queue.add(pod_key(new))
            return
        key = meta_namespace_key(job)
        if not has_tracking_finalizer(new):
            self._finalizer_removal_observed(key, new)
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self.expectations.deletion_observed(key, pod_key(new))
        if is_job_finished(job) and has_tracking_finalizer(new):
            self.orphans.queue.add(pod_key(new))
        old_job = self._job_for(old)
        if old_job is not None and old_job["metadata"].get("uid") != job["metadata"].get("uid"):
            self.controller.queue.add(meta_namespace_key(old_job))
        self.controller.queue.add(key)

    def _delete_pod(self, pod: ReadOnlyDict) -> None:
        job = self._job_for(pod)
        if job is None:
            if has_tracking_finalizer(pod) and controller_of(pod) is not None:
                self.orphans.queue.add(pod_key(pod))
            return
        key = meta_namespace_key(job)
        self.expectations.deletion_observed(key, pod_key(pod))
        self._finalizer_removal_observed(key, pod)
        self.controller.queue.add(key)

    # -- orphan pods: remove the tracking finalizer when no running Job needs it ------------------------

    def sync_orphan_pod(self, key: str) -> Result | None:
        namespace, name = split_meta_namespace_key(key)
        pod = self.pods.cache.get(name, namespace)
        if pod is None or not has_tracking_finalizer(pod):
            return None
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("kind") != self.kind or ref.get("apiVersion") != self.api_version:
                return None
            job = self._job_for(pod)
            if job is not None and not is_job_finished(job):
                return None
        with contextlib.suppress(errors.NotFound):
            self.remove_tracking_finalizer(pod)
        return None

    def remove_tracking_finalizer(self, pod: Obj) -> None:
        """Remove the tracking finalizer from one pod (guarded by its resourceVersion)."""
        meta = pod["metadata"]
        finalizers = [f for f in meta.get("finalizers") or () if f != TRACKING_FINALIZER]
        self.pods_api.patch(meta["name"], {"metadata": {"finalizers": finalizers,
                                                       "resourceVersion": meta["resourceVersion"]}},
                            meta["namespace"])

    # -- reconcile (syncJob) ------------------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        """Converge one Job's pods to its spec and write its status."""
        namespace, name = split_meta_namespace_key(key)
        cached = self.jobs.cache.get(name, namespace)
        if cached is None:
            self.expectations.delete_expectations(key)
            with self._lock:
                self.backoffs.pop(key, None)
                self.finalizer_removals.pop(key, None)
            return None
        if is_job_finished(cached):
            return None
        job = deep_copy(cached)
        status = job.setdefault("status", {})
        status.setdefault("uncountedTerminatedPods", {})
        satisfied = self.expectations.satisfied_expectations(key)
        pods = self.pods_for_job(job)
        with self._lock:
            expected_removals = set(self.finalizer_removals.get(key, ()))
            backoff = self.backoffs.get(key, BackoffRecord())
        uncounted = status["uncountedTerminatedPods"]
        ctx = SyncContext(job, pods, [p for p in pods if is_pod_active(p)], expected_removals,
                          set(uncounted.get("succeeded") or ()), set(uncounted.get("failed") or ()))
        ctx.terminating = sum(1 for p in pods if is_terminating(p))
        ctx.ready = sum(1 for p in ctx.active_pods if is_pod_ready(p))
        new_succeeded = [p for p in self._countable(ctx, ctx.uncounted_succeeded)
                         if (p.get("status") or {}).get("phase") == "Succeeded"]
        new_failed = [p for p in self._countable(ctx, ctx.uncounted_failed) if is_pod_failed(p, job)]
        ctx.succeeded = int(status.get("succeeded") or 0) + len(new_succeeded) + len(ctx.uncounted_succeeded)
        ctx.failed = int(status.get("failed") or 0) + len(new_failed) + len(ctx.uncounted_failed)
        spec = job["spec"]
        suspended = bool(spec.get("suspend"))
        now = self.clock.wall()
        if not status.get("startTime") and not suspended:
            status["startTime"] = rfc3339(now)
        ctx.backoff = backoff.after(new_succeeded, new_failed, now)
        requeue: Result | None = None

        ctx.finished = self._finished_condition_so_far(job)
        if ctx.finished is None:
            if ctx.failed > int(spec.get("backoffLimit", 6)) or past_backoff_limit_on_failure(job, pods):
                ctx.finished = new_condition("FailureTarget", "BackoffLimitExceeded",
                                             "Job has reached the specified backoff limit", rfc3339(now))
            elif self.past_active_deadline(job):
                ctx.finished = new_condition("FailureTarget", "DeadlineExceeded",
                                             "Job was active longer than specified deadline", rfc3339(now))
            elif spec.get("activeDeadlineSeconds") is not None and not suspended:
                left = parse_time(status["startTime"]) + int(spec["activeDeadlineSeconds"]) - now
                requeue = Result(requeue_after=max(left, 0.1))

        active = len(ctx.active_pods)
        manage_error: Exception | None = None
        suspend_changed = False
        if ctx.finished is not None:
            deleted_ready, deleted, manage_error = self.delete_active_pods(job, ctx.active_pods)
            if deleted != active or not satisfied:
                # Pods may still appear, or keep their finalizers: not finished yet.
                ctx.finished = None
            active -= deleted
            ctx.terminating += deleted
            ctx.ready -= deleted_ready
        else:
            managed = False
            if satisfied and not job["metadata"].get("deletionTimestamp"):
                active, manage_error, wait = self.manage_job(key, job, ctx)
                if wait:
                    requeue = Result(requeue_after=wait)
                managed = True
            completions = spec.get("completions")
            complete = (ctx.succeeded > 0 and active == 0) if completions is None \
                else (ctx.succeeded >= int(completions) and active == 0)
            if complete:
                ctx.finished = new_condition("SuccessCriteriaMet", "CompletionsReached",
                                             "Reached expected number of succeeded pods", rfc3339(now))
            elif managed:
                suspend_changed = self._sync_suspended(job, suspended, now)
        needs_update = suspend_changed or active != status.get("active", 0) or ctx.ready != status.get("ready") \
            or ctx.terminating != status.get("terminating")
        status["active"] = active
        status["ready"] = ctx.ready
        status["terminating"] = ctx.terminating
        self.track_status_and_remove_finalizers(key, ctx, needs_update)
        if manage_error is not None:
            raise manage_error
        return requeue

    def _countable(self, ctx: SyncContext, uncounted: set[str]) -> list[Obj]:
        """Pods still carrying the tracking finalizer and not yet recorded anywhere."""
        return [p for p in ctx.pods if has_tracking_finalizer(p) and p["metadata"]["uid"] not in uncounted
                and p["metadata"]["uid"] not in ctx.expected_removals]

    def _finished_condition_so_far(self, job: Obj) -> dict[str, Any] | None:
        """An interim condition recorded by an earlier reconcile, turned into the final one it leads to."""
        now = rfc3339(self.clock.wall())
        met = condition_of(job, "SuccessCriteriaMet")
        if met is not None:
            return new_condition("SuccessCriteriaMet", met.get("reason", ""), met.get("message", ""), now)
        target = condition_of(job, "FailureTarget")
        if target is not None:
            return new_condition("Failed", target.get("reason", ""), target.get("message", ""), now)
        return None

    def _sync_suspended(self, job: dict[str, Any], suspended: bool, now: float) -> bool:
        conditions = job["status"].setdefault("conditions", [])
        if suspended:
            changed = ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", rfc3339(now))
            if changed:
                self.recorder.event(job, "Normal", "Suspended", "Job suspended")
            return changed
        changed = ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", rfc3339(now))
        if changed:
            self.recorder.event(job, "Normal", "Resumed", "Job resumed")
            # The deadline counts time the Job is continuously active.
            job["status"]["startTime"] = rfc3339(now)
        return changed

    def past_active_deadline(self, job: Obj) -> bool:
        spec, status = job["spec"], job.get("status") or {}
        if spec.get("activeDeadlineSeconds") is None or not status.get("startTime") or spec.get("suspend"):
            return False
        return self.clock.wall() - parse_time(status["startTime"]) >= int(spec["activeDeadlineSeconds"])

    def pods_for_job(self, job: Obj) -> list[Obj]:
        """The pods the Job controls, adopting orphans (with their finalizer kept) and releasing non-matching ones."""
        try:
            selector = LabelSelector.from_label_selector(job["spec"].get("selector"))
        except SelectorError as e:
            raise ValueError(f"job {meta_namespace_key(job)} has an invalid selector: {e}") from e
        manager = ControllerRefManager(self.pods_api, job, selector, recheck_deletion_timestamp(self.client, job))
        return manager.claim(self.pods.cache.list(job["metadata"]["namespace"]))

    # -- pods (manageJob) ----------------------------------------------------------------------------------

    def manage_job(self, key: str, job: dict[str, Any], ctx: SyncContext) -> tuple[int, Exception | None, float]:
        """Create or delete pods to run the wanted number; ``(active, error, seconds to wait for back-off)``."""
        spec = job["spec"]
        active = len(ctx.active_pods)
        parallelism = int(spec.get("parallelism", 1))
        if spec.get("suspend"):
            victims = rank_for_deletion(ctx.active_pods, ctx.active_pods, None)
            active, error = self._delete_job_pods(key, job, victims, ctx, active)
            return active, error, 0.0
        if spec.get("completions") is None:
            want = active if ctx.succeeded > 0 else parallelism
        else:
            want = max(0, min(int(spec["completions"]) - ctx.succeeded, parallelism))
        surplus = min(max(0, active - want), MAX_POD_CREATE_DELETE_PER_SYNC)
        if surplus:
            # Deleting takes precedence: creating waits for the next reconcile.
            victims = rank_for_deletion(ctx.active_pods, ctx.active_pods, None)[:surplus]
            active, error = self._delete_job_pods(key, job, victims, ctx, active)
            return active, error, 0.0
        terminating = ctx.terminating if only_replace_failed_pods(job) else 0
        missing = min(want - terminating - active, MAX_POD_CREATE_DELETE_PER_SYNC)
        if missing <= 0:
            return active, None, 0.0
        wait = ctx.backoff.remaining(self.clock.wall(), self.pod_failure_backoff, self.max_pod_failure_backoff)
        if wait > 0:
            return active, None, wait
        template = deep_copy(spec["template"])
        meta = template.setdefault("metadata", {})
        meta["finalizers"] = [*(meta.get("finalizers") or ()), TRACKING_FINALIZER]
        owner = controller_ref(job)
        self.expectations.expect_creations(key, missing)

        def create() -> None:
            try:
                self.pod_control.create_pods(job["metadata"]["namespace"], template, job, owner)
            except errors.ApiError as e:
                if any(c.get("reason") == "NamespaceTerminating" for c in e.details.get("causes") or ()):
                    return
                raise

        created, error = slow_start_batch(missing, SLOW_START_INITIAL_BATCH_SIZE, create, self.executor)
        self.expectations.lower_expectations(key, missing - created, 0)
        return active + created, error, 0.0

    def _delete_job_pods(self, key: str, job: Obj, victims: Sequence[Obj], ctx: SyncContext,
                         active: int) -> tuple[int, Exception | None]:
        """Delete pods (their finalizer removed first: they count for nothing); ``(active, error)``."""
        self.expectations.expect_deletions(key, [pod_key(p) for p in victims])
        errors_: list[Exception] = []
        for pod in victims:
            try:
                if has_tracking_finalizer(pod):
                    self.remove_tracking_finalizer(pod)
                self.pod_control.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], job)
            except errors.ClientError as e:
                self.expectations.deletion_observed(key, pod_key(pod))
                if not isinstance(e, errors.NotFound):
                    errors_.append(e)
                    continue
            active -= 1
            ctx.terminating += 1
            if is_pod_ready(pod):
                ctx.ready -= 1
        return active, errors_[0] if errors_ else None

    def delete_active_pods(self, job: Obj, pods: Sequence[Obj]) -> tuple[int, int, Exception | None]:
        """Delete every running pod of a finished Job, finalizers kept (they are removed when counted)."""
        deleted = deleted_ready = 0
        error: Exception | None = None
        for pod in pods:
            try:
                self.pod_control.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], job)
            except errors.NotFound:
                pass
            except errors.ClientError as e:
                error = error or e
                continue
            deleted += 1
            deleted_ready += is_pod_ready(pod)
        return deleted_ready, deleted, error

    # -- status, counted with finalizers (trackJobStatusAndRemoveFinalizers) -----------------------------------

    def track_status_and_remove_finalizers(self, key: str, ctx: SyncContext, needs_flush: bool) -> None:
        """Record finished pods as uncounted, remove their finalizers, count them, and finish the Job if due."""
        job, status = ctx.job, ctx.job["status"]
        with_finalizer = {p["metadata"]["uid"] for p in ctx.pods
                          if has_tracking_finalizer(p) and p["metadata"]["uid"] not in ctx.expected_removals}
        needs_flush = count_uncounted_without_finalizers(status, with_finalizer) or needs_flush
        uncounted = status["uncountedTerminatedPods"]
        to_remove: list[Obj] = []
        reached_max = False
        for pod in ctx.pods:
            uid = pod["metadata"]["uid"]
            if not has_tracking_finalizer(pod) or uid in ctx.expected_removals:
                continue
            failed = is_pod_failed(pod, job)
            phase = (pod.get("status") or {}).get("phase")
            can_remove = job["metadata"].get("deletionTimestamp") or ctx.finished is not None \
                or phase == "Succeeded" or failed
            if not can_remove:
                continue
            to_remove.append(pod)
            if phase == "Succeeded" and uid not in ctx.uncounted_failed:
                if uid not in ctx.uncounted_succeeded:
                    uncounted.setdefault("succeeded", []).append(uid)
                    needs_flush = True
            elif (failed or (ctx.finished is not None and ctx.finished["type"] != "SuccessCriteriaMet")) \
                    and uid not in ctx.uncounted_failed:
                # When the Job is over, every pod not yet finished counts as failed.
                uncounted.setdefault("failed", []).append(uid)
                needs_flush = True
            if len(uncounted.get("succeeded") or ()) + len(uncounted.get("failed") or ()) >= MAX_UNCOUNTED_PODS:
                reached_max = True
                break
        conditions = status.setdefault("conditions", [])
        if ctx.finished is not None and ctx.finished["type"] == "FailureTarget":
            conditions.append(ctx.finished)
            needs_flush = True
            ctx.finished = new_condition("Failed", ctx.finished["reason"], ctx.finished["message"],
                                         rfc3339(self.clock.wall()))
        if ctx.finished is not None and ctx.finished["type"] == "SuccessCriteriaMet":
            if condition_of(job, "SuccessCriteriaMet") is None:
                conditions.append(ctx.finished)
                needs_flush = True
            ctx.finished = new_condition("Complete", ctx.finished["reason"], ctx.finished["message"],
                                         rfc3339(self.clock.wall()))
        needs_flush = self.flush_and_remove_finalizers(key, ctx, to_remove, with_finalizer, needs_flush)
        finished = not reached_max and self.enact_job_finished(ctx)
        if finished or needs_flush:
            self._update_status(ctx)
            if finished:
                assert ctx.finished is not None
                if ctx.finished["type"] == "Complete":
                    self.recorder.event(job, "Normal", "Completed", "Job completed")
                else:
                    self.recorder.event(job, "Warning", ctx.finished["reason"], ctx.finished["message"])

    def flush_and_remove_finalizers(self, key: str, ctx: SyncContext, to_remove: Sequence[Obj],
                                    with_finalizer: set[str], needs_flush: bool) -> bool:
        """Write the uncounted uids first, then remove finalizers, then count what was removed; True if unwritten."""
        if needs_flush:
            self._update_status(ctx)
            with self._lock:
                self.backoffs[key] = ctx.backoff
            needs_flush = False
        failures: list[Exception] = []
        if to_remove:
            with self._lock:
                self.finalizer_removals.setdefault(key, set()).update(p["metadata"]["uid"] for p in to_remove)
            for pod in to_remove:
                try:
                    self.remove_tracking_finalizer(pod)
                except errors.NotFound:
                    pass
                except errors.ClientError as e:
                    self._finalizer_removal_observed(key, pod)
                    failures.append(e)
                    continue
                with_finalizer.discard(pod["metadata"]["uid"])
        if count_uncounted_without_finalizers(ctx.job["status"], with_finalizer):
            needs_flush = True
        if failures:
            if needs_flush:
                self._update_status(ctx)
            raise failures[0]
        return needs_flush

    def enact_job_finished(self, ctx: SyncContext) -> bool:
        """Add the final condition once every finished pod is counted and none is terminating."""
        if ctx.finished is None:
            return False
        status = ctx.job["status"]
        uncounted = status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed") or ctx.terminating > 0:
            return False
        now = rfc3339(self.clock.wall())
        ensure_condition(status.setdefault("conditions", []), ctx.finished["type"], "True", ctx.finished["reason"],
                         ctx.finished["message"], now)
        if ctx.finished["type"] == "Complete":
            status["completionTime"] = now
        return True

    def _update_status(self, ctx: SyncContext) -> None:
        """Write the Job's status and carry on with the written object (its new resourceVersion)."""
        status = ctx.job["status"]
        uncounted = status["uncountedTerminatedPods"]
        for field_name in ("succeeded", "failed"):
            if not uncounted.get(field_name):
                uncounted.pop(field_name, None)
        if not status.get("conditions"):
            status.pop("conditions", None)
        updated = self.jobs_api.update_status(ctx.job)
        ctx.job["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]


def count_uncounted_without_finalizers(status: dict[str, Any], with_finalizer: set[str]) -> bool:
    """Move uncounted uids whose pods lost their finalizer into the counters; True if any moved."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    changed = False
    for field_name in ("succeeded", "failed"):
        uids = list(uncounted.get(field_name) or ())
        kept = [uid for uid in uids if uid in with_finalizer]
        if len(kept) != len(uids):
            status[field_name] = int(status.get(field_name) or 0) + len(uids) - len(kept)
            uncounted[field_name] = kept
            changed = True
    return changed
