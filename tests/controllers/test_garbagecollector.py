"""The garbage collector: the ownership graph offline, and kubectl's three cascades on a real cluster."""

from __future__ import annotations

import pytest

from kubelab.controllers.garbagecollector import (
    GarbageCollector,
    GraphEvent,
    ObjectReference,
    references_diff,
    starts_waiting_for,
)
from kubelab.runtime import Controller

# -- the graph, offline -----------------------------------------------------------------------------


def obj(name, uid, owners=(), *, kind="ConfigMap", deleting=False, finalizers=()):
    meta = {"name": name, "namespace": "ns", "uid": uid, "ownerReferences": list(owners)}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def ref(name, uid, *, block=False, kind="ConfigMap"):
    return {"apiVersion": "v1", "kind": kind, "name": name, "uid": uid, "blockOwnerDeletion": block}


@pytest.fixture
def gc():
    collector = GarbageCollector()
    collector.attempt_to_delete = Controller("delete", lambda key: None)
    collector.attempt_to_orphan = Controller("orphan", lambda key: None)
    return collector


def change(gc, type, o, old=None):
    gc.process_graph_change(GraphEvent(type, ObjectReference.of(o), o, old))


def queued(controller):
    items = []
    while len(controller.queue):
        item = controller.queue.get()
        controller.queue.done(item)
        items.append(item)
    return items


def test_an_owner_seen_only_in_a_reference_is_a_virtual_node_to_check(gc):
    change(gc, "add", obj("child", "c1", [ref("parent", "p1")]))
    parent = gc.uid_to_node["p1"]
    assert parent.virtual and not parent.observed
    assert parent.identity == ObjectReference("v1", "ConfigMap", "parent", "p1", "ns")
    assert [n.identity.name for n in parent.dependents] == ["child"]
    assert queued(gc.attempt_to_delete) == [parent]
    change(gc, "add", obj("parent", "p1"))
    assert gc.uid_to_node["p1"] is parent and parent.observed and not parent.virtual


def test_deleting_an_owner_queues_its_dependents(gc):
    change(gc, "add", obj("parent", "p1"))
    change(gc, "add", obj("child", "c1", [ref("parent", "p1")]))
    queued(gc.attempt_to_delete)
    change(gc, "delete", obj("parent", "p1"))
    assert "p1" not in gc.uid_to_node
    assert [n.identity.name for n in queued(gc.attempt_to_delete)] == ["child"]


def test_foreground_deletion_marks_the_owner_and_queues_dependents_and_owner(gc):
    parent = obj("parent", "p1")
    change(gc, "add", parent)
    change(gc, "add", obj("child", "c1", [ref("parent", "p1", block=True)]))
    queued(gc.attempt_to_delete)
    deleting = obj("parent", "p1", deleting=True, finalizers=["foregroundDeletion"])
    change(gc, "update", deleting, parent)
    node = gc.uid_to_node["p1"]
    assert node.deleting_dependents
    assert {n.identity.name for n in queued(gc.attempt_to_delete)} == {"child", "parent"}
    assert [d.identity.name for d in node.blocking_dependents()] == ["child"]
    # The child going away wakes the owner up: its deletion may now finish.
    change(gc, "delete", obj("child", "c1", [ref("parent", "p1", block=True)]))
    assert queued(gc.attempt_to_delete) == [node]
    assert node.blocking_dependents() == []


def test_an_orphan_finalizer_queues_the_owner_for_orphaning(gc):
    parent = obj("parent", "p1")
    change(gc, "add", parent)
    change(gc, "update", obj("parent", "p1", deleting=True, finalizers=["orphan"]), parent)
    assert queued(gc.attempt_to_orphan) == [gc.uid_to_node["p1"]]
    assert queued(gc.attempt_to_delete) == []


def test_a_dependent_that_stops_blocking_wakes_an_owner_in_foreground_deletion(gc):
    change(gc, "add", obj("parent", "p1", deleting=True, finalizers=["foregroundDeletion"]))
    child = obj("child", "c1", [ref("parent", "p1", block=True)])
    change(gc, "add", child)
    queued(gc.attempt_to_delete)
    change(gc, "update", obj("child", "c1", [ref("parent", "p1", block=False)]), child)
    assert queued(gc.attempt_to_delete) == [gc.uid_to_node["p1"]]


def test_reference_diffs_and_transitions():
    a, b, b2, c = ref("a", "1"), ref("b", "2"), ref("b", "2", block=True), ref("c", "3")
    assert references_diff([a, b], [b2, c]) == ([c], [a], [(b, b2)])
    old = obj("x", "1")
    new = obj("x", "1", deleting=True, finalizers=["orphan"])
    assert starts_waiting_for(old, new, "orphan")
    assert not starts_waiting_for(new, new, "orphan")
    assert not starts_waiting_for(old, new, "foregroundDeletion")
