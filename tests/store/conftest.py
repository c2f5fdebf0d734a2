"""Fixtures of the storage tests: every backend of the KV protocol, and a key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from kubelab.store.kv import KV
from kubelab.store.memory import MemoryKV
from kubelab.store.storage import Storage

BACKENDS = ["memory"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    store: KV = MemoryKV(progress_notify_interval=0.2)
    yield store
    await store.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses, so that tests can share one etcd."""
    return f"/test-{uuid.uuid4().hex[:12]}/"


@pytest.fixture
def storage(kv: KV) -> Storage:
    return Storage(kv)
