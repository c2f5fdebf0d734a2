"""What only the etcd backend does: talk to a process that can die."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from kubelab.store.errors import Unavailable
from kubelab.store.etcd import EtcdKV
from kubelab.store.etcd_server import EtcdServer, free_port
from kubelab.store.kv import Put
from kubelab.store.storage import Storage

pytestmark = pytest.mark.anyio


async def test_a_killed_etcd_is_unavailable_with_a_clear_message(tmp_path: Path) -> None:
    server = EtcdServer(tmp_path / "data", tmp_path / "etcd.log", unsafe_no_fsync=True)
    server.start()
    kv = EtcdKV(server.endpoint)
    try:
        await kv.txn([], [Put(b"/k", b"v")], [])
        watch = kv.watch(b"/k")
        pending = asyncio.create_task(anext(watch))
        await asyncio.sleep(0.2)

        server.kill()

        with pytest.raises(Unavailable, match=f"etcd at {server.endpoint}.*is the etcd process running"):
            await kv.range(b"/k")
        with pytest.raises(Unavailable, match="etcd"):
            async with asyncio.timeout(10):
                await pending
        await watch.aclose()
    finally:
        server.stop()
        await kv.close()


async def test_storage_on_an_unreachable_etcd_is_unavailable() -> None:
    storage = Storage(EtcdKV(f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(Unavailable, match="cannot reach etcd"):
            await storage.create("/registry/pods/default/a", {"metadata": {"name": "a"}})
        events = storage.watch("/registry/pods/", recursive=True, resource_version="5")
        with pytest.raises(Unavailable):
            async with contextlib.aclosing(events):
                await anext(events)
    finally:
        await storage.close()
