"""Events, in both APIs: core/v1 Event (what is stored) and events.k8s.io/v1 Event (a view of it).

Both resources keep the same objects under ``/registry/events`` in the core/v1 shape. The
registry converts an events.k8s.io body with :func:`to_core` before storing it and a stored
object with :func:`from_core` before returning it; :class:`EventsV1Strategy` works on the
events.k8s.io shape. Mirrors ``pkg/apis/events/v1/conversion.go``,
``pkg/apis/core/validation/events.go`` and ``printEvent``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.api.meta import human_duration, parse_time
from kubelab.apiserver.resources.base import ResourceStrategy
from kubelab.apiserver.resources.columns import column, doc

Obj = dict[str, Any]
REPORTING_INSTANCE_LIMIT = 128
ACTION_LIMIT = 128
REASON_LIMIT = 128
NOTE_LIMIT = 1024

# events.k8s.io/v1 field → core/v1 field, for the fields that only change name.
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_SHARED = ("metadata", "eventTime", "series", "reportingInstance", "action", "reason", "related", "type")


def to_core(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event as the core/v1 Event it is stored as."""
    core: Obj = {"kind": "Event", "apiVersion": "v1"}
    for key in _SHARED:
        if key in event:
            core[key] = copy.deepcopy(event[key])
    for new, old in _RENAMED.items():
        if event.get(new) not in (None, "", 0, {}):
            core[old] = copy.deepcopy(event[new])
    core.setdefault("involvedObject", {})
    core.setdefault("source", {})
    return core


def from_core(event: Obj) -> Obj:
    """A stored core/v1 Event as events.k8s.io/v1 shows it."""
    out: Obj = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    for key in _SHARED:
        if key in event:
            out[key] = copy.deepcopy(event[key])
    for new, old in _RENAMED.items():
        if event.get(old) not in (None, "", 0, {}):
            out[new] = copy.deepcopy(event[old])
    out.setdefault("eventTime", None)
    return out


class EventStrategy(ResourceStrategy):
    """core/v1 Events: the lenient legacy validation, field selectors, the ``kubectl get events`` table."""

    def validate(self, obj: Obj) -> list[FieldError]:
        return validate_legacy_event(obj, "reportingComponent")

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        involved = obj.get("involvedObject") or {}
        for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            fields[f"involvedObject.{key}"] = str(involved.get(key) or "")
        fields["reason"] = obj.get("reason") or ""
        fields["reportingComponent"] = obj.get("reportingComponent") or ""
        fields["source"] = (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
        fields["type"] = obj.get("type") or ""
        return fields

    def table_columns(self) -> list[Obj]:
        return [
            column("Last Seen", doc("CoreV1Event", "lastTimestamp")),
            column("Type", doc("CoreV1Event", "type")),
            column("Reason", doc("CoreV1Event", "reason")),
            column("Object", doc("CoreV1Event", "involvedObject")),
            column("Subobject", doc("V1ObjectReference", "fieldPath"), priority=1),
            column("Source", doc("CoreV1Event", "source"), priority=1),
            column("Message", doc("CoreV1Event", "message")),
            column("First Seen", doc("CoreV1Event", "firstTimestamp"), priority=1),
            column("Count", doc("CoreV1Event", "count"), priority=1),
            column("Name", doc("V1ObjectMeta", "name"), priority=1, format="name"),
        ]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return event_cells(obj, now)


class EventsV1Strategy(ResourceStrategy):
    """events.k8s.io/v1 Events: strict validation of new events; table and fields as the core view."""

    def validate(self, obj: Obj) -> list[FieldError]:
        core = to_core(obj)
        errs = validate_legacy_event(core, "reportingController")
        if not obj.get("eventTime"):
            errs.append(field.required("eventTime", ""))
        if obj.get("type") not in ("Normal", "Warning"):
            errs.append(field.invalid("type", "", f"has invalid value: {obj.get('type') or ''}"))
        for key in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource"):
            if obj.get(key):
                errs.append(field.invalid(key, "", "needs to be unset"))
        series = obj.get("series")
        if isinstance(series, dict):
            if (series.get("count") or 0) < 2:
                errs.append(field.invalid("series.count", "", "should be at least 2"))
            if not series.get("lastObservedTime"):
                errs.append(field.required("series.lastObservedTime", ""))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        for key in ("regarding", "related", "reportingController", "reportingInstance", "action", "reason",
                    "note", "type", "eventTime"):
            if obj.get(key) != old.get(key):
                errs.append(field.invalid(key, obj.get(key), validation.FIELD_IMMUTABLE_ERROR_MSG))
        return errs

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        fields = EventStrategy(self.info).selectable_fields(to_core(obj))
        for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            fields[f"regarding.{key}"] = fields[f"involvedObject.{key}"]
        fields["reportingController"] = fields["reportingComponent"]
        return fields

    def table_columns(self) -> list[Obj]:
        return EventStrategy(self.info).table_columns()

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return event_cells(to_core(obj), now)


def validate_legacy_event(event: Obj, controller_field: str) -> list[FieldError]:
    """``legacyValidateEvent``: namespaces agree; events with eventTime name their reporter and action."""
    errs: list[FieldError] = []
    namespace = (event.get("metadata") or {}).get("namespace") or ""
    involved = event.get("involvedObject") or {}
    involved_namespace = involved.get("namespace") or ""
    mismatch = field.invalid("involvedObject.namespace", involved_namespace, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not involved_namespace and namespace not in ("", "default")) or (
            involved_namespace and involved_namespace != namespace
        ):
            errs.append(mismatch)
    else:
        if not involved_namespace and namespace not in ("default", "kube-system"):
            errs.append(mismatch)
        controller = str(event.get("reportingComponent") or "")
        if not controller:
            errs.append(field.required(controller_field, ""))
        errs += [field.invalid(controller_field, controller, m) for m in validation.is_qualified_name(controller)]
        for key, limit in (("reportingInstance", REPORTING_INSTANCE_LIMIT), ("action", ACTION_LIMIT), ("reason", REASON_LIMIT)):
            value = str(event.get(key) or "")
            if not value:
                errs.append(field.required(key, ""))
            elif len(value) > limit:
                errs.append(field.invalid(key, "", f"can have at most {limit} characters"))
        if len(str(event.get("message") or "")) > NOTE_LIMIT:
            errs.append(field.invalid("message", "", f"can have at most {NOTE_LIMIT} characters"))
    errs += [field.invalid("namespace", namespace, m) for m in validation.is_dns1123_subdomain(namespace)]
    return errs


def _since(timestamp: str | None, now: float) -> str:
    return human_duration(now - parse_time(timestamp)) if timestamp else "<unknown>"


def event_cells(event: Obj, now: float) -> list[Any]:
    """One ``kubectl get events`` row of a core/v1 Event (``printEvent``)."""
    first = _since(event.get("firstTimestamp") or event.get("eventTime"), now)
    last = _since(event["lastTimestamp"], now) if event.get("lastTimestamp") else first
    count = event.get("count") or 0
    series = event.get("series")
    if isinstance(series, dict):
        last = _since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif not count:
        count = 1
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return [
        last, event.get("type") or "", event.get("reason") or "", target, involved.get("fieldPath") or "",
        f"{component}, {host}" if host else component, str(event.get("message") or "").strip(), first, count,
        (event.get("metadata") or {}).get("name", ""),
    ]
