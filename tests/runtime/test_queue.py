"""The work queue's promises, with a fake clock for delays and backoff."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.runtime import (
    BucketRateLimiter,
    FakeClock,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    WorkQueue,
    default_controller_rate_limiter,
)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def q(clock):
    return WorkQueue(clock=clock)


def drain(q):
    items = []
    while (item := q.get(timeout=0)) is not None:
        items.append(item)
        q.done(item)
    return items


def test_adding_an_item_twice_queues_it_once(q):
    for key in ["a", "b", "a", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert drain(q) == ["a", "b", "c"]


def test_an_item_added_while_processing_is_processed_again_after_done(q):
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")
    q.add("a")
    assert q.get(timeout=0) is None, "a key must not be handed to two workers at once"
    q.done("a")
    assert q.get(timeout=0) == "a"
    q.done("a")
    assert q.get(timeout=0) is None


def test_add_after_holds_an_item_until_its_time(q, clock):
    q.add_after("a", 5)
    q.add_after("b", 1)
    assert q.get(timeout=0) is None
    clock.step(1)
    assert drain(q) == ["b"]
    clock.step(3.9)
    assert q.get(timeout=0) is None
    clock.step(0.1)
    assert drain(q) == ["a"]


def test_the_earliest_pending_time_wins(q, clock):
    q.add_after("a", 10)
    q.add_after("a", 2)
    q.add_after("a", 7)
    clock.step(2)
    assert drain(q) == ["a"]
    clock.step(10)
    assert drain(q) == []


def test_a_delayed_item_already_queued_is_not_queued_twice(q, clock):
    q.add("a")
    q.add_after("a", 1)
    clock.step(1)
    assert drain(q) == ["a"]


def test_rate_limited_retries_back_off_exponentially_until_forgotten(clock):
    q = WorkQueue(clock=clock, rate_limiter=ItemExponentialFailureRateLimiter(0.005, 1000))
    waits = []
    for _ in range(6):
        q.add_rate_limited("a")
        started = clock.now()
        while q.get(timeout=0) is None:
            clock.step(0.001)
        waits.append(round(clock.now() - started, 3))
        q.done("a")
    assert waits == [0.005, 0.01, 0.02, 0.04, 0.08, 0.16]
    assert q.num_requeues("a") == 6
    q.forget("a")
    assert q.num_requeues("a") == 0
    assert q.rate_limiter.when("a") == 0.005


def test_backoff_is_per_item_and_capped():
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000)
    for _ in range(30):
        limiter.when("a")
    assert limiter.when("a") == 1000
    assert limiter.when("b") == 0.005
    for _ in range(100):
        limiter.when("c")
    assert limiter.when("c") == 1000


def test_the_bucket_allows_a_burst_then_paces_retries(clock):
    bucket = BucketRateLimiter(qps=10, burst=3, clock=clock)
    assert [bucket.when(i) for i in range(3)] == [0, 0, 0]
    assert [round(bucket.when(i), 3) for i in range(3)] == [0.1, 0.2, 0.3]
    clock.step(10)
    assert bucket.when("x") == 0


def test_the_default_limiter_is_the_slower_of_both(clock):
    limiter = default_controller_rate_limiter(clock)
    assert isinstance(limiter, MaxOfRateLimiter)
    assert limiter.when("a") == 0.005
    # 100 different items use up the bucket's burst; the next waits for a token, not 5 ms.
    for i in range(99):
        limiter.when(i)
    assert limiter.when("b") == pytest.approx(0.1)


def test_shut_down_wakes_waiting_workers_and_refuses_new_items():
    q = WorkQueue()
    got = []
    worker = threading.Thread(target=lambda: got.append(q.get()))
    worker.start()
    time.sleep(0.05)
    q.shut_down()
    worker.join(2)
    assert not worker.is_alive() and got == [None]
    q.add("a")
    q.add_after("b", 0.01)
    assert q.get(timeout=0) is None


def test_shut_down_with_drain_lets_queued_and_running_items_finish():
    q = WorkQueue()
    q.add("a")
    q.add("b")
    processed = []

    def worker():
        while (item := q.get()) is not None:
            time.sleep(0.02)
            processed.append(item)
            q.done(item)

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.01)
    q.shut_down(drain=True)
    thread.join(2)
    assert processed == ["a", "b"]


def test_a_blocked_get_wakes_when_a_delayed_item_comes_due(clock, q):
    got = []
    worker = threading.Thread(target=lambda: got.append(q.get()))
    worker.start()
    q.add_after("a", 30)
    time.sleep(0.05)
    assert got == []
    clock.step(30)
    worker.join(2)
    assert got == ["a"]


@given(st.lists(st.tuples(st.sampled_from(["add", "get", "done"]), st.integers(0, 3)), max_size=60))
def test_no_item_is_ever_held_twice_or_lost(ops):
    q = WorkQueue(clock=FakeClock())
    held: set[int] = set()
    owed: set[int] = set()  # added since last handed out
    for op, item in ops:
        if op == "add":
            q.add(item)
            owed.add(item)
        elif op == "get":
            got = q.get(timeout=0)
            if got is not None:
                assert got not in held
                held.add(got)
                owed.discard(got)
        elif item in held:
            q.done(item)
            held.remove(item)
    for item in list(held):
        q.done(item)
    assert sorted(drain(q)) == sorted(owed)
