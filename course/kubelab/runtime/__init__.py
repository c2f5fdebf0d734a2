"""The controller runtime: informers, work queues, reconcile loops, events and expectations.

What every controller in kubelab is built on, and what you build yours on::

    from kubelab.client import Client
    from kubelab.runtime import Controller, Result, SharedInformerFactory, deep_copy

    client = Client(api_client)
    informers = SharedInformerFactory(client)
    replicasets = informers.informer("apps/v1", "replicasets")

    def reconcile(key: str) -> Result | None:
        rs = replicasets.cache.get_by_key(key)   # read-only view of the current state
        ...

    controller = Controller("my-controller", reconcile)
    controller.watches(replicasets)
    informers.start()
    controller.start()

Modules: :mod:`~kubelab.runtime.informer` (list + watch into a cache),
:mod:`~kubelab.runtime.indexer` (the cache), :mod:`~kubelab.runtime.factory` (one informer
per resource), :mod:`~kubelab.runtime.queue` and :mod:`~kubelab.runtime.ratelimit` (the
work queue), :mod:`~kubelab.runtime.controller` (the reconcile loop),
:mod:`~kubelab.runtime.events` (Events), :mod:`~kubelab.runtime.expectations`,
:mod:`~kubelab.runtime.readonly` (why cached objects cannot be changed), and
:mod:`~kubelab.runtime.clock` (time, injectable).
"""

import logging

from kubelab.runtime.clock import REAL_CLOCK, Clock, FakeClock, RealClock, rfc3339
from kubelab.runtime.controller import Controller, Result, controller_owner_key, own_key
from kubelab.runtime.events import EventRecorder, object_reference
from kubelab.runtime.expectations import ControllerExpectations, UIDTrackingControllerExpectations
from kubelab.runtime.factory import SharedInformerFactory
from kubelab.runtime.indexer import (
    NAMESPACE_INDEX,
    Indexer,
    as_label_selector,
    meta_namespace_key,
    namespace_index,
    split_meta_namespace_key,
)
from kubelab.runtime.informer import Informer, ListerWatcher, WatchStream
from kubelab.runtime.queue import WorkQueue
from kubelab.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from kubelab.runtime.readonly import ReadOnlyDict, ReadOnlyList, deep_copy, read_only

# Library logging stays silent unless the application configures logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "NAMESPACE_INDEX",
    "REAL_CLOCK",
    "BucketRateLimiter",
    "Clock",
    "Controller",
    "ControllerExpectations",
    "EventRecorder",
    "FakeClock",
    "Indexer",
    "Informer",
    "ItemExponentialFailureRateLimiter",
    "ListerWatcher",
    "MaxOfRateLimiter",
    "RateLimiter",
    "ReadOnlyDict",
    "ReadOnlyList",
    "RealClock",
    "Result",
    "SharedInformerFactory",
    "UIDTrackingControllerExpectations",
    "WatchStream",
    "WorkQueue",
    "as_label_selector",
    "controller_owner_key",
    "deep_copy",
    "default_controller_rate_limiter",
    "meta_namespace_key",
    "namespace_index",
    "object_reference",
    "own_key",
    "read_only",
    "rfc3339",
    "split_meta_namespace_key",
]
