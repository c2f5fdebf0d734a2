"""Expectations: a controller waits to see its own creates and deletes, or gives up after 5 minutes."""

from __future__ import annotations

from kubelab.runtime import ControllerExpectations, FakeClock, UIDTrackingControllerExpectations


def test_satisfied_once_every_creation_is_observed():
    e = ControllerExpectations(FakeClock())
    assert e.satisfied_expectations("ns/rs"), "no record: a new controller may act"
    e.expect_creations("ns/rs", 2)
    assert not e.satisfied_expectations("ns/rs")
    e.creation_observed("ns/rs")
    assert not e.satisfied_expectations("ns/rs")
    e.creation_observed("ns/rs")
    assert e.satisfied_expectations("ns/rs")


def test_expectations_expire_after_five_minutes():
    clock = FakeClock()
    e = ControllerExpectations(clock)
    e.expect_creations("k", 1)
    clock.step(300)
    assert not e.satisfied_expectations("k")
    clock.step(0.1)
    assert e.satisfied_expectations("k")


def test_lowering_for_skipped_creations_and_deleting_the_record():
    e = ControllerExpectations(FakeClock())
    e.expect_creations("k", 7)
    e.lower_expectations("k", 6, 0)
    e.creation_observed("k")
    assert e.satisfied_expectations("k")
    e.raise_expectations("k", 1, 0)
    assert not e.satisfied_expectations("k")
    e.delete_expectations("k")
    assert e.satisfied_expectations("k") and e.get_expectations("k") is None


def test_each_tracked_deletion_counts_once():
    e = UIDTrackingControllerExpectations(FakeClock())
    e.expect_deletions("rs", ["ns/a", "ns/b"])
    e.deletion_observed("rs", "ns/a")
    e.deletion_observed("rs", "ns/a")
    e.deletion_observed("rs", "ns/other")
    assert not e.satisfied_expectations("rs")
    assert e.get_uids("rs") == {"ns/b"}
    e.deletion_observed("rs", "ns/b")
    assert e.satisfied_expectations("rs")
