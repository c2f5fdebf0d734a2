"""Writing pod status to the API server, only when it changed (``pkg/kubelet/status``).

The kubelet owns a pod's ``status``; this is the one place it writes it. A status equal to
the last one written (or to what the server already holds) is not sent again, so a pod
that is steadily Running costs nothing. A write that conflicts with a newer version of the
pod is redone on that version. When a pod has finished terminating, the status manager
deletes it for good (grace period 0, only that pod: ``preconditions.uid``), which is what
finally removes a deleted pod from the API.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from collections.abc import Mapping
from typing import Any

from kubelab import errors
from kubelab.client import Client

log = logging.getLogger(__name__)



class StatusManager:
    """The last status written for each pod, and the writing."""

    def __init__(self, client: Client) -> None:
        self.pods = client.resource("v1", "pods")
        self._sent: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def last(self, uid: str) -> dict[str, Any] | None:
        """The last status this kubelet wrote for the pod, if any."""
        with self._lock:
            status = self._sent.get(uid)
            return copy.deepcopy(status) if status is not None else None

    def set_pod_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> bool:
        """Write ``status`` to the pod unless it is already there; True if it was written."""
        meta = pod.get("metadata") or {}
        uid = meta["uid"]
        with self._lock:
            if self._sent.get(uid) == status:
                return False
        if dict(pod.get("status") or {}) == status:
            with self._lock:
                self._sent[uid] = copy.deepcopy(status)
            return False
        body = copy.deepcopy(dict(pod))
        body["status"] = status
        for _ in range(3):
            try:
                self.pods.update_status(body)
                break
            except errors.Conflict:
                try:
                    fresh = self.pods.get(meta["name"], meta.get("namespace"))
                except errors.NotFound:
                    return False
                if fresh["metadata"].get("uid") != uid:
                    return False
                fresh["status"] = status
                body = fresh
            except errors.NotFound:
                return False
        else:
            return False
        with self._lock:
            self._sent[uid] = copy.deepcopy(status)
        return True

    def delete_pod(self, pod: Mapping[str, Any]) -> None:
        """Remove a pod that has finished terminating from the API (grace 0, this uid only)."""
        meta = pod.get("metadata") or {}
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            self.pods.delete(meta["name"], meta.get("namespace"), grace_period_seconds=0,
                             preconditions={"uid": meta["uid"]})
        self.forget(meta["uid"])

    def forget(self, uid: str) -> None:
        with self._lock:
            self._sent.pop(uid, None)
