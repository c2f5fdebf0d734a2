"""The periodic compactor, as k8s.io/apiserver ``pkg/storage/etcd3/compact.go``.

Every interval it compacts the store at the revision it saw one interval earlier, so the
history always covers at least the last interval. The key ``compact_rev_key`` records the
last compaction; its ``version`` serves as a logical clock so that several API servers sharing
one etcd take turns instead of all compacting: only the one whose compare-and-swap on that
version succeeds compacts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubelab.store.errors import StorageError
from kubelab.store.kv import KV, Compare, Get, Put, RangeResult

COMPACT_REV_KEY = b"compact_rev_key"

log = logging.getLogger(__name__)


class Compactor:
    """Compacts ``kv`` every ``interval`` seconds once started; :meth:`compact_once` is one tick.

    ``on_compacted`` hears of every compaction it makes (the watch cache must forget that history).
    """

    def __init__(
        self, kv: KV, interval: float = 300.0, *, on_compacted: Callable[[int], None] | None = None
    ) -> None:
        self.kv = kv
        self.interval = interval
        self.on_compacted = on_compacted
        self.compact_time = 0
        self.revision = 0
        self._task: asyncio.Task[None] | None = None

    async def compact_once(self) -> int:
        """Take one turn: compact at the revision seen last turn; the revision compacted, or 0."""
        result = await self.kv.txn(
            [Compare(COMPACT_REV_KEY, "version", "=", self.compact_time)],
            [Put(COMPACT_REV_KEY, str(self.revision).encode())],
            [Get(COMPACT_REV_KEY)],
        )
        if not result.succeeded:
            # Another compactor took this turn: follow its clock and try again next interval.
            other = result.responses[0]
            assert isinstance(other, RangeResult)
            self.compact_time = other.kvs[0].version if other.kvs else 0
            self.revision = result.revision
            return 0
        target, self.revision = self.revision, result.revision
        self.compact_time += 1
        if target == 0:
            return 0  # the first turn only records where the next one compacts
        await self.kv.compact(target)
        if self.on_compacted is not None:
            self.on_compacted(target)
        return target

    def start(self) -> None:
        """Start compacting in the background, the first time one interval from now."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kubelab-compactor")

    async def stop(self) -> None:
        """Stop compacting."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.compact_once()
            except StorageError as error:
                log.warning("compaction failed, will retry in %.0f s: %s", self.interval, error)
