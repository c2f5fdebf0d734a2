"""The reconcile loop: what gets enqueued, retries with backoff, requeue_after, one worker per key."""

from __future__ import annotations

import threading
import time

from fakes import FakeResource, pod
from test_informer import eventually

from kubelab import errors
from kubelab.runtime import Controller, FakeClock, Informer, ItemExponentialFailureRateLimiter, Result


def owned(name, owner, kind="ReplicaSet"):
    p = pod(name)
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": "u",
                                         "controller": True}]
    return p


def started(resource):
    informer = Informer(resource)
    informer.start()
    return informer


def test_watches_enqueues_each_changed_objects_key():
    resource = FakeResource()
    resource.create(pod("a"))
    informer = started(resource)
    reconciled = []
    controller = Controller("test", lambda key: reconciled.append(key))
    controller.watches(informer)
    controller.start()
    try:
        eventually(lambda: reconciled == ["default/a"])
        resource.create(pod("b"))
        resource.delete(pod("a"))
        eventually(lambda: reconciled[1:] == ["default/b", "default/a"])
    finally:
        controller.stop()
        informer.stop()


def test_owns_maps_objects_to_their_controllers_key():
    resource = FakeResource()
    informer = started(resource)
    reconciled = []
    controller = Controller("test", lambda key: reconciled.append(key))
    controller.owns(informer, "ReplicaSet")
    controller.start()
    try:
        resource.create(owned("p1", "web"))
        resource.create(pod("orphan"))
        resource.create(owned("p2", "job", kind="Job"))
        eventually(lambda: reconciled == ["default/web"])
        resource.update(owned("p1", "api"))
        eventually(lambda: sorted(reconciled[1:]) == ["default/api", "default/web"])
    finally:
        controller.stop()
        informer.stop()


def test_a_failing_reconcile_is_retried_with_growing_backoff():
    clock = FakeClock()
    attempts = []

    def reconcile(key):
        attempts.append(clock.now())
        if len(attempts) < 4:
            raise RuntimeError("not yet")

    controller = Controller("test", reconcile, clock=clock, rate_limiter=ItemExponentialFailureRateLimiter(1, 100))
    controller.queue.add("k")
    for _ in range(4):
        key = controller.queue.get(timeout=0)
        while key is None:
            clock.step(0.5)
            key = controller.queue.get(timeout=0)
        controller.process(key)
        controller.queue.done(key)
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps == [1, 2, 4]
    assert controller.queue.num_requeues("k") == 0, "success forgets the backoff"


def test_a_conflict_is_retried_too():
    controller = Controller("test", lambda key: (_ for _ in ()).throw(errors.Conflict({"code": 409})),
                            clock=FakeClock())
    controller.process("k")
    assert controller.queue.num_requeues("k") == 1


def test_result_requeue_after_and_requeue():
    clock = FakeClock()
    results = iter([Result(requeue_after=30), Result(requeue=True), None])
    controller = Controller("test", lambda key: next(results), clock=clock,
                            rate_limiter=ItemExponentialFailureRateLimiter(1, 100))
    controller.process("k")
    assert controller.queue.get(timeout=0) is None
    clock.step(30)
    assert controller.queue.get(timeout=0) == "k"
    controller.queue.done("k")
    controller.process("k")
    assert controller.queue.num_requeues("k") == 1
    clock.step(1)
    assert controller.queue.get(timeout=0) == "k"
    controller.queue.done("k")
    controller.process("k")
    assert controller.queue.num_requeues("k") == 0
    assert controller.queue.get(timeout=0) is None


def test_workers_wait_for_the_cache_and_never_share_a_key():
    resource = FakeResource()
    resource.fail_next.append(errors.ConnectionFailed("not yet"))
    informer = Informer(resource)
    informer.INITIAL_BACKOFF = 0.1
    running: set[str] = set()
    overlaps = []
    done = []
    lock = threading.Lock()
    synced_at_first_call = []

    def reconcile(key):
        synced_at_first_call.append(informer.has_synced())
        with lock:
            if key in running:
                overlaps.append(key)
            running.add(key)
        time.sleep(0.005)
        with lock:
            running.discard(key)
            done.append(key)

    controller = Controller("test", reconcile, workers=4)
    controller.watches(informer)
    controller.queue.add("default/x")
    controller.start()
    informer.start()
    try:
        for i in range(20):
            resource.create(pod(f"p{i % 3}"))
        eventually(lambda: len(done) >= 4 and len(controller.queue) == 0)
        assert all(synced_at_first_call)
        assert overlaps == []
    finally:
        controller.stop()
        informer.stop()
