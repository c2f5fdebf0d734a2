"""The scheduling queue: which pending pod to try next, and when to try a rejected one again.

Mirrors ``pkg/scheduler/backend/queue/scheduling_queue.go`` (``PriorityQueue``). A pending
pod is in exactly one of three places:

- **activeQ**, a heap ordered by the profile's QueueSort plugin (priority, then age):
  pods ready to be tried;
- **backoffQ**, ordered by when each pod's back-off ends: pods that failed recently and
  wait 1 s, 2 s, 4 s ... (at most 10 s) before their next try;
- **unschedulablePods**: pods no node could take. Nothing will change for them until the
  cluster does, so they wait for an event that may help (a node added, a taint removed,
  a pod deleted...) — or five minutes, whichever comes first.

Time comes from an injectable :class:`~kubelab.runtime.Clock`, so back-offs are testable
with a ``FakeClock`` instead of sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubelab.runtime.clock import REAL_CLOCK, Clock
from kubelab.scheduler.framework import ClusterEvent, PreEnqueuePlugin, is_success
from kubelab.scheduler.nodeinfo import PodInfo

__all__ = ["QueuedPodInfo", "SchedulingQueue", "pod_updated"]

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_MAX_IN_UNSCHEDULABLE = 300.0
"""Seconds after which a pod waiting for a helpful event is tried again anyway."""
UNSCHEDULABLE_FLUSH_INTERVAL = 30.0


class QueuedPodInfo:
    """A pending pod and its history in the queue (``framework.QueuedPodInfo``)."""

    __slots__ = (
        "attempts", "consecutive_errors", "gated", "initial_attempt_timestamp", "pod_info",
        "timestamp", "unschedulable_count", "unschedulable_plugins",
    )

    def __init__(self, pod_info: PodInfo, timestamp: float) -> None:
        self.pod_info = pod_info
        self.timestamp = timestamp
        """When the pod was last added back to the queue."""
        self.attempts = 0
        self.unschedulable_count = 0
        self.consecutive_errors = 0
        self.initial_attempt_timestamp: float | None = None
        self.unschedulable_plugins: set[str] = set()
        """The plugins that rejected the pod last time; only events they care about move it."""
        self.gated = False

    @property
    def pod(self) -> dict[str, Any]:
        return self.pod_info.pod

    @property
    def uid(self) -> str:
        return self.pod_info.uid

    def __repr__(self) -> str:
        return f"QueuedPodInfo({self.pod_info.namespace}/{self.pod_info.name}, attempts={self.attempts})"


def default_less(a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
    """Higher priority first, then the pod queued earlier (``PrioritySort``)."""
    pa, pb = a.pod_info.priority, b.pod_info.priority
    return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def pod_updated(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a pod changed in a way that may matter to scheduling (``isPodUpdated``).

    The scheduler's own status writes (conditions) and bookkeeping fields don't count,
    or every FailedScheduling condition would requeue the pod at once.
    """

    def strip(pod: Mapping[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (pod.get("metadata") or {}).items()
                if k not in ("resourceVersion", "generation", "managedFields", "finalizers")}
        return {**{k: v for k, v in pod.items() if k != "status"}, "metadata": meta}

    return strip(old) != strip(new)


class _ActiveEntry:
    __slots__ = ("less", "qpi", "removed")

    def __init__(self, qpi: QueuedPodInfo, less: Callable[[QueuedPodInfo, QueuedPodInfo], bool]) -> None:
        self.qpi = qpi
        self.less = less
        self.removed = False

    def __lt__(self, other: _ActiveEntry) -> bool:
        return self.less(self.qpi, other.qpi)


class SchedulingQueue:
    """activeQ, backoffQ and unschedulable pods, safe to use from informer threads and the scheduler."""

    def __init__(
        self,
        less: Callable[[QueuedPodInfo, QueuedPodInfo], bool] = default_less,
        *,
        clock: Clock = REAL_CLOCK,
        initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        max_in_unschedulable: float = DEFAULT_MAX_IN_UNSCHEDULABLE,
        pre_enqueue: Iterable[PreEnqueuePlugin] = (),
        plugin_events: Mapping[str, list[ClusterEvent]] | None = None,
    ) -> None:
        self._less = less
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_in_unschedulable = max_in_unschedulable
        self._pre_enqueue = list(pre_enqueue)
        self._plugin_events = dict(plugin_events or {})
        self._cond = threading.Condition(threading.Lock())
        self._active: list[_ActiveEntry] = []
        self._active_index: dict[str, _ActiveEntry] = {}
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_index: dict[str, tuple[QueuedPodInfo, int]] = {}
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: set[str] = set()
        self._nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_node: dict[str, str] = {}
        self._seq = itertools.count()
        self._last_unschedulable_flush = clock.now()
        self.scheduling_cycle = 0
        """Incremented by every :meth:`pop`; a failed pod reports the cycle it was tried in."""
        self._move_request_cycle = -1
        self._closed = False

    # -- what informers call -------------------------------------------------------------

    def add(self, pod_info: PodInfo) -> None:
        """A new pending pod (``Add``)."""
        with self._cond:
            self._nominate_from_status(pod_info)
            if self._contains(pod_info.uid):
                return
            qpi = QueuedPodInfo(pod_info, self.clock.now())
            self._enqueue_new(qpi)

    def update(self, old: PodInfo, new: PodInfo) -> None:
        """A pending pod changed (``Update``): refresh it, and retry it if the change may help."""
        uid = new.uid
        with self._cond:
            self._nominate_from_status(new)
            entry = self._active_index.get(uid)
            if entry is not None:
                entry.qpi.pod_info = new
                return
            if uid in self._backoff_index:
                self._backoff_index[uid][0].pod_info = new
                return
            qpi = self._unschedulable.get(uid)
            if qpi is not None:
                qpi.pod_info = new
                if qpi.gated:
                    if self._passes_pre_enqueue(new):
                        del self._unschedulable[uid]
                        qpi.gated = False
                        self._push_active(qpi)
                elif pod_updated(old.pod, new.pod):
                    del self._unschedulable[uid]
                    self._requeue(qpi)
                return
            if uid in self._in_flight:
                # It changed while being scheduled: if this attempt fails, retry soon.
                self._move_request_cycle = self.scheduling_cycle
                return
            self._enqueue_new(QueuedPodInfo(new, self.clock.now()))

    def delete(self, pod_info: PodInfo) -> None:
        """The pod is gone, or no longer pending (``Delete``)."""
        uid = pod_info.uid
        with self._cond:
            self._delete_nominated(uid)
            entry = self._active_index.pop(uid, None)
            if entry is not None:
                entry.removed = True
            self._backoff_index.pop(uid, None)
            self._unschedulable.pop(uid, None)

    def move_all_to_active_or_backoff(
        self, event: ClusterEvent, pre_check: Callable[[PodInfo], bool] | None = None
    ) -> int:
        """A cluster change: retry the unschedulable pods it may help; return how many moved.

        A pod moves if one of the plugins that rejected it registered ``event``
        (``MoveAllToActiveOrBackoffQueue``), and ``pre_check`` (if given) accepts it.
        """
        with self._cond:
            moved = 0
            for uid, qpi in list(self._unschedulable.items()):
                if qpi.gated or not self._may_help(qpi, event):
                    continue
                if pre_check is not None and not pre_check(qpi.pod_info):
                    continue
                del self._unschedulable[uid]
                self._requeue(qpi)
                moved += 1
            self._move_request_cycle = self.scheduling_cycle
            return moved

    def _may_help(self, qpi: QueuedPodInfo, event: ClusterEvent) -> bool:
        if not qpi.unschedulable_plugins:
            return True
        for plugin in qpi.unschedulable_plugins:
            registered = self._plugin_events.get(plugin)
            if registered is None or any(r.matches(event) for r in registered):
                return True
        return False

    # -- what the scheduler calls --------------------------------------------------------

    def pop(self, timeout: float | None = None) -> QueuedPodInfo | None:
        """The next pod to schedule, waiting up to ``timeout`` seconds (forever if None) for one.

        Returns None on timeout or once the queue is closed.
        """
        clock = self.clock
        deadline = None if timeout is None else clock.now() + timeout
        with self._cond:
            while True:
                self._flush_backoff_completed()
                self._flush_unschedulable_left_over()
                while self._active:
                    entry = heapq.heappop(self._active)
                    if entry.removed:
                        continue
                    qpi = entry.qpi
                    del self._active_index[qpi.uid]
                    qpi.attempts += 1
                    if qpi.initial_attempt_timestamp is None:
                        qpi.initial_attempt_timestamp = clock.now()
                    self.scheduling_cycle += 1
                    self._in_flight.add(qpi.uid)
                    return qpi
                if self._closed:
                    return None
                wait = 1.0
                if self._backoff:
                    wait = min(wait, max(0.0, self._backoff[0][0] - clock.now()))
                if deadline is not None:
                    remaining = deadline - clock.now()
                    if remaining <= 0:
                        return None
                    wait = min(wait, remaining)
                clock.wait(self._cond, wait)

    def done(self, uid: str) -> None:
        """The scheduler has finished with the pod it popped (bound, requeued or dropped)."""
        with self._cond:
            self._in_flight.discard(uid)

    def add_unschedulable_if_not_present(self, qpi: QueuedPodInfo, scheduling_cycle: int) -> None:
        """Put back a pod that failed in ``scheduling_cycle`` (``AddUnschedulableIfNotPresent``).

        It waits for a helpful event, unless one already happened during its attempt, or
        it failed with an error rather than a rejection: then it only backs off.
        """
        with self._cond:
            self._in_flight.discard(qpi.uid)
            if self._contains(qpi.uid):
                return
            qpi.timestamp = self.clock.now()
            if not qpi.unschedulable_plugins or self._move_request_cycle >= scheduling_cycle:
                self._push_backoff(qpi)
            else:
                self._unschedulable[qpi.uid] = qpi

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- nominated pods (the nominator) ----------------------------------------------------

    def add_nominated_pod(self, pod_info: PodInfo, node_name: str) -> None:
        """Reserve room on ``node_name`` for a pod that preempted there (``AddNominatedPod``).

        An empty ``node_name`` removes the reservation.
        """
        with self._cond:
            self._delete_nominated(pod_info.uid)
            if node_name:
                self._nominated.setdefault(node_name, {})[pod_info.uid] = pod_info
                self._nominated_node[pod_info.uid] = node_name

    def delete_nominated_pod_if_exists(self, pod_info: PodInfo) -> None:
        with self._cond:
            self._delete_nominated(pod_info.uid)

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        """Pods nominated to run on ``node_name``: filters count them as if they were there."""
        with self._cond:
            return list(self._nominated.get(node_name, {}).values())

    def has_nominated_pods(self) -> bool:
        with self._cond:
            return bool(self._nominated_node)

    def _nominate_from_status(self, pod_info: PodInfo) -> None:
        node_name = (pod_info.pod.get("status") or {}).get("nominatedNodeName") or ""
        if node_name or pod_info.uid in self._nominated_node:
            self._delete_nominated(pod_info.uid)
            if node_name:
                self._nominated.setdefault(node_name, {})[pod_info.uid] = pod_info
                self._nominated_node[pod_info.uid] = node_name

    def _delete_nominated(self, uid: str) -> None:
        node_name = self._nominated_node.pop(uid, None)
        if node_name is not None:
            pods = self._nominated[node_name]
            pods.pop(uid, None)
            if not pods:
                del self._nominated[node_name]

    # -- back-off ------------------------------------------------------------------------

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        """1 s, doubling with every failed attempt, capped at 10 s (``calculateBackoffDuration``)."""
        count = qpi.consecutive_errors or qpi.unschedulable_count
        if count == 0 or self.initial_backoff == 0:
            return 0.0
        duration = self.initial_backoff
        for _ in range(1, count):
            if duration > self.max_backoff - duration:
                return self.max_backoff
            duration += duration
        return duration

    def backoff_expiration(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def _flush_backoff_completed(self) -> None:
        now = self.clock.now()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, uid = heapq.heappop(self._backoff)
            queued = self._backoff_index.get(uid)
            if queued is not None and queued[1] == seq:
                del self._backoff_index[uid]
                self._push_active(queued[0])

    def _flush_unschedulable_left_over(self) -> None:
        now = self.clock.now()
        if now - self._last_unschedulable_flush < UNSCHEDULABLE_FLUSH_INTERVAL:
            return
        self._last_unschedulable_flush = now
        for uid, qpi in list(self._unschedulable.items()):
            if not qpi.gated and now - qpi.timestamp > self.max_in_unschedulable:
                del self._unschedulable[uid]
                self._requeue(qpi)

    # -- internals -----------------------------------------------------------------------

    def _contains(self, uid: str) -> bool:
        return uid in self._active_index or uid in self._backoff_index or uid in self._unschedulable

    def _passes_pre_enqueue(self, pod_info: PodInfo) -> bool:
        return all(is_success(p.pre_enqueue(pod_info.pod)) for p in self._pre_enqueue)

    def _enqueue_new(self, qpi: QueuedPodInfo) -> None:
        if self._passes_pre_enqueue(qpi.pod_info):
            self._push_active(qpi)
        else:
            qpi.gated = True
            self._unschedulable[qpi.uid] = qpi

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        if self.backoff_expiration(qpi) > self.clock.now():
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        entry = _ActiveEntry(qpi, self._less)
        self._active_index[qpi.uid] = entry
        heapq.heappush(self._active, entry)
        self._cond.notify()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        seq = next(self._seq)
        self._backoff_index[qpi.uid] = (qpi, seq)
        heapq.heappush(self._backoff, (self.backoff_expiration(qpi), seq, qpi.uid))
        self._cond.notify()

    # -- inspection ----------------------------------------------------------------------

    def pending_pods(self) -> dict[str, list[PodInfo]]:
        """The pods in each sub-queue, for debugging and tests: ``activeQ``, ``backoffQ``, ``unschedulablePods``."""
        with self._cond:
            return {
                "activeQ": [e.qpi.pod_info for e in sorted(self._active) if not e.removed],
                "backoffQ": [q.pod_info for q, _ in self._backoff_index.values()],
                "unschedulablePods": [q.pod_info for q in self._unschedulable.values()],
            }

    def __len__(self) -> int:
        with self._cond:
            return len(self._active_index) + len(self._backoff_index) + len(self._unschedulable)
