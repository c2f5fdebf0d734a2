"""PATCH requests: decode the patch, apply it to the stored object, report failures as upstream does.

Mirrors ``k8s.io/apiserver/pkg/endpoints/handlers/patch.go``. The patch formats themselves
live in :mod:`kubelab.api.patch` (JSON patch, merge patch, strategic merge patch) and
:mod:`kubelab.apiserver.fieldmanager` (server-side apply); this module picks one by Content-Type and
turns a :class:`~kubelab.api.patch.PatchError` into the Status the client expects.
"""

from __future__ import annotations

import json
from typing import Any

from kubelab.api import patch as patches
from kubelab.api import schema
from kubelab.api.resources import ResourceInfo
from kubelab.apiserver import errors, negotiation

Obj = dict[str, Any]


def decode_patch(body: bytes, patch_type: str) -> Any:
    """The patch document of a request body; 400 when it is not JSON (or, for apply, YAML)."""
    try:
        return json.loads(body)
    except ValueError as e:
        if patch_type != negotiation.APPLY_PATCH:
            raise errors.bad_request(f"error decoding patch: {e}") from e
    import yaml

    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error decoding YAML: {e}") from e


def patch_error(err: patches.PatchError) -> errors.StatusError:
    """The Status of a patch that is malformed (400), too big (413) or does not apply (422)."""
    if err.code == 400:
        return errors.bad_request(err.message)
    if err.code == 413:
        return errors.StatusError(413, "RequestEntityTooLarge", err.message)
    if err.code == 422:
        return errors.StatusError(
            422, "Invalid", "the server rejected our request due to an error in our request",
            {"causes": [{"reason": "UnexpectedServerResponse", "message": err.message}]},
        )
    return errors.internal_error(err.message)


def model_for(info: ResourceInfo, subresource: str) -> str | None:
    """The schema model a strategic merge patch walks: the kind's, or ``V1Scale`` for ``/scale``."""
    if subresource == "scale":
        return "V1Scale"
    if info.crd:
        return None
    return schema.model_name_for_kind(info.group, info.version, info.kind)


def apply_patch(info: ResourceInfo, subresource: str, current: Obj, patch: Any, patch_type: str) -> Obj:
    """``current`` with the JSON, merge or strategic merge ``patch`` applied."""
    try:
        if patch_type == negotiation.JSON_PATCH:
            result = patches.json_patch(current, patch)
        elif patch_type == negotiation.MERGE_PATCH:
            result = patches.merge_patch(current, patch)
        else:
            result = patches.strategic_merge_patch(current, patch, model_for(info, subresource))
    except patches.PatchError as e:
        raise patch_error(e) from e
    if not isinstance(result, dict):
        raise errors.bad_request("the patched object is not a JSON object")
    return result


def check_patch_type(info: ResourceInfo, patch_type: str) -> None:
    """415 for a Content-Type that is no patch, or a strategic merge patch of a custom resource."""
    allowed = negotiation.PATCH_TYPES
    if info.crd:
        allowed = [t for t in allowed if t != negotiation.STRATEGIC_MERGE_PATCH]
    if patch_type not in allowed:
        raise errors.unsupported_media_type(patch_type, allowed)
