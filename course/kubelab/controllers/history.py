"""ControllerRevisions: the pod templates a StatefulSet or DaemonSet has run, kept to roll forward and back.

Mirrors ``pkg/controller/history/controller_history.go``. A revision stores, as ``data``,
the patch that puts its template back (``{"spec": {"template": {..., "$patch": "replace"}}}``,
what ``kubectl rollout undo`` applies), a ``revision`` number, the owner's template labels
and ``controller-revision-hash``. Its name is ``<owner>-<hash>``; if another revision already
has that name, ``collisionCount`` goes into the hash to find a new one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.api.meta import parse_time
from kubelab.client import Client, Resource
from kubelab.controllers.deployment_util import safe_encode_string
from kubelab.controllers.ref_manager import controller_ref
from kubelab.runtime import deep_copy

Obj = Mapping[str, Any]

CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
MAX_PREFIX_LENGTH = 223


def template_patch(owner: Obj) -> dict[str, Any]:
    """The revision data of an owner: a patch replacing its pod template (``getPatch``)."""
    template = deep_copy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_template(revision: Obj) -> dict[str, Any]:
    """The pod template a revision recorded (``ApplyRevision``)."""
    template = deep_copy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template  # type: ignore[no-any-return]


def hash_revision(data: Obj, probe: int | None) -> str:
    """The revision's hash: FNV-32 of its data and ``probe`` (the collision count) (``HashControllerRevision``)."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    if probe is not None:
        raw += str(probe).encode()
    digest = 0x811C9DC5
    for byte in raw:
        digest = ((digest * 0x01000193) & 0xFFFFFFFF) ^ byte
    return safe_encode_string(str(digest))


def revision_name(prefix: str, hash: str) -> str:
    """``<prefix>-<hash>``, the prefix cut so the name stays a valid object name (``ControllerRevisionName``)."""
    return f"{prefix[:MAX_PREFIX_LENGTH]}-{hash}"


def new_controller_revision(owner: Obj, template_labels: Mapping[str, str] | None, data: Obj, revision: int,
                            collision_count: int | None) -> dict[str, Any]:
    """An unsaved revision of ``owner`` holding ``data`` (``NewControllerRevision``)."""
    hash = hash_revision(data, collision_count)
    labels = {**(template_labels or {}), CONTROLLER_REVISION_HASH_LABEL: hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(owner["metadata"]["name"], hash),
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [controller_ref(owner)],
        },
        "data": deep_copy(data),
        "revision": revision,
    }


def equal_revision(a: Obj | None, b: Obj | None) -> bool:
    """Whether two revisions record the same thing: same hash label and same data (``EqualRevision``)."""
    if a is None or b is None:
        return a is b
    hash_a = ((a.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL)
    hash_b = ((b.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL)
    if hash_a != hash_b:
        return False
    return bool(a.get("data") == b.get("data"))


def find_equal_revisions(revisions: Sequence[Obj], needle: Obj) -> list[Obj]:
    return [r for r in revisions if equal_revision(r, needle)]


def sort_revisions(revisions: Sequence[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name."""
    def key(revision: Obj) -> tuple[int, float, str]:
        created = revision["metadata"].get("creationTimestamp")
        return int(revision.get("revision") or 0), parse_time(created) if created else 0.0, revision["metadata"]["name"]
    return sorted(revisions, key=key)


def next_revision(revisions: Sequence[Obj]) -> int:
    """One more than the highest revision number (1 when there are none)."""
    return max((int(r.get("revision") or 0) for r in revisions), default=0) + 1


class History:
    """Creates, renumbers and deletes an owner's ControllerRevisions through the API server."""

    def __init__(self, client: Client) -> None:
        self.api: Resource = client.resource("apps/v1", "controllerrevisions")

    def create(self, owner: Obj, revision: dict[str, Any], collision_count: int) -> tuple[dict[str, Any], int]:
        """Save ``revision``; on a name taken by different data, bump the collision count and try the next name.

        Returns the saved (or identical existing) revision and the collision count used.
        """
        while True:
            labels = {k: v for k, v in (revision["metadata"].get("labels") or {}).items()
                      if k != CONTROLLER_REVISION_HASH_LABEL}
            candidate = new_controller_revision(owner, labels, revision["data"], revision["revision"],
                                                collision_count or None)
            candidate["metadata"]["annotations"] = dict(revision["metadata"].get("annotations") or {})
            try:
                return self.api.create(candidate), collision_count
            except errors.AlreadyExists:
                existing = self.api.get(candidate["metadata"]["name"], candidate["metadata"]["namespace"])
                if equal_revision(existing, candidate):
                    return existing, collision_count
                collision_count += 1

    def update_revision(self, revision: Obj, number: int) -> dict[str, Any]:
        """Give an existing revision a new number (a rollback makes an old revision the newest)."""
        if int(revision.get("revision") or 0) == number:
            return deep_copy(revision)  # type: ignore[no-any-return]
        updated = deep_copy(revision)
        updated["revision"] = number
        return self.api.update(updated)

    def delete(self, revision: Obj) -> None:
        with contextlib.suppress(errors.NotFound):
            self.api.delete(revision["metadata"]["name"], revision["metadata"]["namespace"])
