"""One informer per resource, shared by every controller in the process.

Mirrors client-go's ``SharedInformerFactory``: the ReplicaSet and Deployment controllers
both need ReplicaSets, and the factory gives them the same informer, so the process lists
and watches each resource once and holds one cache of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from kubelab.client import Client
from kubelab.runtime.clock import REAL_CLOCK, Clock
from kubelab.runtime.indexer import IndexFunc
from kubelab.runtime.informer import Informer


class SharedInformerFactory:
    """Hands out one shared :class:`Informer` per resource and starts them together."""

    def __init__(
        self, client: Client, *, namespace: str | None = None, resync_period: float = 0.0, clock: Clock = REAL_CLOCK
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.resync_period = resync_period
        self.clock = clock
        self._informers: dict[tuple[str, str], Informer] = {}
        self._lock = threading.Lock()
        self._started = False

    def informer(self, api_version: str, resource: str, *, indexers: Mapping[str, IndexFunc] | None = None) -> Informer:
        """The shared informer of ``resource`` (plural or Kind) in ``api_version``, made on first use.

        ``indexers`` are added to it (a name already there must not be added twice).
        Asked for after :meth:`start`, a new informer starts at once.
        """
        info = self.client.resource(api_version, resource).info
        key = (info.api_version, info.plural)
        with self._lock:
            informer = self._informers.get(key)
            if informer is None:
                informer = Informer(
                    self.client.resource(api_version, resource),
                    namespace=self.namespace,
                    resync_period=self.resync_period,
                    clock=self.clock,
                    name=info.group_resource,
                )
                self._informers[key] = informer
            if self._started:
                informer.start()
        if indexers:
            informer.add_indexers(indexers)
        return informer

    def start(self) -> None:
        """Start every informer made so far (and, from now on, each new one as it is made)."""
        with self._lock:
            self._started = True
            informers = list(self._informers.values())
        for informer in informers:
            informer.start()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Wait until every started informer has synced; False if ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            informers = [i for i in self._informers.values() if i.started]
        for informer in informers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not informer.wait_for_sync(remaining):
                return False
        return True

    def shutdown(self) -> None:
        """Stop every informer and wait for their threads to end."""
        with self._lock:
            self._started = False
            informers = list(self._informers.values())
        for informer in informers:
            informer.stop()

    @property
    def informers(self) -> list[Informer]:
        with self._lock:
            return list(self._informers.values())
