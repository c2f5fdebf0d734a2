"""Errors of the storage layer: they speak of keys and revisions, never of HTTP.

The API server translates them to API Status errors in one place
(:mod:`kubelab.apiserver.errors`), as ``k8s.io/apiserver/pkg/storage/errors.go`` does.
"""

from __future__ import annotations


class StorageError(Exception):
    """Something went wrong in the storage layer."""


class KeyNotFound(StorageError):
    """The key does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class KeyExists(StorageError):
    """A create found the key already there."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class ResourceVersionConflict(StorageError):
    """A precondition on the resourceVersion or uid failed: the object changed since it was read."""

    def __init__(self, key: str, message: str = "") -> None:
        super().__init__(message or f"resource version conflict on {key}")
        self.key = key


class InvalidObject(StorageError):
    """An object cannot be stored as given, or the stored bytes could not be decoded."""


class InvalidArgument(StorageError):
    """A request to the storage is malformed: a bad resource version, continue token or key."""


class Compacted(StorageError):
    """The requested revision was compacted away: the caller must relist.

    ``compacted`` is the store's compact revision, 0 when the backend did not say.
    :class:`~kubelab.store.storage.Storage` replaces the message with Kubernetes' own
    ("too old resource version: ...") and, for a list continued past a compaction, sets
    ``continue_token`` to a token that continues at the latest revision instead.
    """

    def __init__(self, revision: int, compacted: int = 0, message: str = "", continue_token: str = "") -> None:
        if not message:
            known = f" (compact revision {compacted})" if compacted else ""
            message = f"required revision {revision} has been compacted{known}"
        super().__init__(message)
        self.revision = revision
        self.compacted = compacted
        self.continue_token = continue_token


class FutureRevision(StorageError):
    """The requested revision is newer than the store's current one."""

    def __init__(self, revision: int, current: int) -> None:
        super().__init__(f"required revision {revision} is a future revision (current {current})")
        self.revision = revision
        self.current = current


class Unavailable(StorageError):
    """The backend (e.g. the etcd process) cannot be reached."""
