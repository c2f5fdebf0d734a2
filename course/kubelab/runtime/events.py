"""Recording core/v1 Events about objects, as client-go's ``tools/record`` does.

``recorder.event(rs, "Normal", "SuccessfulCreate", "Created pod: web-7d4b9")`` returns at
once; a background thread sends the Event. Like upstream's ``EventCorrelator``:

- an identical event (same source, object, type, reason and message) is not created again:
  the existing one gets ``count + 1`` and a new ``lastTimestamp`` (a strategic merge patch);
- more than 10 events about one object that differ only in message within 10 minutes are
  folded into one, ``(combined from similar events): <message>``;
- one source may send 25 events about one object at once, then one every 5 minutes.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubelab import errors
from kubelab.client import Client
from kubelab.runtime.clock import REAL_CLOCK, Clock, rfc3339

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]

MAX_CACHED = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0


def object_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An ObjectReference to ``obj`` (``kind``, ``namespace``, ``name``, ``uid``, ``apiVersion``, ``resourceVersion``)."""
    metadata = obj.get("metadata") or {}
    reference = {
        "kind": obj.get("kind"),
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "apiVersion": obj.get("apiVersion"),
        "resourceVersion": metadata.get("resourceVersion"),
    }
    return {k: v for k, v in reference.items() if v}


class _Lru(collections.OrderedDict[str, Any]):
    def remember(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_CACHED:
            self.popitem(last=False)


@dataclass
class _Seen:
    count: int
    first_timestamp: str
    name: str


class EventRecorder:
    """Records Events about objects on behalf of one component (``source.component``)."""

    def __init__(self, client: Client, component: str, *, host: str = "", clock: Clock = REAL_CLOCK) -> None:
        self.events = client.resource("v1", "events")
        self.component = component
        self.host = host
        self.clock = clock
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
        self._seen = _Lru()
        self._aggregates = _Lru()
        self._spam = _Lru()
        self._lock = threading.Lock()
        self._last_nanos = 0
        self._thread = threading.Thread(target=self._send_loop, name=f"events {component}", daemon=True)
        self._thread.start()

    def event(self, obj: Mapping[str, Any], type: EventType, reason: str, message: str) -> None:
        """Record that ``reason`` happened to ``obj``; never blocks, never raises for a failed send."""
        if type not in ("Normal", "Warning"):
            raise ValueError(f"unsupported event type {type!r}: use 'Normal' or 'Warning'")
        reference = object_reference(obj)
        now = self.clock.wall()
        timestamp = rfc3339(now)
        with self._lock:
            # Names must differ even for events recorded within the clock's resolution.
            nanos = self._last_nanos = max(int(now * 1e9), self._last_nanos + 1)
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{reference.get('name')}.{nanos:x}",
                "namespace": reference.get("namespace") or "default",
            },
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
            "type": type,
            "reportingComponent": self.component,
        }
        if self.host:
            event["reportingInstance"] = self.host
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("%s: too many queued events, dropped %s %s", self.component, reason, message)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event recorded so far has been sent (or dropped)."""
        done = threading.Event()
        self._queue.put({"flush": done})
        done.wait(timeout)

    def stop(self) -> None:
        """Send what is queued, then stop the sending thread."""
        self._queue.put(None)
        self._thread.join(10)

    def _send_loop(self) -> None:
        while (event := self._queue.get()) is not None:
            if "flush" in event:
                event["flush"].set()
                continue
            try:
                self._record(event)
            except Exception as e:
                log.warning("%s: could not record event %s: %s", self.component, event.get("reason"), e)

    # -- correlation (EventCorrelator) --------------------------------------------------------

    def _record(self, event: dict[str, Any]) -> None:
        if self._spam_filtered(event):
            return
        event, key = self._aggregate(event)
        seen = self._seen.get(key)
        if seen is None:
            created = self.events.create(event)
            self._seen.remember(key, _Seen(1, event["firstTimestamp"], created["metadata"]["name"]))
            return
        patch = {"count": seen.count + 1, "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        namespace = event["metadata"]["namespace"]
        try:
            self.events.patch(seen.name, patch, namespace, type="strategic")
            seen.count += 1
            self._seen.move_to_end(key)
        except errors.NotFound:
            # The earlier event expired (events have a TTL): start a new one.
            created = self.events.create(event)
            self._seen.remember(key, _Seen(1, event["firstTimestamp"], created["metadata"]["name"]))

    def _spam_filtered(self, event: dict[str, Any]) -> bool:
        ref = event["involvedObject"]
        key = "".join(str(x) for x in (
            self.component, self.host, ref.get("kind"), ref.get("namespace"), ref.get("name"), ref.get("uid"),
            ref.get("apiVersion"),
        ))
        now = self.clock.now()
        tokens, last = self._spam.get(key, (float(SPAM_BURST), now))
        tokens = min(float(SPAM_BURST), tokens + (now - last) * SPAM_QPS)
        if tokens < 1:
            self._spam.remember(key, (tokens, now))
            return True
        self._spam.remember(key, (tokens - 1, now))
        return False

    def _aggregate(self, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
        ref = event["involvedObject"]
        similar = "".join(str(x) for x in (
            self.component, self.host, ref.get("kind"), ref.get("namespace"), ref.get("name"), ref.get("fieldPath"),
            ref.get("uid"), ref.get("apiVersion"), event["type"], event["reason"],
        ))
        exact = similar + event["message"]
        now = self.clock.now()
        messages, last = self._aggregates.get(similar, (set(), None))
        if last is None or now - last > AGGREGATE_INTERVAL:
            messages = set()
        messages.add(event["message"])
        self._aggregates.remember(similar, (messages, now))
        if len(messages) < AGGREGATE_MAX_EVENTS:
            return event, exact
        messages.pop()
        combined = {**event, "message": "(combined from similar events): " + event["message"]}
        return combined, similar
