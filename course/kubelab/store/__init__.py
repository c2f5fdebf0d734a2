"""The cluster's storage: an etcd-shaped key-value store and the object storage on top of it.

- :mod:`~kubelab.store.kv`: the :class:`KV` protocol (etcd's KV and Watch services);
- :mod:`~kubelab.store.mvcc`, :mod:`~kubelab.store.memory`: the in-memory backend (lab 01);
- :mod:`~kubelab.store.etcd`: the etcd backend (a real etcd, through its gRPC-JSON gateway);
- :mod:`~kubelab.store.storage`: :class:`Storage`, Kubernetes objects on any KV, with its
  watch cache (:mod:`~kubelab.store.cacher`), periodic compactor (:mod:`~kubelab.store.compactor`)
  and continue tokens (:mod:`~kubelab.store.continue_token`).
"""

from kubelab.store.errors import (
    Compacted,
    FutureRevision,
    InvalidArgument,
    InvalidObject,
    KeyExists,
    KeyNotFound,
    ResourceVersionConflict,
    StorageError,
    Unavailable,
)
from kubelab.store.etcd import EtcdKV
from kubelab.store.events import WatchEvent
from kubelab.store.kv import KV
from kubelab.store.memory import MemoryKV
from kubelab.store.mvcc import MemoryMVCC, MVCCStore
from kubelab.store.storage import ListResult, Preconditions, Storage

__all__ = [
    "KV",
    "Compacted",
    "EtcdKV",
    "FutureRevision",
    "InvalidArgument",
    "InvalidObject",
    "KeyExists",
    "KeyNotFound",
    "ListResult",
    "MVCCStore",
    "MemoryKV",
    "MemoryMVCC",
    "Preconditions",
    "ResourceVersionConflict",
    "Storage",
    "StorageError",
    "Unavailable",
    "WatchEvent",
]
