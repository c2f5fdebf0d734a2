"""The StatefulSet controller: pods with stable names and storage, started, stopped and updated in order.

Mirrors ``pkg/controller/statefulset`` (``stateful_set.go``, ``stateful_set_control.go``,
``stateful_set_utils.go``, ``stateful_pod_control.go``). A StatefulSet ``web`` with 3 replicas
runs ``web-0``, ``web-1``, ``web-2``; each pod has the ``statefulset.kubernetes.io/pod-name``
and ``apps.kubernetes.io/pod-index`` labels, hostname ``web-N`` and subdomain the set's
``serviceName`` (so a headless Service gives each a DNS name), and for each
``volumeClaimTemplate`` ``www`` its own PersistentVolumeClaim ``www-web-N``, made before the
pod and kept when the pod goes (unless ``persistentVolumeClaimRetentionPolicy`` says Delete).

- **OrderedReady** (the default): ``web-N`` is created only once ``web-0`` … ``web-(N-1)``
  are Running and Ready, and scaling down removes the highest ordinal first, one at a time;
  **Parallel** creates and deletes without waiting.
- Every template the set has run is a ControllerRevision (:mod:`~kubelab.controllers.history`);
  pods carry theirs in ``controller-revision-hash``, and the status says the
  ``currentRevision`` and the ``updateRevision``.
- **RollingUpdate** deletes, from the highest ordinal down to ``partition``, one pod at a
  time that is not at the update revision, waiting for each replacement to be Ready;
  **OnDelete** waits for you to delete pods.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.api.selectors import LabelSelector, SelectorError
from kubelab.client import Client, Resource
from kubelab.controllers.history import (
    CONTROLLER_REVISION_HASH_LABEL,
    History,
    equal_revision,
    find_equal_revisions,
    new_controller_revision,
    next_revision,
    revision_template,
    sort_revisions,
    template_patch,
)
from kubelab.controllers.manager import ControllerContext
from kubelab.controllers.pod_control import pod_from_template
from kubelab.controllers.podutil import is_pod_available, is_pod_ready
from kubelab.controllers.ref_manager import (
    ControllerRefManager,
    controller_of,
    controller_ref,
    recheck_deletion_timestamp,
)
from kubelab.controllers.replicaset import omit_empty
from kubelab.runtime import (
    Clock,
    Controller,
    EventRecorder,
    Informer,
    ReadOnlyDict,
    Result,
    deep_copy,
    meta_namespace_key,
    split_meta_namespace_key,
)

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
STATUS_FIELDS = ("observedGeneration", "replicas", "readyReplicas", "currentReplicas", "updatedReplicas",
                 "currentRevision", "updateRevision", "collisionCount", "availableReplicas")
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


# -- identity and storage (stateful_set_utils.go) --------------------------------------------------


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """``("web", 2)`` for pod ``web-2``; ordinal -1 for a name that is not ``<set>-<ordinal>``."""
    match = _ORDINAL.match(pod["metadata"]["name"])
    return (match.group(1), int(match.group(2))) if match else ("", -1)


def ordinal_of(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def pod_name(set: Obj, ordinal: int) -> str:
    return f"{set['metadata']['name']}-{ordinal}"


def claim_name(set: Obj, claim: Obj, ordinal: int) -> str:
    """``<claim template>-<set>-<ordinal>``, e.g. ``www-web-0``."""
    return f"{claim['metadata']['name']}-{set['metadata']['name']}-{ordinal}"


def replicas_of(set: Obj) -> int:
    replicas = set["spec"].get("replicas")
    return 1 if replicas is None else int(replicas)


def start_ordinal(set: Obj) -> int:
    return int((set["spec"].get("ordinals") or {}).get("start") or 0)


def end_ordinal(set: Obj) -> int:
    return start_ordinal(set) + replicas_of(set) - 1


def in_ordinal_range(pod: Obj, set: Obj) -> bool:
    return start_ordinal(set) <= ordinal_of(pod) <= end_ordinal(set)


def is_member_of(set: Obj, pod: Obj) -> bool:
    """Whether the pod is named as this set's pods are (``isMemberOf``)."""
    parent, ordinal = parent_and_ordinal(pod)
    return ordinal >= 0 and parent == set["metadata"]["name"]


def identity_matches(set: Obj, pod: Obj) -> bool:
    parent, ordinal = parent_and_ordinal(pod)
    labels = pod["metadata"].get("labels") or {}
    return (ordinal >= 0 and parent == set["metadata"]["name"] and pod["metadata"]["name"] == pod_name(set, ordinal)
            and pod["metadata"].get("namespace") == set["metadata"]["namespace"]
            and labels.get(POD_NAME_LABEL) == pod["metadata"]["name"]
            and labels.get(POD_INDEX_LABEL) == str(ordinal))


def storage_matches(set: Obj, pod: Obj) -> bool:
    """Whether each claim template's volume in the pod points at this pod's own claim."""
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or ()}
    for claim in set["spec"].get("volumeClaimTemplates") or ():
        volume = volumes.get(claim["metadata"]["name"])
        if volume is None or (volume.get("persistentVolumeClaim") or {}).get("claimName") != claim_name(set, claim, ordinal):
            return False
    return True


def update_identity(set: Obj, pod: dict[str, Any]) -> None:
    """Give the pod its stable name, labels, hostname and subdomain (``updateIdentity``)."""
    ordinal = ordinal_of(pod)
    pod["metadata"]["name"] = pod_name(set, ordinal)
    pod["metadata"]["namespace"] = set["metadata"]["namespace"]
    labels = pod["metadata"].setdefault("labels", {})
    labels[POD_NAME_LABEL] = pod["metadata"]["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


def update_storage(set: Obj, pod: dict[str, Any]) -> None:
    """Point each claim template's volume at the pod's own claim, replacing a template volume of that name."""
    ordinal = ordinal_of(pod)
    templates = set["spec"].get("volumeClaimTemplates") or ()
    if not templates:
        return
    names = {t["metadata"]["name"] for t in templates}
    volumes = [v for v in pod["spec"].get("volumes") or () if v.get("name") not in names]
    volumes += [{"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name(set, t, ordinal)}}
                for t in templates]
    pod["spec"]["volumes"] = volumes


def claims_for(set: Obj, pod: Obj) -> dict[str, dict[str, Any]]:
    """The claims a pod needs, by template name (``getPersistentVolumeClaims``)."""
    ordinal = ordinal_of(pod)
    match_labels = dict((set["spec"].get("selector") or {}).get("matchLabels") or {})
    claims = {}
    for template in set["spec"].get("volumeClaimTemplates") or ():
        claim = deep_copy(template)
        claim.pop("status", None)
        claim["apiVersion"], claim["kind"] = "v1", "PersistentVolumeClaim"
        meta = claim.setdefault("metadata", {})
        meta["name"] = claim_name(set, template, ordinal)
        meta["namespace"] = set["metadata"]["namespace"]
        meta["labels"] = {**(meta.get("labels") or {}), **match_labels}
        claims[template["metadata"]["name"]] = claim
    return claims


def new_statefulset_pod(set: Obj, ordinal: int) -> dict[str, Any]:
    """The pod ``<set>-<ordinal>`` as the set's template describes it (``newStatefulSetPod``)."""
    pod = pod_from_template(set["spec"]["template"], set, controller_ref(set))
    del pod["metadata"]["generateName"]
    pod["metadata"]["name"] = pod_name(set, ordinal)
    update_identity(set, pod)
    pod["spec"]["hostname"] = pod["metadata"]["name"]
    if set["spec"].get("serviceName"):
        pod["spec"]["subdomain"] = set["spec"]["serviceName"]
    update_storage(set, pod)
    return pod


def pod_revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL, ""))


def set_pod_revision(pod: dict[str, Any], revision: str) -> None:
    pod["metadata"].setdefault("labels", {})[CONTROLLER_REVISION_HASH_LABEL] = revision


def with_template(set: Obj, revision: Obj) -> dict[str, Any]:
    """A copy of the set running the template of ``revision`` (``ApplyRevision``)."""
    copy = deep_copy(set)
    copy["spec"]["template"] = revision_template(revision)
    return copy  # type: ignore[no-any-return]


def new_versioned_pod(current_set: Obj, update_set: Obj, current_revision: str, update_revision: str,
                      ordinal: int, current_replicas: int) -> dict[str, Any]:
    """A missing pod at the right revision: below the partition, the current one; otherwise the update."""
    strategy = current_set["spec"].get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        below = start_ordinal(current_set) + (current_replicas if rolling is None else int(rolling.get("partition") or 0))
        if ordinal < below:
            pod = new_statefulset_pod(current_set, ordinal)
            set_pod_revision(pod, current_revision)
            return pod
    pod = new_statefulset_pod(update_set, ordinal)
    set_pod_revision(pod, update_revision)
    return pod


def is_created(pod: Obj) -> bool:
    return bool((pod.get("status") or {}).get("phase"))


def is_failed(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Failed"


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def retention_policy(set: Obj) -> tuple[str, str]:
    """``(whenDeleted, whenScaled)``, Retain unless the set says Delete."""
    policy = set["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
    return policy.get("whenDeleted") or "Retain", policy.get("whenScaled") or "Retain"


def claim_owner_refs(claim: Obj, set: Obj, pod: Obj) -> list[dict[str, Any]]:
    """The claim's ownerReferences as the retention policy wants them (``updateClaimOwnerRefForSetAndPod``).

    Owned by the set, a claim is deleted with it (``whenDeleted: Delete``); owned by its pod,
    it is deleted when a scale-down deletes the pod (``whenScaled: Delete``).
    """
    when_deleted, when_scaled = retention_policy(set)
    scaled_down = not in_ordinal_range(pod, set)
    set_uid, pod_uid = set["metadata"].get("uid"), pod["metadata"].get("uid")
    refs = [dict(r) for r in claim["metadata"].get("ownerReferences") or ()
            if r.get("uid") not in (set_uid, pod_uid)]
    owned_by_set = when_deleted == "Delete" and not (when_scaled == "Delete" and scaled_down)
    owned_by_pod = when_scaled == "Delete" and scaled_down and pod_uid
    if owned_by_set:
        refs.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": set["metadata"]["name"], "uid": set_uid})
    if owned_by_pod:
        refs.append({"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod_uid})
    return refs


class StatefulPodControl:
    """Creates, updates and deletes a set's pods and claims, recording upstream's events."""

    def __init__(self, client: Client, recorder: EventRecorder, claims: Informer) -> None:
        self.pods: Resource = client.resource("v1", "pods")
        self.claims_api: Resource = client.resource("v1", "persistentvolumeclaims")
        self.claims = claims
        self.recorder = recorder

    def _pod_event(self, verb: str, set: Obj, pod: Obj, error: Exception | None) -> None:
        name, set_name = pod["metadata"]["name"], set["metadata"]["name"]
        if error is None:
            self.recorder.event(set, "Normal", f"Successful{verb.title()}",
                                f"{verb} Pod {name} in StatefulSet {set_name} successful")
        else:
            self.recorder.event(set, "Warning", f"Failed{verb.title()}",
                                f"{verb} Pod {name} in StatefulSet {set_name} failed error: {error}")

    def _claim_event(self, verb: str, set: Obj, pod: Obj, claim: Obj, error: Exception | None) -> None:
        names = f"Claim {claim['metadata']['name']} Pod {pod['metadata']['name']} in StatefulSet {set['metadata']['name']}"
        if error is None:
            self.recorder.event(set, "Normal", f"Successful{verb.title()}", f"{verb} {names} success")
        else:
            self.recorder.event(set, "Warning", f"Failed{verb.title()}", f"{verb} {names} failed error: {error}")

    def create_claims(self, set: Obj, pod: Obj) -> None:
        """Create the pod's claims that do not exist yet, owned as the retention policy says."""
        for claim in claims_for(set, pod).values():
            meta = claim["metadata"]
            if self.claims.cache.get(meta["name"], meta["namespace"]) is not None:
                continue
            refs = claim_owner_refs(claim, set, pod)
            if refs:
                meta["ownerReferences"] = refs
            try:
                self.claims_api.create(claim)
            except errors.AlreadyExists:
                continue
            except errors.ApiError as e:
                self._claim_event("create", set, pod, claim, e)
                raise
            self._claim_event("create", set, pod, claim, None)

    def create_pod(self, set: Obj, pod: dict[str, Any]) -> None:
        """Create the pod's claims, then the pod."""
        self.create_claims(set, pod)
        try:
            self.pods.create(pod)
        except errors.AlreadyExists:
            return
        except errors.ApiError as e:
            self._pod_event("create", set, pod, e)
            raise
        self._pod_event("create", set, pod, None)

    def update_pod(self, set: Obj, pod: dict[str, Any]) -> None:
        """Restore the pod's identity and storage, and its claims' owners (``UpdateStatefulPod``)."""
        if not storage_matches(set, pod):
            update_storage(set, pod)
            self.create_claims(set, pod)
        if not identity_matches(set, pod):
            update_identity(set, pod)
        self.update_claims_for_retention_policy(set, pod)
        try:
            self.pods.update(pod)
        except errors.ApiError as e:
            self._pod_event("update", set, pod, e)
            raise
        self._pod_event("update", set, pod, None)

    def claims_match_retention_policy(self, set: Obj, pod: Obj) -> bool:
        for claim in claims_for(set, pod).values():
            current = self.claims.cache.get(claim["metadata"]["name"], claim["metadata"]["namespace"])
            if current is not None and [dict(r) for r in current["metadata"].get("ownerReferences") or ()] \
                    != claim_owner_refs(current, set, pod):
                return False
        return True

    def update_claims_for_retention_policy(self, set: Obj, pod: Obj) -> None:
        for claim in claims_for(set, pod).values():
            current = self.claims.cache.get(claim["metadata"]["name"], claim["metadata"]["namespace"])
            if current is None:
                continue
            refs = claim_owner_refs(current, set, pod)
            if [dict(r) for r in current["metadata"].get("ownerReferences") or ()] == refs:
                continue
            meta = current["metadata"]
            self.claims_api.patch(meta["name"], {"metadata": {"ownerReferences": refs or None,
                                                              "resourceVersion": meta["resourceVersion"]}},
                                  meta["namespace"])

    def delete_pod(self, set: Obj, pod: Obj) -> None:
        try:
            self.pods.delete(pod["metadata"]["name"], pod["metadata"]["namespace"])
        except errors.NotFound:
            return
        except errors.ApiError as e:
            self._pod_event("delete", set, pod, e)
            raise
        self._pod_event("delete", set, pod, None)


class StatefulSetController:
    """Runs StatefulSets: ordered pods with stable identities and storage, and their rolling updates."""

    name = "statefulset"
    component = "statefulset-controller"
    kind, api_version = "StatefulSet", "apps/v1"

    def __init__(self, *, workers: int = 5) -> None:
        self.workers = workers

    # -- wiring ---------------------------------------------------------------------------------

    def start(self, context: ControllerContext) -> None:
        """Watch StatefulSets, pods, revisions and claims; start the workers."""
        self.client: Client = context.client
        self.clock: Clock = context.clock
        self.recorder: EventRecorder = context.recorder(self.component)
        self.sets_api: Resource = context.client.resource(self.api_version, "statefulsets")
        self.pods_api: Resource = context.client.resource("v1", "pods")
        self.revisions_api: Resource = context.client.resource("apps/v1", "controllerrevisions")
        self.sets: Informer = context.informers.informer(self.api_version, "statefulsets")
        self.pods: Informer = context.informers.informer("v1", "pods")
        self.revisions: Informer = context.informers.informer("apps/v1", "controllerrevisions")
        self.claims: Informer = context.informers.informer("v1", "persistentvolumeclaims")
        self.history = History(context.client)
        self.pod_control = StatefulPodControl(context.client, self.recorder, self.claims)
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        for informer in (self.sets, self.pods, self.revisions, self.claims):
            self.controller.waits_for(informer)
        self.sets.add_event_handler(self._enqueue, lambda old, new: self._enqueue(new), self._enqueue)
        self.pods.add_event_handler(self._pod_changed, lambda old, new: self._pod_updated(old, new),
                                    self._pod_changed)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def _enqueue(self, set: Obj) -> None:
        self.controller.queue.add(meta_namespace_key(set))

    def _set_of(self, pod: Obj) -> ReadOnlyDict | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        set = self.sets.cache.get(ref["name"], pod["metadata"]["namespace"])
        return set if set is not None and set["metadata"].get("uid") == ref.get("uid") else None

    def _orphan_candidates(self, pod: Obj) -> list[ReadOnlyDict]:
        candidates = []
        for set in self.sets.cache.list(pod["metadata"]["namespace"]):
            try:
                selector = LabelSelector.from_label_selector(set["spec"].get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(pod["metadata"].get("labels")) and is_member_of(set, pod):
                candidates.append(set)
        return candidates

    def _pod_changed(self, pod: ReadOnlyDict) -> None:
        set = self._set_of(pod)
        if set is not None:
            self._enqueue(set)
        elif controller_of(pod) is None:
            for candidate in self._orphan_candidates(pod):
                self._enqueue(candidate)

    def _pod_updated(self, old: ReadOnlyDict, new: ReadOnlyDict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        old_set, new_set = self._set_of(old), self._set_of(new)
        if old_set is not None and (new_set is None or old_set["metadata"]["uid"] != new_set["metadata"]["uid"]):
            self._enqueue(old_set)
        self._pod_changed(new)
        set = new_set
        if set is not None and not is_pod_ready(old) and is_pod_ready(new) and set["spec"].get("minReadySeconds"):
            self.controller.queue.add_after(meta_namespace_key(set), int(set["spec"]["minReadySeconds"]) + 1)

    # -- reconcile (syncStatefulSet / UpdateStatefulSet) --------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        """Bring one StatefulSet's pods and claims towards its spec and write its status."""
        namespace, name = split_meta_namespace_key(key)
        cached = self.sets.cache.get(name, namespace)
        if cached is None:
            return None
        set = deep_copy(cached)
        try:
            selector = LabelSelector.from_label_selector(set["spec"].get("selector"))
        except SelectorError as e:
            self.recorder.event(set, "Warning", "InvalidSelector", f"Error parsing selector: {e}")
            return None
        can_adopt = recheck_deletion_timestamp(self.client, set)
        pods = ControllerRefManager(self.pods_api, set, selector, can_adopt).claim(
            self.pods.cache.list(namespace), lambda pod: is_member_of(set, pod))
        revisions = ControllerRefManager(self.revisions_api, set, selector, can_adopt).claim(
            self.revisions.cache.list(namespace))
        revisions = sort_revisions(revisions)
        current, update, collision_count = self.get_revisions(set, revisions)
        status = self.update_stateful_set(set, current, update, collision_count, pods)
        self.update_status(set, status)
        self.truncate_history(set, pods, revisions, current, update)
        min_ready = int(set["spec"].get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("readyReplicas", 0) != status.get("availableReplicas", 0):
            return Result(requeue_after=min_ready)
        return None

    def get_revisions(self, set: Obj, revisions: Sequence[Obj]) -> tuple[Obj, Obj, int]:
        """``(current revision, update revision, collision count)``, creating or renumbering the update revision."""
        collision_count = int((set.get("status") or {}).get("collisionCount") or 0)
        candidate = new_controller_revision(set, set["spec"]["template"].get("metadata", {}).get("labels"),
                                            template_patch(set), next_revision(revisions), collision_count or None)
        candidate["metadata"]["annotations"] = dict(set["metadata"].get("annotations") or {})
        equal = find_equal_revisions(revisions, candidate)
        if equal and revisions and equal_revision(revisions[-1], equal[-1]):
            update: Obj = revisions[-1]
        elif equal:
            # An older template again (a rollback): it becomes the newest revision.
            update = self.history.update_revision(equal[-1], candidate["revision"])
        else:
            update, collision_count = self.history.create(set, candidate, collision_count)
        current_name = (set.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == current_name), update)
        return current, update, collision_count

    def update_stateful_set(self, set: Obj, current: Obj, update: Obj, collision_count: int,
                            pods: Sequence[Obj]) -> dict[str, Any]:
        """Create, update or delete at most what the pod management policy allows; return the new status."""
        current_set, update_set = with_template(set, current), with_template(set, update)
        current_name, update_name = current["metadata"]["name"], update["metadata"]["name"]
        min_ready = int(set["spec"].get("minReadySeconds") or 0)
        status = self.count(pods, current_name, update_name, min_ready)
        status.update(observedGeneration=set["metadata"].get("generation"), currentRevision=current_name,
                      updateRevision=update_name, collisionCount=collision_count)
        replicas: list[Any] = [None] * replicas_of(set)
        condemned = []
        for pod in pods:
            if in_ordinal_range(pod, set):
                replicas[ordinal_of(pod) - start_ordinal(set)] = pod
            elif ordinal_of(pod) >= 0:
                condemned.append(pod)
        current_replicas = int((set.get("status") or {}).get("currentReplicas") or 0)
        for i, pod in enumerate(replicas):
            if pod is None:
                replicas[i] = new_versioned_pod(current_set, update_set, current_name, update_name,
                                                start_ordinal(set) + i, current_replicas)
        condemned.sort(key=ordinal_of, reverse=True)
        unhealthy = [p for p in replicas if not is_healthy(p)] + [p for p in reversed(condemned) if not is_healthy(p)]
        first_unhealthy = unhealthy[0] if unhealthy else None
        if set["metadata"].get("deletionTimestamp"):
            return status
        monotonic = set["spec"].get("podManagementPolicy", "OrderedReady") != "Parallel"
        for i, pod in enumerate(replicas):
            if is_failed(pod):
                self.recorder.event(set, "Warning", "RecreatingFailedPod",
                                    f"StatefulSet {set['metadata']['namespace']}/{set['metadata']['name']} "
                                    f"is recreating failed Pod {pod['metadata']['name']}")
                self.pod_control.delete_pod(set, pod)
                self._count_gone(status, pod, current_name, update_name)
                status["replicas"] -= 1
                pod = replicas[i] = new_versioned_pod(current_set, update_set, current_name, update_name,
                                                      start_ordinal(set) + i, current_replicas)
            if not is_created(pod):
                self.pod_control.create_pod(set, pod)
                status["replicas"] += 1
                if pod_revision(pod) == current_name:
                    status["currentReplicas"] += 1
                if pod_revision(pod) == update_name:
                    status["updatedReplicas"] += 1
                if monotonic:
                    return status
                continue
            if is_terminating(pod) and monotonic:
                return status
            if monotonic and not (is_running_and_ready(pod) and is_pod_available(pod, min_ready, self.clock.wall())):
                # Each pod waits for all its predecessors to be Running and Ready (and available).
                return status
            if identity_matches(set, pod) and storage_matches(set, pod) \
                    and self.pod_control.claims_match_retention_policy(update_set, pod):
                continue
            self.pod_control.update_pod(update_set, deep_copy(pod))
        for pod in condemned:
            if not self.pod_control.claims_match_retention_policy(update_set, pod):
                self.pod_control.update_claims_for_retention_policy(update_set, pod)
        # Scaling down: the highest ordinal first, once all the others are healthy.
        for pod in condemned:
            if is_terminating(pod):
                if monotonic:
                    return status
                continue
            if monotonic and pod is not first_unhealthy and not (
                    is_running_and_ready(pod) and is_pod_available(pod, min_ready, self.clock.wall())):
                return status
            self.pod_control.delete_pod(set, pod)
            self._count_gone(status, pod, current_name, update_name)
            if monotonic:
                return status
        strategy = set["spec"].get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return status
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        # Rolling update: from the highest ordinal down to the partition, one pod at a time.
        for target in range(len(replicas) - 1, partition - 1, -1):
            pod = replicas[target]
            if pod_revision(pod) != update_name and not is_terminating(pod):
                log.info("statefulset %s: deleting pod %s for update to revision %s",
                         meta_namespace_key(set), pod["metadata"]["name"], update_name)
                self.pod_control.delete_pod(set, pod)
                status["currentReplicas"] -= 1
                return status
            if not is_healthy(pod):
                return status
        return status

    @staticmethod
    def _count_gone(status: dict[str, Any], pod: Obj, current_name: str, update_name: str) -> None:
        if pod_revision(pod) == current_name:
            status["currentReplicas"] -= 1
        if pod_revision(pod) == update_name:
            status["updatedReplicas"] -= 1

    def count(self, pods: Sequence[Obj], current_name: str, update_name: str, min_ready: int) -> dict[str, Any]:
        """The status counts of these pods (``updateStatus``)."""
        status = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0,
                  "updatedReplicas": 0}
        now = self.clock.wall()
        for pod in pods:
            if is_created(pod):
                status["replicas"] += 1
            if is_running_and_ready(pod):
                status["readyReplicas"] += 1
                if is_pod_available(pod, min_ready, now):
                    status["availableReplicas"] += 1
            if is_created(pod) and not is_terminating(pod):
                if pod_revision(pod) == current_name:
                    status["currentReplicas"] += 1
                if pod_revision(pod) == update_name:
                    status["updatedReplicas"] += 1
        return status

    def update_status(self, set: dict[str, Any], status: dict[str, Any]) -> None:
        """Write the status (a finished rolling update makes the update revision current)."""
        strategy = (set["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and status["updatedReplicas"] == status["replicas"] \
                and status["readyReplicas"] == status["replicas"]:
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        new = omit_empty(status, STATUS_FIELDS)
        new["replicas"] = status["replicas"]
        if "collisionCount" in status:
            new["collisionCount"] = status["collisionCount"]
        old = set.get("status") or {}
        if all(old.get(k) == new.get(k) for k in STATUS_FIELDS):
            return
        set["status"] = {**{k: v for k, v in old.items() if k not in STATUS_FIELDS}, **new}
        try:
            self.sets_api.update_status(set)
        except errors.Conflict:
            fresh = self.sets_api.get(set["metadata"]["name"], set["metadata"]["namespace"])
            fresh["status"] = set["status"]
            self.sets_api.update_status(fresh)

    def truncate_history(self, set: Obj, pods: Sequence[Obj], revisions: Sequence[Obj], current: Obj,
                         update: Obj) -> None:
        """Delete the oldest revisions no pod runs, beyond ``revisionHistoryLimit``."""
        live = {current["metadata"]["name"], update["metadata"]["name"], *(pod_revision(p) for p in pods)}
        history = [r for r in revisions if r["metadata"]["name"] not in live]
        limit = int(set["spec"].get("revisionHistoryLimit", 10))
        for revision in history[:max(0, len(history) - limit)]:
            self.history.delete(revision)

