"""CustomResourceDefinitions: defaults, validation, status, and the resources they add to the API.

Mirrors ``k8s.io/apiextensions-apiserver``: ``pkg/registry/customresourcedefinition/strategy.go``,
``pkg/apis/apiextensions/v1/defaults.go``, ``pkg/apis/apiextensions/validation`` and, for
the status, what the naming and establishing controllers write (``acceptedNames``,
``NamesAccepted``, ``Established``). :func:`resource_infos` turns an established CRD into
the :class:`~kubelab.api.resources.ResourceInfo` entries the API server serves.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.api.meta import now_rfc3339
from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import crd_schema
from kubelab.apiserver.resources.base import ResourceStrategy, child, items
from kubelab.apiserver.resources.columns import column, doc, name_column, name_of

Obj = dict[str, Any]
SCOPES = ["Cluster", "Namespaced"]
COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]


class CustomResourceDefinitionStrategy(ResourceStrategy):
    has_status = True
    tracks_generation = True

    def default(self, obj: Obj) -> None:
        spec = child(obj, "spec")
        names = child(spec, "names")
        if names.get("kind"):
            if not names.get("singular"):
                names["singular"] = str(names["kind"]).lower()
            if not names.get("listKind"):
                names["listKind"] = f"{names['kind']}List"
        if not isinstance(spec.get("conversion"), dict):
            spec["conversion"] = {"strategy": "None"}
        for version in items(spec, "versions"):
            scale = (version.get("subresources") or {}).get("scale")
            if isinstance(scale, dict):
                scale.setdefault("statusReplicasPath", ".status.replicas")

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = established_status(obj, None)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        obj["status"] = established_status(obj, old.get("status") or {})

    def validate(self, obj: Obj) -> list[FieldError]:
        return validate_crd(obj)

    def validate_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        errs = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        for key in ("group", "scope"):
            if spec.get(key) != old_spec.get(key):
                errs.append(field.invalid(f"spec.{key}", spec.get(key), validation.FIELD_IMMUTABLE_ERROR_MSG))
        names = {v.get("name") for v in items(spec, "versions")}
        for i, stored in enumerate((obj.get("status") or {}).get("storedVersions") or []):
            if stored not in names:
                errs.append(field.invalid(f"status.storedVersions[{i}]", stored, "must appear in spec.versions"))
        return errs

    def validate_status_update(self, obj: Obj, old: Obj) -> list[FieldError]:
        stored = (obj.get("status") or {}).get("storedVersions")
        if not stored:
            return [field.invalid("status.storedVersions", stored, "must have at least one stored version")]
        return []

    def table_columns(self) -> list[Obj]:
        return [name_column(), column("Created At", doc("V1ObjectMeta", "creationTimestamp"), type="date")]

    def table_cells(self, obj: Obj, now: float) -> list[Any]:
        return [name_of(obj), (obj.get("metadata") or {}).get("creationTimestamp") or ""]


def storage_version(crd: Obj) -> str | None:
    for version in items(crd.get("spec"), "versions"):
        if version.get("storage"):
            return str(version.get("name"))
    return None


def established_status(crd: Obj, old_status: Obj | None) -> Obj:
    """The status a CRD has once its names are accepted: acceptedNames, conditions, storedVersions."""
    status = copy.deepcopy(old_status) if old_status else {}
    names = copy.deepcopy((crd.get("spec") or {}).get("names") or {})
    status["acceptedNames"] = names
    stored = list(status.get("storedVersions") or [])
    storage = storage_version(crd)
    if storage and storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored
    now = now_rfc3339()
    conditions = {c.get("type"): c for c in items(status, "conditions")}
    wanted = [
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    status["conditions"] = [
        conditions.get(kind) if (conditions.get(kind) or {}).get("status") == "True"
        else {"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message}
        for kind, reason, message in wanted
    ]
    return status


def validate_crd(crd: Obj) -> list[FieldError]:
    """``ValidateCustomResourceDefinition``: name, group, scope, names, versions and their schemas."""
    spec = crd.get("spec") or {}
    errs: list[FieldError] = []
    names = spec.get("names") or {}
    group = str(spec.get("group") or "")
    name = (crd.get("metadata") or {}).get("name") or ""
    if name and names.get("plural") and group and name != f"{names['plural']}.{group}":
        errs.append(field.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errs.append(field.required("spec.group", ""))
    else:
        errs += [field.invalid("spec.group", group, m) for m in validation.is_dns1123_subdomain(group)]
        if "." not in group:
            errs.append(field.invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        errs.append(field.required("spec.scope", ""))
    elif scope not in SCOPES:
        errs.append(field.not_supported("spec.scope", scope, SCOPES))
    errs += _validate_versions(spec.get("versions"))
    errs += _validate_names(names)
    return errs


def _validate_versions(versions: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    entries = versions if isinstance(versions, list) else []
    seen: set[str] = set()
    storage = 0
    for i, version in enumerate(entries):
        at = f"spec.versions[{i}]"
        if not isinstance(version, dict):
            errs.append(field.invalid(at, version, "must be an object"))
            continue
        name = str(version.get("name") or "")
        errs += [field.invalid(f"{at}.name", name, m) for m in validation.is_dns1035_label(name)]
        if name in seen:
            errs.append(field.invalid("spec.versions", entries, "must contain unique version names"))
        seen.add(name)
        storage += 1 if version.get("storage") else 0
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            errs.append(field.required(f"{at}.schema.openAPIV3Schema", "schemas are required"))
        else:
            errs += crd_schema.validate_structural(schema, f"{at}.schema.openAPIV3Schema")
        errs += _validate_subresources(version.get("subresources"), f"{at}.subresources")
        for j, col in enumerate(items(version, "additionalPrinterColumns")):
            errs += _validate_column(col, f"{at}.additionalPrinterColumns[{j}]")
    if storage != 1:
        errs.append(field.invalid("spec.versions", entries or None, "must have exactly one version marked as storage version"))
    return errs


def _validate_names(names: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, mixed_case in (("plural", False), ("singular", False), ("kind", True), ("listKind", True)):
        value = str(names.get(key) or "")
        if not value:
            errs.append(field.required(f"spec.names.{key}", ""))
            continue
        messages = validation.is_dns1035_label(value.lower() if mixed_case else value)
        if messages:
            detail = ",".join(messages)
            if mixed_case:
                detail = "may have mixed case, but should otherwise match: " + detail
            errs.append(field.invalid(f"spec.names.{key}", value, detail))
    for i, short in enumerate(names.get("shortNames") or []):
        errs += [field.invalid(f"spec.names.shortNames[{i}]", short, m) for m in validation.is_dns1035_label(str(short))]
    for i, category in enumerate(names.get("categories") or []):
        errs += [field.invalid(f"spec.names.categories[{i}]", category, m) for m in validation.is_dns1035_label(str(category))]
    return errs


def _validate_subresources(subresources: Any, path: str) -> list[FieldError]:
    if not isinstance(subresources, dict):
        return []
    scale = subresources.get("scale")
    if not isinstance(scale, dict):
        return []
    errs: list[FieldError] = []
    for key, prefix in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = str(scale.get(key) or "")
        if not value:
            errs.append(field.required(f"{path}.scale.{key}", ""))
        elif not value.startswith(prefix) or len(value) == len(prefix):
            errs.append(field.invalid(f"{path}.scale.{key}", value, f"should be a json path under {prefix[:-1]}"))
    selector = scale.get("labelSelectorPath")
    if selector and not (str(selector).startswith(".spec.") or str(selector).startswith(".status.")):
        errs.append(field.invalid(f"{path}.scale.labelSelectorPath", selector, "should be a json path under either .spec or .status"))
    return errs


def _validate_column(col: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not col.get("name"):
        errs.append(field.required(f"{path}.name", ""))
    kind = col.get("type")
    if not kind:
        errs.append(field.required(f"{path}.type", f"must be one of {', '.join(COLUMN_TYPES)}"))
    elif kind not in COLUMN_TYPES:
        errs.append(field.not_supported(f"{path}.type", kind, COLUMN_TYPES))
    if not col.get("jsonPath"):
        errs.append(field.required(f"{path}.jsonPath", ""))
    priority = col.get("priority")
    if isinstance(priority, int) and priority < 0:
        errs.append(field.invalid(f"{path}.priority", priority, validation.IS_NEGATIVE_ERROR_MSG))
    return errs


def is_established(crd: Obj) -> bool:
    return any(
        c.get("type") == "Established" and c.get("status") == "True" for c in items(crd.get("status"), "conditions")
    )


def resource_infos(crd: Obj) -> list[ResourceInfo]:
    """The resources an established CRD serves: one per served version, with its subresources."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    infos = []
    for version in items(spec, "versions"):
        if not version.get("served"):
            continue
        subresources = version.get("subresources") or {}
        infos.append(ResourceInfo(
            group=str(spec.get("group")), version=str(version.get("name")), kind=str(names.get("kind")),
            plural=str(names.get("plural")), singular=str(names.get("singular") or str(names.get("kind")).lower()),
            namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(s for s in ("status", "scale") if subresources.get(s) is not None),
            crd=True,
        ))
    return infos
