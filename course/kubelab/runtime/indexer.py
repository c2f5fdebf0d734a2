"""The informer's local cache: objects by key, plus indexes to find them by other values.

Mirrors ``k8s.io/client-go/tools/cache`` (``thread_safe_store.go``, ``index.go`` and the
listers). Keys are ``namespace/name`` (or ``name`` for cluster-scoped objects), as
``MetaNamespaceKeyFunc`` makes them. Every object handed out is a read-only view
(:mod:`kubelab.runtime.readonly`).
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubelab.api.selectors import LabelSelector
from kubelab.runtime.readonly import ReadOnlyDict

IndexFunc = Callable[[Mapping[str, Any]], Iterable[str]]
"""The values an object is indexed under, e.g. its namespace or its node's name."""

NAMESPACE_INDEX = "namespace"


def meta_namespace_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object (``cache.MetaNamespaceKeyFunc``)."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


def split_meta_namespace_key(key: str) -> tuple[str | None, str]:
    """``(namespace, name)`` from a key; namespace None for a cluster-scoped object's key."""
    namespace, _, name = key.rpartition("/")
    if "/" in namespace:
        raise ValueError(f"unexpected key format: {key!r}")
    return namespace or None, name


def namespace_index(obj: Mapping[str, Any]) -> list[str]:
    """Index by namespace (``cache.MetaNamespaceIndexFunc``)."""
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


class Indexer:
    """A thread-safe map of key → object with secondary indexes; readers get read-only views."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, dict[str, Any]] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        self.add_indexers(indexers or {})

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes; objects already cached are indexed at once.

        Adding the same function under the same name again does nothing (two controllers
        sharing an informer may both ask for it); another function under a taken name is an error.
        """
        with self._lock:
            for name, function in indexers.items():
                if self._indexers.get(name) is function:
                    continue
                if name in self._indexers:
                    raise ValueError(f"an index named {name!r} already exists")
                self._indexers[name] = function
                index: dict[str, set[str]] = {}
                for key, obj in self._items.items():
                    for value in function(ReadOnlyDict(obj)):
                        index.setdefault(value, set()).add(key)
                self._indices[name] = index

    # -- writes: the informer's alone ----------------------------------------------------

    def add(self, obj: dict[str, Any]) -> None:
        """Store ``obj`` (a dict nobody else holds) under its key, replacing any older version."""
        key = meta_namespace_key(obj)
        with self._lock:
            old = self._items.get(key)
            self._items[key] = obj
            self._reindex(key, old, obj)

    update = add

    def delete(self, key: str) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._reindex(key, old, None)

    def replace(self, objs: Iterable[dict[str, Any]]) -> None:
        """Replace the whole content (after a list)."""
        with self._lock:
            self._items = {meta_namespace_key(obj): obj for obj in objs}
            for name in self._indices:
                self._indices[name] = {}
            for key, obj in self._items.items():
                self._reindex(key, None, obj)

    def _reindex(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for name, function in self._indexers.items():
            index = self._indices[name]
            if old is not None:
                for value in function(ReadOnlyDict(old)):
                    keys = index.get(value)
                    if keys is not None:
                        keys.discard(key)
                        if not keys:
                            del index[value]
            if new is not None:
                for value in function(ReadOnlyDict(new)):
                    index.setdefault(value, set()).add(key)

    # -- reads -------------------------------------------------------------------------------

    def get_by_key(self, key: str) -> ReadOnlyDict | None:
        with self._lock:
            obj = self._items.get(key)
        return None if obj is None else ReadOnlyDict(obj)

    def get(self, name: str, namespace: str | None = None) -> ReadOnlyDict | None:
        """The cached object ``name`` (in ``namespace``), or None."""
        return self.get_by_key(f"{namespace}/{name}" if namespace else name)

    def list(
        self, namespace: str | None = None, selector: LabelSelector | Mapping[str, Any] | str | None = None
    ) -> list[ReadOnlyDict]:
        """Every cached object (in ``namespace``), optionally only those whose labels match ``selector``.

        ``selector`` is a :class:`~kubelab.api.selectors.LabelSelector`, a selector string
        (``"app=web"``) or a ``metav1.LabelSelector`` dict (``{"matchLabels": {...}}``).
        """
        with self._lock:
            if namespace is None:
                objs = list(self._items.values())
            else:
                objs = [self._items[k] for k in self._indices[NAMESPACE_INDEX].get(namespace, ())]
        if selector is not None:
            match = as_label_selector(selector)
            objs = [o for o in objs if match.matches((o.get("metadata") or {}).get("labels"))]
        return [ReadOnlyDict(o) for o in objs]

    def list_keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def by_index(self, index_name: str, value: str) -> builtins.list[ReadOnlyDict]:
        """The objects an index files under ``value``, e.g. ``by_index("namespace", "default")``."""
        with self._lock:
            if index_name not in self._indices:
                raise KeyError(f"no index named {index_name!r}: add it with add_indexers")
            return [ReadOnlyDict(self._items[k]) for k in self._indices[index_name].get(value, ())]

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        """The keys an index files under ``value``."""
        with self._lock:
            if index_name not in self._indices:
                raise KeyError(f"no index named {index_name!r}: add it with add_indexers")
            return sorted(self._indices[index_name].get(value, ()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items


def as_label_selector(selector: LabelSelector | Mapping[str, Any] | str) -> LabelSelector:
    """A :class:`LabelSelector` from a selector string or a ``metav1.LabelSelector`` dict."""
    if isinstance(selector, LabelSelector):
        return selector
    if isinstance(selector, str):
        return LabelSelector.parse(selector)
    return LabelSelector.from_label_selector(selector)

