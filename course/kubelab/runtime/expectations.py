"""Expectations: what a controller is still waiting to see after its own creates and deletes.

Mirrors ``ControllerExpectations`` of ``pkg/controller/controller_utils.go``. The informer
cache lags behind the API server: right after a ReplicaSet controller creates 3 pods, its
cache may still show none, and a second reconcile would create 3 more. So before creating
it records "expect 3 creations"; the pod informer's handler counts each one off as it
arrives; a reconcile does nothing until the expectations are met (or have waited 5 minutes,
in case an event was lost).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kubelab.runtime.clock import REAL_CLOCK, Clock

EXPECTATIONS_TIMEOUT = 5 * 60.0


@dataclass
class Expectation:
    """Creations and deletions still to be observed for one controller key, and when they were set."""

    add: int
    delete: int
    timestamp: float
    deleting: set[str] = field(default_factory=set)

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Per-key counts of creations and deletions the controller has asked for but not yet seen."""

    def __init__(self, clock: Clock = REAL_CLOCK, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._lock = threading.Lock()
        self._expectations: dict[str, Expectation] = {}

    def get_expectations(self, key: str) -> Expectation | None:
        with self._lock:
            return self._expectations.get(key)

    def satisfied_expectations(self, key: str) -> bool:
        """Whether a reconcile of ``key`` may act: nothing pending, everything seen, or the wait expired."""
        with self._lock:
            expectation = self._expectations.get(key)
            if expectation is None:
                return True
            return expectation.fulfilled() or self.clock.now() - expectation.timestamp > self.timeout

    def set_expectations(self, key: str, add: int, delete: int) -> None:
        with self._lock:
            self._expectations[key] = Expectation(add, delete, self.clock.now())

    def expect_creations(self, key: str, adds: int) -> None:
        self.set_expectations(key, adds, 0)

    def expect_deletions(self, key: str, dels: int) -> None:
        self.set_expectations(key, 0, dels)

    def raise_expectations(self, key: str, add: int, delete: int) -> None:
        with self._lock:
            expectation = self._expectations.get(key)
            if expectation is not None:
                expectation.add += add
                expectation.delete += delete

    def lower_expectations(self, key: str, add: int, delete: int) -> None:
        with self._lock:
            expectation = self._expectations.get(key)
            if expectation is not None:
                expectation.add -= add
                expectation.delete -= delete

    def creation_observed(self, key: str) -> None:
        """One expected creation arrived (or, after a failed create, will never arrive)."""
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, 0, 1)

    def delete_expectations(self, key: str) -> None:
        """Forget ``key`` (its controller object is gone)."""
        with self._lock:
            self._expectations.pop(key, None)


class UIDTrackingControllerExpectations(ControllerExpectations):
    """Expectations that also remember *which* pods are being deleted, so each deletion counts once.

    A pod being deleted is seen twice: when it gets its deletionTimestamp and when it is
    finally removed; tracking its key makes the second sighting count for nothing
    (``UIDTrackingControllerExpectations``).
    """

    def expect_deletions(self, key: str, dels: int | list[str]) -> None:  # type: ignore[override]
        """Expect the pods with these keys (``namespace/name``) to be deleted."""
        keys = [] if isinstance(dels, int) else list(dels)
        with self._lock:
            self._expectations[key] = Expectation(0, len(keys), self.clock.now(), set(keys))

    def deletion_observed(self, key: str, deleted_key: str = "") -> None:  # type: ignore[override]
        """Count the deletion of pod ``deleted_key`` off ``key``'s expectations, once."""
        with self._lock:
            expectation = self._expectations.get(key)
            if expectation is None or deleted_key not in expectation.deleting:
                return
            expectation.deleting.discard(deleted_key)
            expectation.delete -= 1

    def get_uids(self, key: str) -> set[str]:
        """The keys of pods still expected to be deleted for ``key``."""
        with self._lock:
            expectation = self._expectations.get(key)
            return set(expectation.deleting) if expectation else set()
