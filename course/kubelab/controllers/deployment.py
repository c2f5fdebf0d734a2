"""The Deployment controller: roll a pod template out through ReplicaSets, and back.

The reference solution of lab 05; mirrors ``pkg/controller/deployment`` (``deployment_controller.go``,
``sync.go``, ``rolling.go``, ``recreate.go``, ``progress.go``). A Deployment owns one
ReplicaSet per pod template it has run, named ``<deployment>-<pod-template-hash>``; the
*new* one runs the current template, the *old* ones earlier revisions. One reconcile:

1. claim the ReplicaSets (adopt matching orphans, release those that stopped matching);
2. paused, or only resized? scale the ReplicaSets in proportion, nothing else;
3. otherwise roll: **RollingUpdate** grows the new ReplicaSet while total pods stay within
   ``replicas + maxSurge`` and shrinks old ones while available pods stay above
   ``replicas - maxUnavailable``; **Recreate** scales old ones to 0, waits for their pods
   to go, then scales the new one up;
4. write the status: counts, and the Available and Progressing conditions that
   ``kubectl rollout status`` reads (Progressing=False/ProgressDeadlineExceeded when no
   progress was made for ``progressDeadlineSeconds``).

``kubectl rollout undo`` needs nothing special: it copies an old ReplicaSet's template into
the Deployment, that ReplicaSet becomes the new one again and gets the next revision.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.api.meta import parse_time
from kubelab.api.selectors import LabelSelector, SelectorError
from kubelab.client import Client, Resource
from kubelab.controllers import deployment_util as util
from kubelab.controllers.deployment_util import replicas
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.ref_manager import (
    ControllerRefManager,
    controller_of,
    controller_ref,
    recheck_deletion_timestamp,
)
from kubelab.controllers.replicaset import CONTROLLER_UID_INDEX, controller_uid_index, omit_empty
from kubelab.runtime import (
    Clock,
    Controller,
    EventRecorder,
    Informer,
    ReadOnlyDict,
    Result,
    deep_copy,
    meta_namespace_key,
    rfc3339,
    split_meta_namespace_key,
)

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
STATUS_FIELDS = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                 "unavailableReplicas", "conditions")


class ScaleDownRefused(RuntimeError):
    """A scale-down computed from stale counts would have grown the ReplicaSet instead."""


class DeploymentController:
    """Runs Deployments: creates, scales and cleans up their ReplicaSets."""

    name = "deployment"
    component = "deployment-controller"
    kind, api_version = "Deployment", "apps/v1"

    def __init__(self, *, workers: int = 5) -> None:
        self.workers = workers

    # -- wiring -------------------------------------------------------------------------------

    def start(self, context: ControllerContext) -> None:
        """Register with the shared informers and start the workers (they wait for the caches)."""
        self.client: Client = context.client
        self.clock: Clock = context.clock
        self.recorder: EventRecorder = context.recorder(self.component)
        self.deployments_api: Resource = context.client.resource(self.api_version, "deployments")
        self.replicasets_api: Resource = context.client.resource("apps/v1", "replicasets")
        self.deployments: Informer = context.informers.informer(self.api_version, "deployments")
        self.replicasets: Informer = context.informers.informer(
            "apps/v1", "replicasets", indexers={CONTROLLER_UID_INDEX: controller_uid_index}
        )
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        for informer in (self.deployments, self.replicasets, self.pods):
            self.controller.waits_for(informer)
        self.deployments.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.replicasets.add_event_handler(self._add_replicaset, self._update_replicaset, self._delete_replicaset)
        self.pods.add_event_handler(on_delete=self._delete_pod)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def queue(self) -> Any:
        return self.controller.queue

    # -- event handlers --------------------------------------------------------------------------

    def _enqueue(self, d: Obj) -> None:
        self.queue.add(meta_namespace_key(d))

    def _resolve_controller_ref(self, namespace: str, ref: Obj) -> ReadOnlyDict | None:
        if ref.get("kind") != self.kind:
            return None
        d = self.deployments.cache.get(ref["name"], namespace)
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return d

    def _deployments_for_replicaset(self, rs: Obj) -> list[ReadOnlyDict]:
        """Deployments whose (non-empty) selector matches an orphan ReplicaSet: who may adopt it."""
        matching = []
        for d in self.deployments.cache.list(rs["metadata"].get("namespace")):
            try:
                selector = LabelSelector.from_label_selector(d["spec"].get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(rs["metadata"].get("labels")):
                matching.append(d)
        if len(matching) > 1:
            log.warning("more than one Deployment selects ReplicaSet %s: that is a user error", meta_namespace_key(rs))
        return matching

    def _add_replicaset(self, rs: ReadOnlyDict) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            self._delete_replicaset(rs)
            return
        ref = controller_of(rs)
        if ref is not None:
            d = self._resolve_controller_ref(rs["metadata"]["namespace"], ref)
            if d is not None:
                self._enqueue(d)
            return
        for d in self._deployments_for_replicaset(rs):
            self._enqueue(d)

    def _update_replicaset(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        new_ref, old_ref = controller_of(new), controller_of(old)
        ref_changed = new_ref != old_ref
        namespace = new["metadata"]["namespace"]
        if ref_changed and old_ref is not None:
            d = self._resolve_controller_ref(namespace, old_ref)
            if d is not None:
                self._enqueue(d)
        if new_ref is not None:
            d = self._resolve_controller_ref(namespace, new_ref)
            if d is not None:
                self._enqueue(d)
            return
        if ref_changed or old["metadata"].get("labels") != new["metadata"].get("labels"):
            for d in self._deployments_for_replicaset(new):
                self._enqueue(d)

    def _delete_replicaset(self, rs: ReadOnlyDict) -> None:
        ref = controller_of(rs)
        if ref is not None:
            d = self._resolve_controller_ref(rs["metadata"]["namespace"], ref)
            if d is not None:
                self._enqueue(d)

    def _delete_pod(self, pod: ReadOnlyDict) -> None:
        """A Recreate rollout waits for the old pods to be gone: wake it when the last one goes."""
        d = self._deployment_for_pod(pod)
        if d is None or util.strategy_type(d) != "Recreate":
            return
        rs_list = [rs for rs in self.replicasets.cache.list(d["metadata"]["namespace"])
                   if (ref := controller_of(rs)) is not None and ref.get("uid") == d["metadata"].get("uid")]
        if not any(self.pod_map(d, rs_list).values()):
            self._enqueue(d)

    def _deployment_for_pod(self, pod: Obj) -> ReadOnlyDict | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.replicasets.cache.get(ref["name"], pod["metadata"]["namespace"])
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        rs_ref = controller_of(rs)
        return None if rs_ref is None else self._resolve_controller_ref(rs["metadata"]["namespace"], rs_ref)

    # -- reconcile (syncDeployment) -----------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        """Converge one Deployment's ReplicaSets to its spec and write its status."""
        namespace, name = split_meta_namespace_key(key)
        cached = self.deployments.cache.get(name, namespace)
        if cached is None:
            return None
        d = deep_copy(cached)
        if d["spec"].get("selector") == {}:
            self.recorder.event(d, "Warning", "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            status = d.setdefault("status", {})
            if int(status.get("observedGeneration") or 0) < int(d["metadata"].get("generation") or 0):
                status["observedGeneration"] = d["metadata"]["generation"]
                self._update_status(d)
            return None
        rs_list = self.get_replicasets_for_deployment(d)
        if d["metadata"].get("deletionTimestamp"):
            self.sync_status_only(d, rs_list)
            return None
        self.check_paused_conditions(d)
        if d["spec"].get("paused") or self.is_scaling_event(d, rs_list):
            self.sync(d, rs_list)
            return None
        strategy = util.strategy_type(d)
        if strategy == "Recreate":
            return self.rollout_recreate(d, rs_list, self.pod_map(d, rs_list))
        if strategy == "RollingUpdate":
            return self.rollout_rolling(d, rs_list)
        raise ValueError(f"unexpected deployment strategy type: {strategy}")

    def get_replicasets_for_deployment(self, d: dict[str, Any]) -> list[dict[str, Any]]:
        """The ReplicaSets ``d`` controls (adopting and releasing as its selector says), as mutable copies."""
        try:
            selector = LabelSelector.from_label_selector(d["spec"].get("selector"))
        except SelectorError as e:
            raise ValueError(
                f"deployment {d['metadata']['namespace']}/{d['metadata']['name']} has invalid label selector: {e}"
            ) from e
        manager = ControllerRefManager(self.replicasets_api, d, selector, recheck_deletion_timestamp(self.client, d))
        return [deep_copy(rs) for rs in manager.claim(self.replicasets.cache.list(d["metadata"]["namespace"]))]

    def pod_map(self, d: Obj, rs_list: Sequence[Obj]) -> dict[str, list[Obj]]:
        """The Deployment's pods grouped by the uid of the ReplicaSet that controls them."""
        by_uid: dict[str, list[Obj]] = {rs["metadata"]["uid"]: [] for rs in rs_list}
        try:
            selector = LabelSelector.from_label_selector(d["spec"].get("selector"))
        except SelectorError:
            return by_uid
        for pod in self.pods.cache.list(d["metadata"]["namespace"], selector):
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") in by_uid:
                by_uid[ref["uid"]].append(pod)
        return by_uid

    # -- writes ---------------------------------------------------------------------------------------

    def _update_status(self, d: dict[str, Any]) -> None:
        """Write ``d``'s status and keep ``d``'s resourceVersion current for the next write in this reconcile."""
        d["status"] = omit_empty(d.get("status") or {}, STATUS_FIELDS)
        updated = self.deployments_api.update_status(d)
        d["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]

    def _set_revision(self, d: dict[str, Any], revision: str) -> None:
        """Record the new ReplicaSet's revision on the Deployment (``deployment.kubernetes.io/revision``).

        Upstream writes it along with the next status update (the Deployment's status
        strategy keeps metadata); a metadata patch gets it there on any API server.
        """
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(util.REVISION_ANNOTATION) == revision:
            return
        patched = self.deployments_api.patch(
            d["metadata"]["name"], {"metadata": {"annotations": {util.REVISION_ANNOTATION: revision}}},
            d["metadata"]["namespace"],
        )
        annotations[util.REVISION_ANNOTATION] = revision
        d["metadata"]["resourceVersion"] = patched["metadata"]["resourceVersion"]

    def _now(self) -> str:
        return rfc3339(self.clock.wall())

    # -- revisions and the new ReplicaSet (sync.go) --------------------------------------------------

    def get_all_replicasets_and_sync_revision(
        self, d: dict[str, Any], rs_list: list[dict[str, Any]], create: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """``(new ReplicaSet or None, old ReplicaSets)``, the new one created if ``create`` and revisions synced."""
        _, old = util.find_old_replicasets(d, rs_list)
        new = self.get_new_replicaset(d, rs_list, old, create)
        return new, old  # type: ignore[return-value]

    def get_new_replicaset(
        self, d: dict[str, Any], rs_list: Sequence[Obj], old_rss: Sequence[Obj], create: bool
    ) -> dict[str, Any] | None:
        """The ReplicaSet of the current template with its revision brought up to date; created if missing and ``create``."""
        existing = util.find_new_replicaset(d, rs_list)
        new_revision = str(util.max_revision(old_rss) + 1)
        if existing is not None:
            rs = deep_copy(existing)
            annotations_updated = util.set_new_replicaset_annotations(d, rs, new_revision, True)
            min_ready = d["spec"].get("minReadySeconds") or 0
            if annotations_updated or (rs["spec"].get("minReadySeconds") or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                return self.replicasets_api.update(rs)
            self._set_revision(d, rs["metadata"]["annotations"].get(util.REVISION_ANNOTATION, new_revision))
            status = d.setdefault("status", {})
            if util.has_progress_deadline(d) and util.get_condition(status, "Progressing") is None:
                util.set_condition(status, util.new_condition(
                    "Progressing", "True", util.FOUND_NEW_RS_REASON,
                    f'Found new replica set "{rs["metadata"]["name"]}"', self._now()))
                self._update_status(d)
            return rs
        if not create:
            return None
        return self._create_new_replicaset(d, old_rss, new_revision)

    def _create_new_replicaset(self, d: dict[str, Any], old_rss: Sequence[Obj], new_revision: str) -> dict[str, Any]:
        status = d.setdefault("status", {})
        template = deep_copy(d["spec"]["template"])
        pod_template_hash = util.compute_hash(template, status.get("collisionCount"))
        template.setdefault("metadata", {})["labels"] = {
            **(template["metadata"].get("labels") or {}), util.DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY: pod_template_hash,
        }
        selector = deep_copy(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}),
                                   util.DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY: pod_template_hash}
        name = f"{d['metadata']['name']}-{pod_template_hash}"
        new_rs: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "ownerReferences": [controller_ref(d)],
                "labels": template["metadata"]["labels"],
            },
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }
        new_replicas = util.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        new_rs["spec"]["replicas"] = new_replicas
        util.set_new_replicaset_annotations(d, new_rs, new_revision, False)

        already_exists = False
        try:
            created = self.replicasets_api.create(new_rs)
        except errors.AlreadyExists:
            # A slow cache, or a hash collision with a ReplicaSet running another template.
            already_exists = True
            found = self.replicasets.cache.get(name, d["metadata"]["namespace"])
            if found is None:
                raise
            ref = controller_of(found)
            if ref is not None and ref.get("uid") == d["metadata"]["uid"] \
                    and util.equal_ignore_hash(d["spec"]["template"], found["spec"]["template"]):
                created = deep_copy(found)
            else:
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                self._update_status(d)
                log.info("hash collision for deployment %s: collisionCount is now %d", name, status["collisionCount"])
                raise
        except errors.ApiError as e:
            if any(c.get("reason") == "NamespaceTerminating" for c in e.details.get("causes") or ()):
                raise
            message = f'Failed to create new replica set "{name}": {e}'
            if util.has_progress_deadline(d):
                util.set_condition(status, util.new_condition(
                    "Progressing", "False", util.FAILED_RS_CREATE_REASON, message, self._now()))
                # The create failure is the error worth reporting, not this one.
                with contextlib.suppress(errors.ClientError):
                    self._update_status(d)
            self.recorder.event(d, "Warning", util.FAILED_RS_CREATE_REASON, message)
            raise
        if not already_exists and new_replicas > 0:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {created['metadata']['name']} from 0 to {new_replicas}")
        self._set_revision(d, new_revision)
        if not already_exists and util.has_progress_deadline(d):
            util.set_condition(status, util.new_condition(
                "Progressing", "True", util.NEW_RS_REASON,
                f'Created new replica set "{created["metadata"]["name"]}"', self._now()))
            self._update_status(d)
        return created

    # -- scaling (sync.go) -------------------------------------------------------------------------------

    def scale_replicaset(self, rs: Obj, new_scale: int, d: Obj, operation: str) -> tuple[bool, dict[str, Any]]:
        """Set ``rs``'s size (and its record of the Deployment's size); an Event if the size changed."""
        size_changed = replicas(rs) != new_scale
        most = replicas(d) + util.max_surge(d)
        if not size_changed and not util.replicas_annotations_need_update(rs, replicas(d), most):
            return False, deep_copy(rs)
        old_scale = replicas(rs)
        copy = deep_copy(rs)
        copy["spec"]["replicas"] = new_scale
        util.set_replicas_annotations(copy, replicas(d), most)
        updated = self.replicasets_api.update(copy)
        if size_changed:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {operation} replica set {rs['metadata']['name']} from {old_scale} to {new_scale}")
        return size_changed, updated

    def scale_replicaset_and_record_event(self, rs: Obj, new_scale: int, d: Obj) -> tuple[bool, dict[str, Any]]:
        if replicas(rs) == new_scale:
            return False, deep_copy(rs)
        return self.scale_replicaset(rs, new_scale, d, "up" if replicas(rs) < new_scale else "down")

    def scale(self, d: dict[str, Any], new_rs: Obj | None, old_rss: Sequence[Obj]) -> None:
        """Resize for a scaling event: spread the change over active ReplicaSets in proportion to their size.

        Scaling mid-rollout this way keeps the rollout's pace: it neither hurries the new
        template in nor keeps more old pods than the old share.
        """
        active_or_latest = util.find_active_or_latest(new_rs, old_rss)
        if active_or_latest is not None:
            if replicas(active_or_latest) != replicas(d):
                self.scale_replicaset_and_record_event(active_or_latest, replicas(d), d)
            return
        if util.is_saturated(d, new_rs):
            for old in util.filter_active(old_rss):
                self.scale_replicaset_and_record_event(old, 0, d)
            return
        if not util.is_rolling_update(d):
            return
        all_rss = util.filter_active([*old_rss, new_rs])
        allowed = replicas(d) + util.max_surge(d) if replicas(d) > 0 else 0
        to_add = allowed - util.replica_count(all_rss)
        operation = ""
        if to_add > 0:
            all_rss.sort(key=util.by_size_newer)
            operation = "up"
        elif to_add < 0:
            all_rss.sort(key=util.by_size_older)
            operation = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            if to_add != 0:
                proportion = util.get_proportion(rs, d, to_add, added)
                sizes[rs["metadata"]["name"]] = replicas(rs) + proportion
                added += proportion
            else:
                sizes[rs["metadata"]["name"]] = replicas(rs)
        for i, rs in enumerate(all_rss):
            name = rs["metadata"]["name"]
            if i == 0 and to_add != 0:
                # Whatever rounding left over goes to the largest ReplicaSet.
                sizes[name] = max(0, sizes[name] + to_add - added)
            self.scale_replicaset(rs, sizes[name], d, operation)

    def cleanup_deployment(self, old_rss: Sequence[Obj], d: Obj) -> None:
        """Delete the oldest empty ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = util.revision_history_limit(d)
        cleanable = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
        surplus = len(cleanable) - limit
        if surplus <= 0:
            return
        for rs in sorted(cleanable, key=util.by_revision)[:surplus]:
            status = rs.get("status") or {}
            if int(status.get("replicas") or 0) != 0 or replicas(rs) != 0 \
                    or int(rs["metadata"].get("generation") or 0) > int(status.get("observedGeneration") or 0):
                continue
            with contextlib.suppress(errors.NotFound):
                self.replicasets_api.delete(rs["metadata"]["name"], rs["metadata"]["namespace"])

    def calculate_status(self, all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj) -> dict[str, Any]:
        """The Deployment's status from its ReplicaSets', with the Available condition."""
        available = util.available_replica_count(all_rss)
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation"),
            "replicas": util.actual_replica_count(all_rss),
            "updatedReplicas": util.actual_replica_count([new_rs]),
            "readyReplicas": util.ready_replica_count(all_rss),
            "availableReplicas": available,
            "unavailableReplicas": max(0, util.replica_count(all_rss) - available),
        }
        old_status = d.get("status") or {}
        if old_status.get("conditions"):
            status["conditions"] = deep_copy(old_status["conditions"])
        if old_status.get("collisionCount") is not None:
            status["collisionCount"] = old_status["collisionCount"]
        if available >= replicas(d) - util.max_unavailable(d):
            util.set_condition(status, util.new_condition(
                "Available", "True", util.MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability.",
                self._now()))
        else:
            util.set_condition(status, util.new_condition(
                "Available", "False", util.MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.", self._now()))
        return omit_empty(status, STATUS_FIELDS)

    def sync_deployment_status(self, all_rss: Sequence[Obj | None], new_rs: Obj | None, d: dict[str, Any]) -> None:
        status = self.calculate_status(all_rss, new_rs, d)
        if status != (d.get("status") or {}):
            d["status"] = status
            self._update_status(d)

    def is_scaling_event(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> bool:
        """Whether only ``spec.replicas`` changed: an active ReplicaSet recorded another Deployment size."""
        new_rs, old_rss = self.get_all_replicasets_and_sync_revision(d, rs_list, False)
        for rs in util.filter_active([*old_rss, new_rs]):
            desired = util.desired_replicas_annotation(rs)
            if desired is not None and desired != replicas(d):
                return True
        return False

    def sync(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> None:
        """Scale (for a resize or while paused) without rolling anything out."""
        new_rs, old_rss = self.get_all_replicasets_and_sync_revision(d, rs_list, False)
        self.scale(d, new_rs, old_rss)
        if d["spec"].get("paused"):
            self.cleanup_deployment(old_rss, d)
        self.sync_deployment_status([*old_rss, new_rs], new_rs, d)

    def sync_status_only(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> None:
        new_rs, old_rss = self.get_all_replicasets_and_sync_revision(d, rs_list, False)
        self.sync_deployment_status([*old_rss, new_rs], new_rs, d)

    def check_paused_conditions(self, d: dict[str, Any]) -> None:
        """Mark a paused (or resumed) Deployment Progressing=Unknown, so time paused is not counted as no progress."""
        if not util.has_progress_deadline(d):
            return
        status = d.setdefault("status", {})
        condition = util.get_condition(status, "Progressing")
        if condition is not None and condition.get("reason") == util.TIMED_OUT_REASON:
            return
        paused_marked = condition is not None and condition.get("reason") == util.PAUSED_REASON
        if d["spec"].get("paused") and not paused_marked:
            util.set_condition(status, util.new_condition(
                "Progressing", "Unknown", util.PAUSED_REASON, "Deployment is paused", self._now()))
        elif not d["spec"].get("paused") and paused_marked:
            util.set_condition(status, util.new_condition(
                "Progressing", "Unknown", util.RESUMED_REASON, "Deployment is resumed", self._now()))
        else:
            return
        self._update_status(d)

    # -- rolling update (rolling.go) ------------------------------------------------------------------------

    def rollout_rolling(self, d: dict[str, Any], rs_list: list[dict[str, Any]]) -> Result | None:
        new_rs, old_rss = self.get_all_replicasets_and_sync_revision(d, rs_list, True)
        assert new_rs is not None
        all_rss = [*old_rss, new_rs]
        if self.reconcile_new_replicaset(all_rss, new_rs, d):
            return self.sync_rollout_status(all_rss, new_rs, d)
        if self.reconcile_old_replicasets(all_rss, util.filter_active(old_rss), new_rs, d):
            return self.sync_rollout_status(all_rss, new_rs, d)
        if util.deployment_complete(d, d.get("status") or {}):
            self.cleanup_deployment(old_rss, d)
        return self.sync_rollout_status(all_rss, new_rs, d)

    def reconcile_new_replicaset(self, all_rss: Sequence[Obj], new_rs: Obj, d: Obj) -> bool:
        """Grow the new ReplicaSet as far as maxSurge allows (or shrink it to ``replicas``); True if scaled."""
        if replicas(new_rs) == replicas(d):
            return False
        if replicas(new_rs) > replicas(d):
            return self.scale_replicaset_and_record_event(new_rs, replicas(d), d)[0]
        target = util.new_rs_new_replicas(d, all_rss, new_rs)
        return self.scale_replicaset_and_record_event(new_rs, target, d)[0]

    def reconcile_old_replicasets(self, all_rss: Sequence[Obj], old_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
        """Shrink old ReplicaSets as far as maxUnavailable allows, unhealthy pods first; True if scaled.

        At most ``all pods - (replicas - maxUnavailable) - unavailable new pods`` may go:
        counting the new ReplicaSet's unavailable pods keeps a broken new template from
        taking the old, working pods down with it.
        """
        old_count = util.replica_count(old_rss)
        if old_count == 0:
            return False
        min_available = replicas(d) - util.max_unavailable(d)
        new_unavailable = replicas(new_rs) - int((new_rs.get("status") or {}).get("availableReplicas") or 0)
        max_scaled_down = util.replica_count(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        try:
            old_rss, cleaned = self.cleanup_unhealthy_replicas(old_rss, d, max_scaled_down)
            scaled = self.scale_down_old_replicasets_for_rolling_update([*old_rss, new_rs], old_rss, d)
        except (errors.ClientError, ScaleDownRefused) as e:
            # As upstream: the next reconcile tries again.
            log.info("scaling down old replica sets of %s failed: %s", meta_namespace_key(d), e)
            return False
        return cleaned + scaled > 0

    def cleanup_unhealthy_replicas(self, old_rss: list[Obj], d: Obj, max_cleanup: int) -> tuple[list[Obj], int]:
        """Scale old ReplicaSets down by their unavailable pods: removing those costs no availability."""
        old_rss = sorted(old_rss, key=util.by_creation_timestamp)
        total = 0
        for i, rs in enumerate(old_rss):
            if total >= max_cleanup:
                break
            available = int((rs.get("status") or {}).get("availableReplicas") or 0)
            if replicas(rs) == 0 or replicas(rs) == available:
                continue
            scaled_down = min(max_cleanup - total, replicas(rs) - available)
            new_count = replicas(rs) - scaled_down
            if new_count > replicas(rs):
                # The status still counts pods of a larger size: never "scale down" upwards.
                raise ScaleDownRefused(
                    f"when cleaning up unhealthy replicas, got invalid request to scale down "
                    f"{rs['metadata']['namespace']}/{rs['metadata']['name']} {replicas(rs)} -> {new_count}")
            _, old_rss[i] = self.scale_replicaset_and_record_event(rs, new_count, d)
            total += scaled_down
        return old_rss, total

    def scale_down_old_replicasets_for_rolling_update(self, all_rss: Sequence[Obj], old_rss: Sequence[Obj],
                                                      d: Obj) -> int:
        """Scale old ReplicaSets down, oldest first, while more than ``replicas - maxUnavailable`` are available."""
        min_available = replicas(d) - util.max_unavailable(d)
        available = util.available_replica_count(all_rss)
        if available <= min_available:
            return 0
        total, allowed = 0, available - min_available
        for rs in sorted(old_rss, key=util.by_creation_timestamp):
            if total >= allowed:
                break
            if replicas(rs) == 0:
                continue
            count = min(replicas(rs), allowed - total)
            if count < 0:
                raise ScaleDownRefused(
                    f"when scaling down old RS, got invalid request to scale down "
                    f"{rs['metadata']['namespace']}/{rs['metadata']['name']} {replicas(rs)} -> {replicas(rs) - count}")
            self.scale_replicaset_and_record_event(rs, replicas(rs) - count, d)
            total += count
        return total

    # -- recreate (recreate.go) ------------------------------------------------------------------------------

    def rollout_recreate(self, d: dict[str, Any], rs_list: list[dict[str, Any]],
                         pod_map: Mapping[str, Sequence[Obj]]) -> Result | None:
        new_rs, old_rss = self.get_all_replicasets_and_sync_revision(d, rs_list, False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        scaled_down = False
        for rs in util.filter_active(old_rss):
            if self.scale_replicaset_and_record_event(rs, 0, d)[0]:
                scaled_down = True
        if scaled_down:
            return self.sync_rollout_status(all_rss, new_rs, d)
        if old_pods_running(new_rs, old_rss, pod_map):
            return self.sync_rollout_status(all_rss, new_rs, d)
        if new_rs is None:
            new_rs, old_rss = self.get_all_replicasets_and_sync_revision(d, rs_list, True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        self.scale_replicaset_and_record_event(new_rs, replicas(d), d)
        if util.deployment_complete(d, d.get("status") or {}):
            self.cleanup_deployment(old_rss, d)
        return self.sync_rollout_status(all_rss, new_rs, d)

    # -- progress (progress.go) --------------------------------------------------------------------------------

    def sync_rollout_status(self, all_rss: Sequence[Obj | None], new_rs: Obj | None, d: dict[str, Any]) -> Result | None:
        """Write the status with the Progressing condition; ask to be woken when the deadline may pass."""
        status = self.calculate_status(all_rss, new_rs, d)
        if not util.has_progress_deadline(d):
            util.remove_condition(status, "Progressing")
        old_status = d.get("status") or {}
        current = util.get_condition(old_status, "Progressing")
        complete_before = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and current is not None
                           and current.get("reason") == util.NEW_RS_AVAILABLE_REASON)
        if util.has_progress_deadline(d) and not complete_before:
            subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs is not None \
                else f'Deployment "{d["metadata"]["name"]}"'
            now = self._now()
            if util.deployment_complete(d, status):
                util.set_condition(status, util.new_condition(
                    "Progressing", "True", util.NEW_RS_AVAILABLE_REASON, f"{subject} has successfully progressed.", now))
            elif util.deployment_progressing(d, status):
                condition = util.new_condition(
                    "Progressing", "True", util.RS_UPDATED_REASON, f"{subject} is progressing.", now)
                # Progress refreshes lastUpdateTime even when the reason stays the same.
                if current is not None:
                    if current.get("status") == "True":
                        condition["lastTransitionTime"] = current.get("lastTransitionTime")
                    util.remove_condition(status, "Progressing")
                util.set_condition(status, condition)
            elif util.deployment_timed_out(d, status, self.clock.wall()):
                util.set_condition(status, util.new_condition(
                    "Progressing", "False", util.TIMED_OUT_REASON, f"{subject} has timed out progressing.", now))
        failure = self.replica_failure(all_rss, new_rs)
        if failure is not None:
            util.set_condition(status, failure)
        else:
            util.remove_condition(status, "ReplicaFailure")
        status = omit_empty(status, STATUS_FIELDS)
        if status == old_status:
            return self.requeue_stuck_deployment(d, status)
        d["status"] = status
        self._update_status(d)
        return None

    def replica_failure(self, all_rss: Sequence[Obj | None], new_rs: Obj | None) -> dict[str, Any] | None:
        """A ReplicaSet's ReplicaFailure condition as the Deployment's (the new ReplicaSet's first)."""
        for rs in [new_rs, *all_rss]:
            if rs is None:
                continue
            for c in (rs.get("status") or {}).get("conditions") or ():
                if c.get("type") == "ReplicaFailure":
                    return {"type": "ReplicaFailure", "status": c.get("status"),
                            "lastUpdateTime": c.get("lastTransitionTime"),
                            "lastTransitionTime": c.get("lastTransitionTime"),
                            "reason": c.get("reason"), "message": c.get("message")}
        return None

    def requeue_stuck_deployment(self, d: Obj, status: Mapping[str, Any]) -> Result | None:
        """When the rollout is stalled, come back when its progress deadline would pass."""
        current = util.get_condition(d.get("status") or {}, "Progressing")
        if not util.has_progress_deadline(d) or current is None:
            return None
        if util.deployment_complete(d, status) or current.get("reason") == util.TIMED_OUT_REASON:
            return None
        after = parse_time(current["lastUpdateTime"]) + util.progress_deadline_seconds(d) - self.clock.wall()
        if after < 1:
            return Result(requeue=True)
        # The extra second absorbs clock skew.
        return Result(requeue_after=after + 1)


def old_pods_running(new_rs: Obj | None, old_rss: Sequence[Obj], pod_map: Mapping[str, Sequence[Obj]]) -> bool:
    """Whether any pod of an old ReplicaSet still exists and has not finished (Recreate waits for none)."""
    if util.actual_replica_count(old_rss) > 0:
        return True
    new_uid = new_rs["metadata"].get("uid") if new_rs is not None else None
    for uid, pods in pod_map.items():
        if uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False
