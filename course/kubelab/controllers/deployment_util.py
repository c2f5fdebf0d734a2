"""The arithmetic of Deployments: surge and unavailability, revisions, proportions, conditions.

Mirrors ``pkg/controller/deployment/util/deployment_util.go``; pure functions on plain
dicts (or read-only views), so each can be tested, and rebuilt in lab 05, on its own.
Fields an apps/v1 Deployment always has once defaulted by the API server (strategy 25%/25%,
revisionHistoryLimit 10, progressDeadlineSeconds 600, replicas 1) default the same way here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

from kubelab.api.meta import parse_time
from kubelab.runtime import deep_copy

Obj = Mapping[str, Any]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY = "pod-template-hash"
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000

ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
})
"""Deployment annotations not copied to its ReplicaSets."""

# Condition reasons, as upstream spells them.
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
RS_UPDATED_REASON = "ReplicaSetUpdated"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

_MAX_INT32 = 2**31 - 1
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


# -- spec, with apps/v1 defaults -----------------------------------------------------------------


def replicas(obj: Obj | None) -> int:
    """``spec.replicas`` (1 when unset); 0 for no object."""
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def strategy_type(d: Obj) -> str:
    return ((d["spec"].get("strategy") or {}).get("type")) or "RollingUpdate"


def is_rolling_update(d: Obj) -> bool:
    return strategy_type(d) == "RollingUpdate"


def has_progress_deadline(d: Obj) -> bool:
    """Whether the Deployment reports lack of progress (``progressDeadlineSeconds`` set and not MaxInt32)."""
    return progress_deadline_seconds(d) != _MAX_INT32


def progress_deadline_seconds(d: Obj) -> int:
    value = d["spec"].get("progressDeadlineSeconds")
    return 600 if value is None else int(value)


def revision_history_limit(d: Obj) -> int:
    value = d["spec"].get("revisionHistoryLimit")
    return 10 if value is None else int(value)


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """An int, or a percentage of ``total`` rounded up or down (``GetScaledValueFromIntOrPercent``)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"invalid value for IntOrString: invalid type: neither int nor percentage: {value!r}")
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}") from None
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """``(surge, unavailable)`` in pods: surge rounds up, unavailability down; never both 0.

    If both come to 0 (e.g. 25% of 1 replica, rounded down), unavailability becomes 1:
    surging might be impossible (a quota), and a rollout must be able to move.
    """
    surge = scaled_value("25%" if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value("25%" if max_unavailable is None else max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: Obj) -> Mapping[str, Any]:
    return (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}


def max_surge(d: Obj) -> int:
    """How many pods above ``spec.replicas`` a rolling update may run (0 for Recreate)."""
    if not is_rolling_update(d):
        return 0
    rolling = _rolling(d)
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas(d))[0]


def max_unavailable(d: Obj) -> int:
    """How many pods below ``spec.replicas`` may be unavailable during a rolling update (0 for Recreate)."""
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    rolling = _rolling(d)
    unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas(d))[1]
    return min(unavailable, replicas(d))


# -- replica sets ------------------------------------------------------------------------------------


def _status(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def replica_count(rss: Iterable[Obj | None]) -> int:
    """Sum of ``spec.replicas`` (``GetReplicaCountForReplicaSets``)."""
    return sum(replicas(rs) for rs in rss if rs is not None)


def actual_replica_count(rss: Iterable[Obj | None]) -> int:
    """Sum of ``status.replicas``: pods that exist (``GetActualReplicaCountForReplicaSets``)."""
    return sum(_status(rs, "replicas") for rs in rss if rs is not None)


def ready_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(_status(rs, "readyReplicas") for rs in rss if rs is not None)


def available_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(_status(rs, "availableReplicas") for rs in rss if rs is not None)


def filter_active(rss: Iterable[Obj | None]) -> list[Obj]:
    """ReplicaSets that should have pods (``spec.replicas > 0``)."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def _created(obj: Obj) -> float:
    stamp = obj["metadata"].get("creationTimestamp")
    return parse_time(stamp) if stamp else -math.inf


def by_creation_timestamp(rs: Obj) -> tuple[float, str]:
    """Sort key: oldest first, then by name (``ReplicaSetsByCreationTimestamp``)."""
    return _created(rs), rs["metadata"]["name"]


def by_size_older(rs: Obj) -> tuple[int, float]:
    """Sort key: largest first, older first among equals (``ReplicaSetsBySizeOlder``)."""
    return -replicas(rs), _created(rs)


def by_size_newer(rs: Obj) -> tuple[int, float]:
    """Sort key: largest first, newer first among equals (``ReplicaSetsBySizeNewer``)."""
    return -replicas(rs), -_created(rs)


def revision(obj: Obj) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation as a number (0 if missing or not a number)."""
    value = (obj["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def by_revision(rs: Obj) -> tuple[int, float, str]:
    """Sort key: lowest revision first, then oldest (``ReplicaSetsByRevision``)."""
    return (revision(rs), *by_creation_timestamp(rs))


def max_revision(rss: Iterable[Obj | None]) -> int:
    return max((revision(rs) for rs in rss if rs is not None), default=0)


def _semantic(value: Any) -> Any:
    """``value`` with empty maps, lists and nulls dropped: Go's semantic equality treats them as absent."""
    if isinstance(value, Mapping):
        cleaned = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_semantic(v) for v in value]
    return value


def equal_ignore_hash(template1: Obj, template2: Obj) -> bool:
    """Whether two pod templates are the same apart from the ``pod-template-hash`` label."""
    t1, t2 = _semantic(template1), _semantic(template2)
    for t in (t1, t2):
        labels = (t.get("metadata") or {}).get("labels")
        if labels:
            labels.pop(DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY, None)
            if not labels:
                del t["metadata"]["labels"]
            if not t["metadata"]:
                del t["metadata"]
    return bool(t1 == t2)


def find_new_replicaset(d: Obj, rss: Sequence[Obj]) -> Obj | None:
    """The ReplicaSet running the Deployment's current template (the oldest, if several)."""
    for rs in sorted(rss, key=by_creation_timestamp):
        if equal_ignore_hash(rs["spec"]["template"], d["spec"]["template"]):
            return rs
    return None


def find_old_replicasets(d: Obj, rss: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """``(old ones with pods wanted, all old ones)``: every ReplicaSet but the new one."""
    new = find_new_replicaset(d, rss)
    new_uid = new["metadata"].get("uid") if new is not None else None
    all_old = [rs for rs in rss if new is None or rs["metadata"].get("uid") != new_uid]
    return [rs for rs in all_old if replicas(rs) != 0], all_old


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """The one ReplicaSet with pods wanted (or the newest, if none has); None while several have."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=by_creation_timestamp, reverse=True)
    active = filter_active([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """The ``pod-template-hash`` of a template: FNV-32a, spelled with consonants and digits only.

    Upstream hashes Go's printout of the template struct, which Python cannot reproduce, so
    the value differs from a real cluster's for the same template; the shape (and the use of
    ``collisionCount`` to get a new name after a collision) is the same.
    """
    data = json.dumps(deep_copy(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    digest = 0x811C9DC5
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return safe_encode_string(str(digest))


def safe_encode_string(text: str) -> str:
    """``text`` spelled with consonants and digits only, so no name made from it reads as a word (``rand.SafeEncodeString``)."""
    return "".join(_SAFE_ALPHANUMS[ord(c) % len(_SAFE_ALPHANUMS)] for c in text)


def _int_annotation(obj: Obj, key: str) -> int | None:
    value = (obj["metadata"].get("annotations") or {}).get(key)
    try:
        parsed = int(value) if value is not None else None
    except ValueError:
        return None
    return parsed if parsed is not None and -(2**31) <= parsed <= _MAX_INT32 else None


def desired_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)


def max_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, MAX_REPLICAS_ANNOTATION)


def set_replicas_annotations(rs: MutableMapping[str, Any], desired: int, maximum: int) -> bool:
    """Record the Deployment's size (desired-replicas, max-replicas) on ``rs``; True if that changed it."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = rs["metadata"].get("annotations") or {}
    return bool(annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired)
                or annotations.get(MAX_REPLICAS_ANNOTATION) != str(maximum))


def set_new_replicaset_annotations(
    d: Obj, rs: MutableMapping[str, Any], new_revision: str, exists: bool,
    history_limit: int = MAX_REV_HISTORY_LENGTH_IN_CHARS,
) -> bool:
    """Copy the Deployment's annotations to its new ReplicaSet and give it ``new_revision``; True if changed.

    A ReplicaSet that already had a lower revision is being rolled back to: its old
    revision is appended to ``deployment.kubernetes.io/revision-history``.
    """
    annotations: dict[str, Any] = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in (d["metadata"].get("annotations") or {}).items():
        if key in ANNOTATIONS_TO_SKIP or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    old_revision = annotations.get(REVISION_ANNOTATION)
    try:
        old = int(old_revision) if old_revision else 0
        new = int(new_revision)
    except ValueError:
        return False
    if old < new:
        annotations[REVISION_ANNOTATION] = new_revision
        changed = True
        if old_revision is not None:
            history = annotations.get(REVISION_HISTORY_ANNOTATION) or ""
            old_revisions = history.split(",")
            if not old_revisions[0]:
                annotations[REVISION_HISTORY_ANNOTATION] = old_revision
            else:
                total, start = len(history) + len(old_revision) + 1, 0
                while total > history_limit and start < len(old_revisions):
                    total -= len(old_revisions[start]) + 1
                    start += 1
                if total <= history_limit:
                    annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*old_revisions[start:], old_revision])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# -- scaling ----------------------------------------------------------------------------------------


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How many replicas the new ReplicaSet may have now (``NewRSNewReplicas``).

    Rolling update: as many as fit under ``replicas + maxSurge`` counting every ReplicaSet,
    never more than ``replicas``. Recreate: all of them.
    """
    if not is_rolling_update(d):
        return replicas(d)
    current = replica_count(all_rss)
    most = replicas(d) + max_surge(d)
    if current >= most:
        return replicas(new_rs)
    scale_up = min(most - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """Whether ``rs`` alone runs the whole Deployment: all replicas wanted, recorded and available."""
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    return desired is not None and replicas(rs) == replicas(d) == desired and _status(rs, "availableReplicas") == replicas(d)


def _round_half_away(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def replicaset_fraction(rs: Obj, d: Obj) -> int:
    """How many replicas ``rs`` should gain (or lose) when the Deployment is resized mid-rollout."""
    if replicas(d) == 0:
        return -replicas(rs)
    most = replicas(d) + max_surge(d)
    before = max_replicas_annotation(rs)
    if not before:
        # No record of the size before scaling (someone edited the ReplicaSet): use the current one.
        before = _status(d, "replicas")
        if before == 0:
            return 0
    return _round_half_away(replicas(rs) * most / before) - replicas(rs)


def get_proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    """``rs``'s share of ``to_add`` replicas, never beyond what is left after ``added`` (``GetProportion``)."""
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replicaset_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# -- progress and conditions -------------------------------------------------------------------------


def deployment_complete(d: Obj, status: Mapping[str, Any]) -> bool:
    """Every replica updated, no old one left, all available, and the latest spec observed."""
    want = replicas(d)
    return bool(
        int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
        and int(status.get("availableReplicas") or 0) == want
        and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0)
    )


def deployment_progressing(d: Obj, new_status: Mapping[str, Any]) -> bool:
    """Whether ``new_status`` moved the rollout on from the Deployment's current status."""
    old = d.get("status") or {}

    def count(status: Mapping[str, Any], field: str) -> int:
        return int(status.get(field) or 0)

    old_old = count(old, "replicas") - count(old, "updatedReplicas")
    new_old = count(new_status, "replicas") - count(new_status, "updatedReplicas")
    return (
        count(new_status, "updatedReplicas") > count(old, "updatedReplicas")
        or new_old < old_old
        or count(new_status, "readyReplicas") > count(old, "readyReplicas")
        or count(new_status, "availableReplicas") > count(old, "availableReplicas")
    )


def deployment_timed_out(d: Obj, new_status: Mapping[str, Any], now: float) -> bool:
    """Whether the Progressing condition was last updated more than ``progressDeadlineSeconds`` ago."""
    if not has_progress_deadline(d):
        return False
    condition = get_condition(new_status, "Progressing")
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if condition.get("reason") == TIMED_OUT_REASON:
        return True
    return parse_time(condition["lastUpdateTime"]) + progress_deadline_seconds(d) < now


def new_condition(type: str, status: str, reason: str, message: str, timestamp: str) -> dict[str, Any]:
    return {"type": type, "status": status, "lastUpdateTime": timestamp, "lastTransitionTime": timestamp,
            "reason": reason, "message": message}


def get_condition(status: Mapping[str, Any], type: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == type:
            return condition  # type: ignore[no-any-return]
    return None


def set_condition(status: MutableMapping[str, Any], condition: dict[str, Any]) -> None:
    """Put ``condition`` in ``status`` (``SetDeploymentCondition``).

    Nothing changes if one of that type already has the same status and reason; a
    condition whose status stays the same keeps its lastTransitionTime. The new condition
    goes last.
    """
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] \
            and current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status["conditions"] = [*(status.get("conditions") or []), condition]


def remove_condition(status: MutableMapping[str, Any], type: str) -> None:
    conditions = [c for c in status.get("conditions") or () if c.get("type") != type]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
