"""Who changed which fields: ``metadata.managedFields`` on every write, and server-side apply.

Mirrors ``k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager``: the handler asks the field
manager to record each create, update and patch under the request's manager name (the
``fieldManager`` parameter, else the first word of the User-Agent), and to merge an apply
patch (``application/apply-patch+yaml``) into the live object. The merging and ownership
rules are :mod:`kubelab.api.apply`'s; this module supplies what the request says (manager,
version, schema, which top-level fields the endpoint may not change) and turns its errors
into Statuses.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import apply as ssa
from kubelab.api import field
from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import errors, patching

Obj = dict[str, Any]
MAX_MANAGER_LENGTH = 128
_UNMANAGED = ("apiVersion", "kind", "metadata", "status")


def manager_name(field_manager: str, user_agent: str, *, apply: bool) -> str:
    """The manager a request writes as (``managerOrUserAgent``); apply must name one."""
    if apply and not field_manager:
        raise errors.invalid(
            "PatchOptions", "meta.k8s.io", "", [field.required("fieldManager", "is required for apply patch")]
        )
    name = field_manager or user_agent.split("/", 1)[0].strip()
    if len(name) > MAX_MANAGER_LENGTH:
        raise errors.invalid(
            "UpdateOptions", "meta.k8s.io", "",
            [field.too_long("fieldManager", name, MAX_MANAGER_LENGTH)],
        )
    return name


def _reset_fields(info: ResourceInfo, subresource: str, *objs: Obj | None) -> tuple[str, ...]:
    """Top-level fields this endpoint does not own: status on the resource, all but status on ``/status``."""
    if subresource == "status":
        keys = {k for o in objs if o for k in o}
        return tuple(sorted(keys - set(_UNMANAGED)))
    return ("status",)


def update(info: ResourceInfo, subresource: str, old: Obj | None, new: Obj, manager: str) -> Obj:
    """``new`` with the manager's ``Update`` entry recording what this write added or changed."""
    return ssa.update_managed_fields(
        old, new, manager=manager, api_version=info.group_version,
        model_name=patching.model_for(info, subresource), subresource=subresource,
        reset_fields=_reset_fields(info, subresource, old, new),
    )


def apply(info: ResourceInfo, subresource: str, live: Obj | None, config: Any, manager: str, force: bool) -> Obj:
    """The object after ``manager`` applies ``config`` to ``live`` (None: the object does not exist yet)."""
    try:
        return ssa.apply(
            live, config, manager=manager, api_version=info.group_version,
            model_name=patching.model_for(info, subresource), force=force, subresource=subresource,
            reset_fields=_reset_fields(info, subresource, live, config if isinstance(config, dict) else None),
        )
    except ssa.ApplyConflict as e:
        raise errors.apply_conflict(e.causes(), e.message) from e
    except ssa.ApplyError as e:
        if e.code == 422:
            return_error = errors.StatusError(422, "Invalid", e.message, {"causes": [{"message": e.message}]})
        else:
            return_error = errors.bad_request(e.message)
        raise return_error from e
