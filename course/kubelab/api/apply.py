"""Server-side apply and field ownership: ``metadata.managedFields``.

A faithful simplification of ``sigs.k8s.io/structured-merge-diff`` and the API server's
field manager (``k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager``). Every object
records which manager owns which fields, one ``managedFields`` entry per manager and
operation::

    {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
     "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1",
     "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {...}}}}

* :func:`apply` (``PATCH`` with ``application/apply-patch+yaml``) merges a manager's
  configuration into the live object. The manager then owns exactly the fields of its
  configuration; fields it applied before and no longer applies are removed unless
  another manager owns them. Changing a field another manager owns is a conflict
  (:class:`ApplyConflict`, HTTP 409) unless ``force``, which takes the field over.
* :func:`update_managed_fields` records a create, update or patch: the manager takes
  ownership of every field it added or changed, and nobody owns a removed field.

Fields are addressed as in FieldsV1: ``f:<name>`` for an object field, ``k:{...}`` for an
item of a list keyed by some of its fields (containers by name), ``v:<value>`` for an item
of a set (finalizers), ``.`` for a node that is owned as well as some of its children.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from kubelab.api.fieldpath import (
    FieldPathError,
    Path,
    field_set,
    fields_v1,
    json_text,
    path_string,
    sorted_paths,
)
from kubelab.api.meta import now_rfc3339
from kubelab.api.typed import Shape, TypedValueError, compare, merge, remove, root_shape, to_field_set

__all__ = [
    "ApplyConflict",
    "ApplyError",
    "Conflict",
    "apply",
    "update_managed_fields",
]

class ApplyError(Exception):
    """An apply request the server rejects before merging; ``code`` is the HTTP status."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Conflict:
    """One field another manager owns and the apply would change."""

    manager: str
    """The owner as upstream prints it: ``"kubectl-client-side-apply" using apps/v1``."""
    path: str
    """The field: ``.spec.replicas``, ``.spec.template.spec.containers[name="web"].image``."""


class ApplyConflict(Exception):
    """An apply that would change fields other managers own (409 Conflict); ``force`` overrides it."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        self.message = _conflict_message(conflicts)
        super().__init__(self.message)

    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of the 409 Status: one ``FieldManagerConflict`` per field."""
        return [{"reason": "FieldManagerConflict", "message": f"conflict with {c.manager}", "field": c.path}
                for c in self.conflicts]


def _conflict_message(conflicts: list[Conflict]) -> str:
    if len(conflicts) == 1:
        return f"Apply failed with 1 conflict: conflict with {conflicts[0].manager}: {conflicts[0].path}"
    lines: list[str] = []
    for manager in sorted({c.manager for c in conflicts}):
        lines.append(f"conflicts with {manager}")
        lines.extend(f"- {c.path}" for c in conflicts if c.manager == manager)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# Managers.

_STRIPPED = {
    (("f", "apiVersion"),), (("f", "kind"),), (("f", "metadata"),),
    *((("f", "metadata"), ("f", name)) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
        "managedFields", "resourceVersion",
    )),
}
"""Fields nobody owns (upstream's ``stripMeta``)."""


def _strip(paths: set[Path], reset_fields: Collection[str]) -> set[Path]:
    return {p for p in paths if p not in _STRIPPED and not (p and p[0][0] == "f" and p[0][1] in reset_fields)}


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: set[Path]

    @property
    def identity(self) -> tuple[str, str, str, str]:
        # Appliers keep one entry whatever version they apply at; updaters one per version.
        return (self.manager, self.operation, self.subresource,
                "" if self.operation == "Apply" else self.api_version)

    def describe(self) -> str:
        text = json_text(self.manager)
        if self.subresource:
            text += f" with subresource {json_text(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def encode(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                                 "apiVersion": self.api_version}
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = fields_v1(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _decode(entries: Any) -> list[_Entry]:
    """The entries of a ``managedFields`` list; none if it cannot be read (the caller then keeps the live ones)."""
    if not isinstance(entries, list):
        return []
    out = []
    try:
        for raw in entries:
            if not isinstance(raw, dict) or not raw.get("manager") and not raw.get("operation"):
                continue
            out.append(_Entry(
                str(raw.get("manager") or ""), str(raw.get("operation") or ""), str(raw.get("apiVersion") or ""),
                str(raw.get("subresource") or ""), raw.get("time"), field_set(raw.get("fieldsV1") or {}),
            ))
    except (FieldPathError, ValueError, AttributeError):
        return []
    return out


def _encode(entries: list[_Entry]) -> list[dict[str, Any]]:
    kept = [e for e in entries if e.fields]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.encode() for e in kept]


def _managers_of(new: dict[str, Any], old: dict[str, Any] | None) -> list[_Entry]:
    # A client that sends no managedFields keeps the live ones (upstream does the same, so
    # that clients unaware of them cannot drop them by accident).
    entries = _decode((new.get("metadata") or {}).get("managedFields"))
    if not entries and old is not None:
        entries = _decode((old.get("metadata") or {}).get("managedFields"))
    return entries


def _with_managed_fields(obj: dict[str, Any], entries: list[_Entry]) -> dict[str, Any]:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    encoded = _encode(entries)
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _without_managed_fields(obj: dict[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _changes(old: dict[str, Any], new: dict[str, Any], shape: Shape,
             reset_fields: Collection[str]) -> tuple[set[Path], set[Path], set[Path]]:
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()
    compare(old, new, shape, (), added, modified, removed, old_present=True)
    return _strip(added, reset_fields), _strip(modified, reset_fields), _strip(removed, reset_fields)


def update_managed_fields(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    model_name: str | None,
    subresource: str = "",
    now: str | None = None,
    reset_fields: Collection[str] = (),
) -> dict[str, Any]:
    """``new`` with ``metadata.managedFields`` updated for a create, update or patch by ``manager``.

    ``old`` is the stored object (None on create). The manager's ``Update`` entry at
    ``api_version`` gains every field the request added or changed; every entry loses the
    fields it removed. Top-level fields in ``reset_fields`` are not recorded (``("status",)``
    for a resource's main endpoint; everything but ``status`` for ``/status``). ``now``
    (RFC 3339) stamps the entry when something changed.
    """
    entries = _managers_of(new, old)
    added, modified, removed = _changes(_without_managed_fields(old), _without_managed_fields(new),
                                        root_shape(model_name), reset_fields)
    changed = added | modified
    this = _Entry(manager, "Update", api_version, subresource, None, set())
    for entry in entries:
        if entry.identity == this.identity:
            continue
        entry.fields -= changed | removed
    if changed:
        previous = next((e for e in entries if e.identity == this.identity), None)
        if previous is not None:
            previous.fields = (previous.fields - removed) | changed
            previous.time = now or now_rfc3339()
        else:
            this.fields = changed
            this.time = now or now_rfc3339()
            entries.append(this)
    else:
        for entry in entries:
            if entry.identity == this.identity:
                entry.fields -= removed
    return _with_managed_fields(new, entries)


def apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    model_name: str | None,
    force: bool = False,
    subresource: str = "",
    now: str | None = None,
    reset_fields: Collection[str] = (),
) -> dict[str, Any]:
    """The live object (None to create it) after ``manager`` applies ``config``, managedFields included.

    Raises :class:`ApplyConflict` when the apply would change fields other managers own
    and ``force`` is false; :class:`ApplyError` for a configuration the server rejects.
    Re-applying the same configuration changes nothing, not even the entry's time.
    """
    if not isinstance(config, dict):
        raise ApplyError("error decoding YAML: the apply configuration must be an object")
    if (config.get("metadata") or {}).get("managedFields"):
        raise ApplyError("metadata.managedFields must be nil")
    shape = root_shape(model_name)
    current = _without_managed_fields(live)
    entries = _decode((live or {}).get("metadata", {}).get("managedFields"))
    this = _Entry(manager, "Apply", api_version, subresource, None, set())
    previous = next((e for e in entries if e.identity == this.identity), None)
    applied: set[Path] = set()
    try:
        to_field_set(config, shape, (), applied)
    except TypedValueError as e:
        raise ApplyError(str(e), 422) from e
    applied = _strip(applied, reset_fields)

    merged = merge(current, config, shape)
    if previous is not None:
        # Fields this manager applied before and applies no more go, unless someone owns them.
        owned = set().union(applied, *(e.fields for e in entries if e is not previous))
        present: set[Path] = set()
        to_field_set(merged, shape, (), present, strict=False)
        for path in sorted_paths((previous.fields & present) - owned):
            merged = remove(merged, path, shape)

    added, modified, removed = _changes(current, merged, shape, reset_fields)
    changed = added | modified
    conflicts: list[Conflict] = []
    for entry in entries:
        if entry is previous:
            continue
        conflicts.extend(Conflict(entry.describe(), path_string(p)) for p in sorted_paths(entry.fields & changed))
    if conflicts and not force:
        conflicts.sort(key=lambda c: c.manager)
        raise ApplyConflict(conflicts)
    for entry in entries:
        if entry is not previous:
            entry.fields -= changed | removed
    if previous is None:
        previous = this
        entries.append(previous)
    unchanged = merged == current and previous.fields == applied
    previous.fields = applied
    previous.api_version = api_version
    if not unchanged:
        previous.time = now or now_rfc3339()
    if unchanged and live is not None:
        return copy.deepcopy(live)
    return _with_managed_fields(merged, entries)
