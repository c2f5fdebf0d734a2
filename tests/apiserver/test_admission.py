"""NamespaceLifecycle reads namespaces from its cache, and from the store when the cache may be wrong."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelab.api.resources import ResourceRegistry
from kubelab.apiserver import admission, errors
from kubelab.apiserver.namespaces import NamespaceCache
from kubelab.store.memory import MemoryKV
from kubelab.store.storage import Storage

Obj = dict[str, Any]
RESOURCES = ResourceRegistry()
CONFIGMAPS = RESOURCES.get("", "v1", "configmaps")
NAMESPACES = RESOURCES.get("", "v1", "namespaces")


def namespace(name: str, phase: str = "Active") -> Obj:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


class Store:
    """The namespaces as stored, counting how often the plugin reads them."""

    def __init__(self, *namespaces: Obj) -> None:
        self.namespaces = {ns["metadata"]["name"]: ns for ns in namespaces}
        self.reads = 0

    async def get(self, name: str) -> Obj | None:
        self.reads += 1
        return self.namespaces.get(name)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admit(plugin: admission.NamespaceLifecycle, operation: str, info: Any, namespace: str, name: str) -> None:
    attrs = admission.Attributes(operation, info, "", namespace, name, {"metadata": {"name": name}}, None)
    asyncio.run(plugin.admit(attrs))


def create_configmap(plugin: admission.NamespaceLifecycle, namespace: str) -> None:
    admit(plugin, "CREATE", CONFIGMAPS, namespace, "cm")


def test_a_cached_namespace_is_not_read_from_the_store():
    store = Store(namespace("team"))
    cache = {"team": namespace("team")}
    plugin = admission.NamespaceLifecycle(store.get, cache.get)
    create_configmap(plugin, "team")
    assert store.reads == 0


def test_a_namespace_missing_from_the_cache_is_read_from_the_store():
    store = Store(namespace("new"))
    plugin = admission.NamespaceLifecycle(store.get, {}.get)
    create_configmap(plugin, "new")
    assert store.reads == 1
    with pytest.raises(errors.StatusError) as refused:
        create_configmap(plugin, "missing")
    assert refused.value.code == 404
    assert refused.value.message == 'namespaces "missing" not found'


def test_after_a_namespace_delete_the_store_is_read_for_30_seconds():
    clock = Clock()
    store = Store(namespace("doomed"))
    cache = {"doomed": namespace("doomed")}  # the cache has not seen the deletion yet
    plugin = admission.NamespaceLifecycle(store.get, cache.get, clock)
    admit(plugin, "DELETE", NAMESPACES, "", "doomed")
    store.namespaces["doomed"] = namespace("doomed", "Terminating")
    with pytest.raises(errors.StatusError) as refused:
        create_configmap(plugin, "doomed")
    assert refused.value.code == 403
    assert "because it is being terminated" in refused.value.message
    clock.now += 29.9
    with pytest.raises(errors.StatusError):
        create_configmap(plugin, "doomed")
    assert store.reads == 2
    clock.now += 0.1
    create_configmap(plugin, "doomed")  # the stale cache again, as upstream after forceLiveLookupTTL
    assert store.reads == 2


def test_the_system_namespaces_cannot_be_deleted():
    plugin = admission.NamespaceLifecycle(Store().get, {}.get)
    with pytest.raises(errors.StatusError) as refused:
        admit(plugin, "DELETE", NAMESPACES, "", "kube-system")
    assert refused.value.code == 403


def test_the_namespace_cache_follows_the_store():
    async def main() -> None:
        storage = Storage(MemoryKV())
        await storage.create("/registry/namespaces/before", namespace("before"))
        cache = NamespaceCache(storage, "/registry/namespaces/")
        cache.start()
        try:
            await until(lambda: cache.get("before") is not None)
            await storage.create("/registry/namespaces/after", namespace("after"))
            await until(lambda: cache.get("after") is not None)
            await storage.guaranteed_update(
                "/registry/namespaces/after", lambda ns: {**ns, "status": {"phase": "Terminating"}}
            )
            await until(lambda: (cache.get("after") or {})["status"]["phase"] == "Terminating")
            await storage.delete("/registry/namespaces/after")
            await until(lambda: cache.get("after") is None)
            assert cache.get("before") is not None
        finally:
            await cache.stop()
            await storage.close()

    asyncio.run(main())


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
