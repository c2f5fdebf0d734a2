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
    """The stored bytes could not be decoded."""


class Compacted(StorageError):
    """The requested revision was compacted away: the caller must relist."""

    def __init__(self, revision: int, compacted: int) -> None:
        super().__init__(f"required revision {revision} has been compacted (compact revision {compacted})")
        self.revision = revision
        self.compacted = compacted


class FutureRevision(StorageError):
    """The requested revision is newer than the store's current one."""

    def __init__(self, revision: int, current: int) -> None:
        super().__init__(f"required revision {revision} is a future revision (current {current})")
        self.revision = revision
        self.current = current


class Unavailable(StorageError):
    """The backend (e.g. the etcd process) cannot be reached."""
