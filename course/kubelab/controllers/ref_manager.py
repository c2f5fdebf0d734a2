"""Claiming objects by ownerReference: adopt matching orphans, release owned objects that stopped matching.

Mirrors ``pkg/controller/controller_ref_manager.go``. A ReplicaSet owns the pods whose
``ownerReferences`` name it with ``controller: true``; its selector only decides which
*orphans* it may adopt, and which of its own pods it must let go. An object controlled by
someone else is never touched.

Upstream adopts and releases with a strategic merge patch keyed on the owner's uid; here a
JSON merge patch writes the whole ``ownerReferences`` list, guarded by the object's
``resourceVersion`` so a concurrent change makes it fail with Conflict instead of being lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubelab import errors
from kubelab.api.selectors import LabelSelector
from kubelab.client import Client, Resource


def controller_ref(owner: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference making ``owner`` the controller (``metav1.NewControllerRef``)."""
    metadata = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def recheck_deletion_timestamp(client: Client, owner: Mapping[str, Any]) -> Callable[[], None]:
    """A check, run before the first adoption, that ``owner`` still exists and is not being deleted.

    The cache may be stale: a fresh read from the API server avoids adopting objects into an
    owner that was just deleted (``RecheckDeletionTimestamp``).
    """

    def can_adopt() -> None:
        metadata = owner["metadata"]
        fresh = client.resource_for(owner).get(metadata["name"], metadata.get("namespace"))
        if fresh["metadata"].get("uid") != metadata["uid"]:
            raise RuntimeError(
                f"original {owner['kind']} {metadata.get('namespace')}/{metadata['name']} is gone: "
                f"got uid {fresh['metadata'].get('uid')}, wanted {metadata['uid']}"
            )
        if fresh["metadata"].get("deletionTimestamp"):
            raise RuntimeError(
                f"{metadata.get('namespace')}/{metadata['name']} has just been deleted at "
                f"{fresh['metadata']['deletionTimestamp']}"
            )

    return can_adopt


class ControllerRefManager:
    """Decides which objects ``owner`` controls, adopting and releasing as its selector says."""

    def __init__(
        self,
        resource: Resource,
        owner: Mapping[str, Any],
        selector: LabelSelector,
        can_adopt: Callable[[], None],
    ) -> None:
        self.resource = resource
        self.owner = owner
        self.selector = selector
        self.can_adopt = can_adopt
        self._adoption_checked = False

    @property
    def _owner_uid(self) -> str:
        return str(self.owner["metadata"]["uid"])

    def claim(
        self, objs: Sequence[Mapping[str, Any]], filter: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> list[Mapping[str, Any]]:
        """The objects ``owner`` controls after adopting and releasing; raises the first failure after trying all.

        ``filter`` is a further test an object must pass, besides the selector, to belong to
        ``owner`` (a StatefulSet's pods must also be named after it).
        """
        claimed: list[Mapping[str, Any]] = []
        failures: list[Exception] = []
        for obj in objs:
            try:
                if self._claim_one(obj, filter):
                    claimed.append(obj)
            except Exception as e:
                failures.append(e)
        if failures:
            raise failures[0]
        return claimed

    def _claim_one(self, obj: Mapping[str, Any], filter: Callable[[Mapping[str, Any]], bool] | None) -> bool:
        metadata = obj.get("metadata") or {}
        owner_meta = self.owner["metadata"]
        ref = controller_of(obj)
        matches = self.selector.matches(metadata.get("labels")) and (filter is None or filter(obj))
        if ref is not None:
            if ref.get("uid") != self._owner_uid:
                return False
            if matches:
                return True
            if owner_meta.get("deletionTimestamp"):
                return False
            self._patch_owner_references(obj, [r for r in metadata.get("ownerReferences") or ()
                                               if r.get("uid") != self._owner_uid])
            return False
        if owner_meta.get("deletionTimestamp") or not matches or metadata.get("deletionTimestamp"):
            return False
        if owner_meta.get("namespace") and owner_meta.get("namespace") != metadata.get("namespace"):
            return False
        if not self._adoption_checked:
            self.can_adopt()
            self._adoption_checked = True
        refs = [r for r in metadata.get("ownerReferences") or () if r.get("uid") != self._owner_uid]
        return self._patch_owner_references(obj, [*refs, controller_ref(self.owner)])

    def _patch_owner_references(self, obj: Mapping[str, Any], refs: list[Any]) -> bool:
        metadata = obj["metadata"]
        patch = {"metadata": {"ownerReferences": refs, "resourceVersion": metadata["resourceVersion"]}}
        try:
            self.resource.patch(metadata["name"], patch, metadata.get("namespace"))
        except errors.NotFound:
            return False
        return True
