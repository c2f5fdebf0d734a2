"""The event recorder: the Event it creates, and how repeats are counted, combined and throttled."""

from __future__ import annotations

import pytest

from http_fake import FakeServer, Reply, Request
from kubelab.client import Client
from kubelab.runtime import EventRecorder, FakeClock

RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
      "metadata": {"name": "web-5d8", "namespace": "shop", "uid": "u-1", "resourceVersion": "7"}}


class Events:
    """The events resource of a fake API server: stores creates, applies count patches."""

    def __init__(self):
        self.stored: dict[str, dict] = {}
        self.patches: list[tuple[str, str, dict]] = []

    def __call__(self, r: Request) -> Reply:
        if r.method == "POST":
            self.stored[r.body["metadata"]["name"]] = r.body
            return Reply(201, r.body)
        name = r.path.rsplit("/", 1)[1]
        self.patches.append((name, r.headers["content-type"], r.body))
        if name not in self.stored:
            return Reply(404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": "gone"})
        self.stored[name].update(r.body)
        return Reply(200, self.stored[name])


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def clock():
    return FakeClock(wall=1_700_000_000.5)


@pytest.fixture
def recorder(events, clock):
    server = FakeServer(events).start()
    rec = EventRecorder(Client(server.api_client(), timeout=5), "replicaset-controller", clock=clock)
    yield rec
    rec.stop()
    server.stop()


def test_an_event_is_created_about_the_object(recorder, events):
    recorder.event(RS, "Normal", "SuccessfulCreate", "Created pod: web-5d8-abcde")
    recorder.flush()
    (event,) = events.stored.values()
    assert event["metadata"] == {"name": f"web-5d8.{1_700_000_000_500_000_000:x}", "namespace": "shop"}
    assert event["involvedObject"] == {"kind": "ReplicaSet", "namespace": "shop", "name": "web-5d8", "uid": "u-1",
                                       "apiVersion": "apps/v1", "resourceVersion": "7"}
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal", "SuccessfulCreate", "Created pod: web-5d8-abcde")
    assert event["source"] == {"component": "replicaset-controller"}
    assert event["count"] == 1
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2023-11-14T22:13:20Z"


def test_a_cluster_scoped_objects_events_go_to_default():
    server = FakeServer(Events()).start()
    try:
        rec = EventRecorder(Client(server.api_client()), "node-controller")
        rec.event({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"}}, "Warning", "NodeNotReady", "x")
        rec.stop()
        assert server.requests[0].path == "/api/v1/namespaces/default/events"
    finally:
        server.stop()


def test_a_repeated_event_counts_up_instead_of_piling_up(recorder, events, clock):
    recorder.event(RS, "Warning", "FailedCreate", "quota exceeded")
    clock.step(5)
    recorder.event(RS, "Warning", "FailedCreate", "quota exceeded")
    recorder.event(RS, "Warning", "FailedCreate", "quota exceeded")
    recorder.flush()
    assert len(events.stored) == 1
    (event,) = events.stored.values()
    assert event["count"] == 3
    assert event["lastTimestamp"] == "2023-11-14T22:13:25Z"
    assert event["firstTimestamp"] == "2023-11-14T22:13:20Z"
    assert {ct for _, ct, _ in events.patches} == {"application/strategic-merge-patch+json"}


def test_ten_messages_for_one_reason_are_combined(recorder, events):
    for i in range(12):
        recorder.event(RS, "Normal", "SuccessfulCreate", f"Created pod: p{i}")
    recorder.flush()
    messages = sorted(e["message"] for e in events.stored.values())
    assert len(events.stored) == 10
    combined = [m for m in messages if m.startswith("(combined from similar events): ")]
    assert len(combined) == 1
    (event,) = [e for e in events.stored.values() if e["message"].startswith("(combined")]
    assert event["count"] == 3 and event["message"] == "(combined from similar events): Created pod: p11"


def test_an_object_may_burst_25_events_then_one_per_5_minutes(recorder, events, clock):
    for i in range(30):
        recorder.event(RS, "Normal", f"Reason{i}", "m")
    recorder.flush()
    assert len(events.stored) == 25
    clock.step(300)
    recorder.event(RS, "Normal", "Later", "m")
    recorder.event(RS, "Normal", "Later2", "m")
    recorder.flush()
    assert len(events.stored) == 26


def test_a_vanished_event_is_created_again(recorder, events):
    recorder.event(RS, "Normal", "ScalingReplicaSet", "Scaled up")
    recorder.flush()
    events.stored.clear()
    recorder.event(RS, "Normal", "ScalingReplicaSet", "Scaled up")
    recorder.flush()
    (event,) = events.stored.values()
    assert event["count"] == 1


def test_unknown_event_types_are_refused(recorder):
    with pytest.raises(ValueError, match="Normal"):
        recorder.event(RS, "Info", "X", "y")  # type: ignore[arg-type]
