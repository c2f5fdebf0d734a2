"""What every built-in resource's strategy shares: status and generation rules, the ``/status`` strategy.

Upstream each ``strategy.go`` repeats the same few lines (``PrepareForCreate`` clears the
status and sets ``generation`` to 1; ``PrepareForUpdate`` keeps the old status and bumps
``generation`` when the spec changed; the status strategy does the reverse). Here they are
written once; a resource's strategy sets :attr:`has_status` / :attr:`tracks_generation` and
overrides only what differs.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api.field import FieldError
from kubelab.apiserver.strategy import Strategy

Obj = dict[str, Any]

_STATUS_KEPT_METADATA = (
    "deletionTimestamp", "generation", "labels", "annotations", "finalizers", "ownerReferences",
)
"""Metadata a ``/status`` write may not change (``metav1.ResetObjectMetaForStatus``)."""


class ResourceStrategy(Strategy):
    """A built-in resource's strategy: status cleared on create and kept on update, generation counted."""

    spec_fields: tuple[str, ...] = ("spec",)
    """The top-level fields whose change is a spec change (bumps ``generation``)."""

    def prepare_for_create(self, obj: Obj) -> None:
        if self.has_status:
            obj["status"] = self.initial_status(obj)
        if self.tracks_generation:
            obj.setdefault("metadata", {})["generation"] = 1

    def initial_status(self, obj: Obj) -> Obj:
        """The status a new object starts with (upstream: the zero value, ``{}``)."""
        return {}

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        if self.has_status:
            _keep(obj, old, "status")
        if self.tracks_generation:
            meta = obj.setdefault("metadata", {})
            generation = old.get("metadata", {}).get("generation", 1)
            changed = any(obj.get(f) != old.get(f) for f in self.spec_fields)
            meta["generation"] = generation + 1 if changed else generation

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        """Field errors of a ``/status`` write (``Validate<Kind>StatusUpdate``)."""
        return []

    def prepare_for_status_update(self, obj: Obj, old: Obj) -> None:
        """Keep everything but ``status`` from ``old`` (the ``/status`` subresource's rule)."""
        for key in set(obj) | set(old):
            if key not in ("status", "metadata", "apiVersion", "kind"):
                _keep(obj, old, key)
        meta, old_meta = obj.setdefault("metadata", {}), old.get("metadata", {})
        for key in _STATUS_KEPT_METADATA:
            _keep(meta, old_meta, key)


class StatusStrategy(Strategy):
    """The ``/status`` subresource of a resource: only ``status`` (and a little metadata) may change."""

    def __init__(self, main: ResourceStrategy) -> None:
        super().__init__(main.info)
        self.main = main
        self.has_status = main.has_status
        self.tracks_generation = main.tracks_generation

    def default(self, obj: Obj) -> None:
        self.main.default(obj)

    def prepare_for_create(self, obj: Obj) -> None:
        self.main.prepare_for_create(obj)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        self.main.prepare_for_status_update(obj, old)

    def validate(self, obj: Obj) -> list[FieldError]:
        return self.main.validate(obj)

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        return self.main.validate_status_update(obj, old)

    def canonicalize(self, obj: Obj) -> None:
        self.main.canonicalize(obj)

    def selectable_fields(self, obj: Obj) -> dict[str, str]:
        return self.main.selectable_fields(obj)

    def table_columns(self) -> list[dict[str, Any]]:
        return self.main.table_columns()

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return self.main.table_cells(obj, now)


def _keep(obj: Obj, old: Obj, key: str) -> None:
    if key in old:
        obj[key] = copy.deepcopy(old[key])
    else:
        obj.pop(key, None)


def set_default(obj: Obj, key: str, value: Any) -> Any:
    """``obj[key]`` if set (not None), else store and return ``value`` — the ``SetDefaults_*`` idiom."""
    if obj.get(key) is None:
        obj[key] = value
    return obj[key]


def child(obj: Obj, key: str) -> Obj:
    """``obj[key]`` as a dict, created empty when missing or null."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def items(obj: Obj | None, key: str) -> list[Obj]:
    """The dict entries of the list ``obj[key]`` (missing, null or non-list → none)."""
    value = (obj or {}).get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
