"""Resources stored as another version's objects: ``events.k8s.io/v1`` Events are core/v1 Events in storage.

Mirrors the storage codec of ``k8s.io/apiserver/pkg/storage/storagebackend``: the registry
works in its own version while the stored bytes stay in the storage version, so both APIs
see the same Events. :class:`ConvertingStorage` converts on the way in and out; list and
watch filters see the registry's version.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from kubelab.store.events import Predicate, WatchEvent
from kubelab.store.storage import ListResult, Storage, UpdateFunc

Obj = dict[str, Any]
Convert = Callable[[Obj], Obj]


class ConvertingStorage(Storage):
    """A :class:`~kubelab.store.storage.Storage` whose objects are converted by ``to_stored``/``from_stored``."""

    def __init__(self, storage: Storage, to_stored: Convert, from_stored: Convert) -> None:
        super().__init__(storage.kv)
        self.to_stored = to_stored
        self.from_stored = from_stored

    def _predicate(self, predicate: Predicate | None) -> Predicate | None:
        if predicate is None:
            return None
        convert = self.from_stored
        return lambda stored: predicate(convert(stored))

    async def get(self, key: str, *, resource_version: str = "") -> Obj:
        return self.from_stored(await super().get(key, resource_version=resource_version))

    async def get_list(self, prefix: str, *, predicate: Predicate | None = None, **kw: Any) -> ListResult:
        result = await super().get_list(prefix, predicate=self._predicate(predicate), **kw)
        result.items = [self.from_stored(item) for item in result.items]
        return result

    async def create(self, key: str, obj: Obj) -> Obj:
        return self.from_stored(await super().create(key, self.to_stored(obj)))

    async def guaranteed_update(self, key: str, try_update: UpdateFunc, **kw: Any) -> Obj:
        async def converted(stored: Obj) -> Obj:
            updated = try_update(self.from_stored(stored) if stored else {})
            if inspect.isawaitable(updated):
                updated = await updated
            return self.to_stored(updated)

        return self.from_stored(await super().guaranteed_update(key, converted, **kw))

    async def delete(self, key: str, **kw: Any) -> Obj:
        return self.from_stored(await super().delete(key, **kw))

    async def watch(  # type: ignore[override]
        self, key: str, *, predicate: Predicate | None = None, **kw: Any
    ) -> AsyncIterator[WatchEvent]:
        events = super().watch(key, predicate=self._predicate(predicate), **kw)
        try:
            async for event in events:
                if event.type == "BOOKMARK":
                    yield event
                else:
                    yield WatchEvent(event.type, self.from_stored(event.object))
        finally:
            await events.aclose()  # type: ignore[attr-defined]
