"""Informers against an in-memory resource: cache, handlers, watch restarts, relist on 410, resync."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import FakeResource, pod

from kubelab import errors
from kubelab.runtime import FakeClock, Informer
from waiting import eventually


class Recorder:
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def add(self, obj):
        with self.lock:
            self.events.append(("add", obj["metadata"]["name"]))

    def update(self, old, new):
        with self.lock:
            self.events.append(("update", new["metadata"]["name"]))

    def delete(self, obj):
        with self.lock:
            self.events.append(("delete", obj["metadata"]["name"]))


@pytest.fixture
def resource():
    return FakeResource()


@pytest.fixture
def informer(resource):
    inf = Informer(resource, name="pods")
    yield inf
    inf.stop()


def test_it_lists_then_follows_the_watch(resource, informer):
    resource.create(pod("a", app="web"))
    seen = Recorder()
    informer.add_event_handler(seen.add, seen.update, seen.delete)
    informer.start()
    assert informer.wait_for_sync(5)
    assert seen.events == [("add", "a")]
    a = informer.cache.get("a", "default")
    assert (a["kind"], a["apiVersion"]) == ("Pod", "v1"), "list items get the list's kind and apiVersion"

    resource.create(pod("b"))
    changed = pod("a", app="web", tier="front")
    resource.update(changed)
    resource.delete(pod("b"))
    eventually(lambda: len(seen.events) == 4)
    assert seen.events == [("add", "a"), ("add", "b"), ("update", "a"), ("delete", "b")]
    assert informer.cache.get("a", "default")["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert informer.cache.get("b", "default") is None
    assert informer.last_sync_resource_version == str(resource.version)


def test_the_cache_is_filled_before_handlers_are_called(resource, informer):
    reads = []
    informer.add_event_handler(on_add=lambda obj: reads.append(informer.cache.get_by_key("default/a") is not None))
    informer.start()
    informer.wait_for_sync(5)
    resource.create(pod("a"))
    eventually(lambda: reads == [True])


def test_handlers_get_read_only_objects(resource, informer):
    errors_seen = []

    def meddle(obj):
        try:
            obj["metadata"]["labels"]["app"] = "hacked"
        except TypeError as e:
            errors_seen.append(e)

    informer.add_event_handler(on_add=meddle)
    resource.create(pod("a", app="web"))
    informer.start()
    eventually(lambda: errors_seen)
    assert informer.cache.get("a", "default")["metadata"]["labels"]["app"] == "web"


def test_a_handler_added_late_is_told_of_every_cached_object(resource, informer):
    resource.create(pod("a"))
    resource.create(pod("b"))
    informer.start()
    informer.wait_for_sync(5)
    seen = Recorder()
    informer.add_event_handler(seen.add)
    assert sorted(seen.events) == [("add", "a"), ("add", "b")]


def test_a_failing_handler_does_not_stop_the_others(resource, informer):
    seen = Recorder()
    informer.add_event_handler(on_add=lambda obj: 1 / 0)
    informer.add_event_handler(on_add=seen.add)
    informer.start()
    resource.create(pod("a"))
    eventually(lambda: seen.events == [("add", "a")])


def test_a_closed_watch_is_resumed_from_the_last_version_without_relisting(resource, informer):
    informer.start()
    informer.wait_for_sync(5)
    resource.create(pod("a"))
    eventually(lambda: informer.cache.get("a", "default") is not None)
    resource.end_watches()
    eventually(lambda: len(resource.watch_versions) == 2)
    resource.create(pod("b"))
    eventually(lambda: informer.cache.get("b", "default") is not None)
    assert resource.lists == 1
    assert resource.watch_versions[:2] == ["1", "2"]


def test_an_expired_watch_relists_and_reports_what_changed_meanwhile(resource, informer):
    resource.create(pod("a"))
    resource.create(pod("b"))
    seen = Recorder()
    informer.add_event_handler(seen.add, seen.update, seen.delete)
    informer.start()
    informer.wait_for_sync(5)
    assert resource.lists == 1

    # While the informer is cut off, b goes away and c arrives; its old version is compacted.
    with resource.cond:
        for w in resource.watches:
            w.ended = True
        resource.fail_next.append(errors.Expired({"code": 410, "reason": "Expired", "message": "too old"}))
        resource.objects.pop("default/b")
        resource.version += 5
        resource.objects["default/c"] = {**pod("c"), "apiVersion": "v1", "kind": "Pod"}
        resource.objects["default/c"]["metadata"]["resourceVersion"] = str(resource.version)
        resource.compact()
        resource.cond.notify_all()

    eventually(lambda: resource.lists == 2 and informer.cache.get("c", "default") is not None)
    assert informer.cache.get("b", "default") is None
    assert ("delete", "b") in seen.events and ("add", "c") in seen.events
    assert ("update", "a") in seen.events
    assert sorted(informer.cache.list_keys()) == ["default/a", "default/c"]


def test_an_expired_error_event_in_the_stream_also_relists(resource, informer):
    informer.start()
    informer.wait_for_sync(5)
    resource.expire_watches()
    eventually(lambda: resource.lists == 2)
    resource.create(pod("z"))
    eventually(lambda: informer.cache.get("z", "default") is not None)


def test_list_failures_are_retried_with_backoff(resource):
    resource.fail_next.append(errors.ConnectionFailed("down"))
    informer = Informer(resource)
    informer.INITIAL_BACKOFF = 0.01
    informer.start()
    try:
        assert informer.wait_for_sync(5)
        assert resource.lists == 2
    finally:
        informer.stop()


def test_not_synced_until_the_first_list_succeeds(resource):
    resource.fail_next.append(errors.ServerError({"code": 500, "message": "boom"}))
    informer = Informer(resource)
    informer.INITIAL_BACKOFF = 0.2
    informer.start()
    try:
        assert not informer.has_synced()
        assert not informer.wait_for_sync(0.05)
        assert informer.wait_for_sync(5)
    finally:
        informer.stop()


def test_resync_replays_every_object_as_an_update():
    resource = FakeResource()
    resource.create(pod("a"))
    clock = FakeClock()
    informer = Informer(resource, resync_period=30, clock=clock)
    seen = Recorder()
    informer.add_event_handler(seen.add, seen.update)
    informer.start()
    try:
        informer.wait_for_sync(5)
        time.sleep(0.05)
        assert seen.events == [("add", "a")]
        clock.step(30)
        eventually(lambda: seen.events == [("add", "a"), ("update", "a")])
    finally:
        informer.stop()


def test_stop_ends_the_threads_promptly(resource):
    informer = Informer(resource)
    informer.start()
    informer.wait_for_sync(5)
    started = time.monotonic()
    informer.stop()
    assert time.monotonic() - started < 1
    assert not any(t.is_alive() for t in informer._threads)


def test_indexes_find_objects_by_other_values(resource, informer):
    resource.create({**pod("a"), "spec": {"nodeName": "n1"}})
    resource.create({**pod("b"), "spec": {"nodeName": "n2"}})
    informer.add_indexers({"node": lambda p: [p["spec"]["nodeName"]] if p["spec"].get("nodeName") else []})
    informer.start()
    informer.wait_for_sync(5)
    assert [p["metadata"]["name"] for p in informer.cache.by_index("node", "n1")] == ["a"]
    resource.update({**pod("b"), "spec": {"nodeName": "n1"}})
    eventually(lambda: informer.cache.index_keys("node", "n1") == ["default/a", "default/b"])
    assert informer.cache.index_keys("node", "n2") == []
