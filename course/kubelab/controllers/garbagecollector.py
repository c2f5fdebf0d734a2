"""The garbage collector: delete objects whose owners are gone, in the order deletion asked for.

Mirrors ``pkg/controller/garbagecollector`` (``garbagecollector.go``, ``graph.go``,
``graph_builder.go``). It watches every kind of object the server can list, watch and delete
(custom resources too, found again every ``discovery_period`` seconds) and keeps a graph of
``ownerReferences``: who owns whom. Three deletions, as ``kubectl delete --cascade=`` asks:

- **background** (the default): the owner goes at once; its dependents, whose owner is now
  missing, are deleted afterwards;
- **foreground**: the API server gives the owner the ``foregroundDeletion`` finalizer; the
  collector deletes its dependents first (recursively, foreground too), and removes the
  finalizer when no dependent with ``blockOwnerDeletion`` is left;
- **orphan**: the owner gets the ``orphan`` finalizer; the collector removes the owner from
  its dependents' ``ownerReferences`` (they live on), then removes the finalizer.

Two queues do the work: *attempt to delete* (objects that may have lost an owner, and owners
waiting for their dependents) and *attempt to orphan*. Before deleting anything the
collector reads the object and each owner fresh from the API server: the graph only says
where to look.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubelab import errors
from kubelab.api.resources import BUILTIN, ResourceInfo
from kubelab.client import Client, Resource
from kubelab.controllers.discovery import deletable, preferred_resources
from kubelab.controllers.manager import ControllerContext
from kubelab.runtime import Controller, Informer, Result, SharedInformerFactory

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
ABSENT_OWNER_CACHE_SIZE = 500
DISCOVERY_PERIOD = 30.0


@dataclass(frozen=True)
class ObjectReference:
    """Who an object is: its coordinates and uid (the collector's ``objectReference``)."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    @classmethod
    def of(cls, obj: Obj) -> ObjectReference:
        meta = obj["metadata"]
        return cls(obj.get("apiVersion", ""), obj.get("kind", ""), meta["name"], meta.get("uid", ""),
                   meta.get("namespace") or "")

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} (uid {self.uid})"


@dataclass(eq=False)
class Node:
    """One object in the ownership graph; a *virtual* node is an owner seen only in a reference so far."""

    identity: ObjectReference
    owners: list[Mapping[str, Any]] = field(default_factory=list)
    dependents: set[Node] = field(default_factory=set)
    being_deleted: bool = False
    deleting_dependents: bool = False
    virtual: bool = False
    observed: bool = True

    def blocking_dependents(self) -> list[Node]:
        """Dependents whose reference to this node says ``blockOwnerDeletion: true``."""
        return [d for d in self.dependents
                if any(r.get("uid") == self.identity.uid and r.get("blockOwnerDeletion") for r in d.owners)]


@dataclass
class GraphEvent:
    """A change to feed the graph: from an informer, or *virtual* (the collector found an object gone)."""

    type: str  # "add", "update" or "delete"
    identity: ObjectReference
    obj: Obj | None = None
    old: Obj | None = None
    virtual: bool = False


def being_deleted(obj: Obj | None) -> bool:
    return bool(obj and (obj.get("metadata") or {}).get("deletionTimestamp"))


def has_finalizer(obj: Obj | None, finalizer: str) -> bool:
    return obj is not None and finalizer in ((obj.get("metadata") or {}).get("finalizers") or ())


def starts_waiting_for(old: Obj | None, new: Obj, finalizer: str) -> bool:
    """Whether ``new`` has just begun a deletion that waits on ``finalizer`` (it did not in ``old``)."""
    if not (being_deleted(new) and has_finalizer(new, finalizer)):
        return False
    return not (being_deleted(old) and has_finalizer(old, finalizer))


def references_diff(old: Sequence[Obj], new: Sequence[Obj]) -> tuple[list[Obj], list[Obj], list[tuple[Obj, Obj]]]:
    """``(added, removed, changed)`` owner references between two lists, matched by uid."""
    old_by_uid = {r.get("uid"): r for r in old}
    new_by_uid = {r.get("uid"): r for r in new}
    added = [r for uid, r in new_by_uid.items() if uid not in old_by_uid]
    removed = [r for uid, r in old_by_uid.items() if uid not in new_by_uid]
    changed = [(old_by_uid[uid], r) for uid, r in new_by_uid.items() if uid in old_by_uid and old_by_uid[uid] != r]
    return added, removed, changed


class GarbageCollector:
    """Deletes dependents of deleted owners, runs foreground deletions, and orphans on request."""

    name = "garbagecollector"
    component = "garbage-collector-controller"

    def __init__(self, *, workers: int = 5, discovery_period: float = DISCOVERY_PERIOD) -> None:
        self.workers = workers
        self.discovery_period = discovery_period
        self.uid_to_node: dict[str, Node] = {}
        self.graph_lock = threading.RLock()
        self.graph_changes: queue.Queue[GraphEvent | None] = queue.Queue()
        self.absent_owners: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.monitors: dict[tuple[str, str], Informer] = {}
        self.mapping: dict[tuple[str, str], ResourceInfo] = {}
        self._own_informers: dict[tuple[str, str], Informer] = {}
        self._monitors_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- wiring -------------------------------------------------------------------------------

    def start(self, context: ControllerContext) -> None:
        """Discover the resources, watch them all, and start the graph builder and the workers."""
        self.client: Client = context.client
        self.informers: SharedInformerFactory = context.informers
        self.attempt_to_delete = Controller("garbagecollector-delete", self.attempt_to_delete_item,
                                            workers=self.workers, clock=context.clock)
        self.attempt_to_orphan = Controller("garbagecollector-orphan", self.attempt_to_orphan_item,
                                            workers=1, clock=context.clock)
        self.resync_monitors()
        for informer in self.monitors.values():
            self.attempt_to_delete.waits_for(informer)
            self.attempt_to_orphan.waits_for(informer)
        self._threads = [
            threading.Thread(target=self._process_graph_changes, name="garbagecollector graph", daemon=True),
            threading.Thread(target=self._discovery_loop, name="garbagecollector discovery", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.attempt_to_delete.start()
        self.attempt_to_orphan.start()

    def stop(self) -> None:
        self._stopping.set()
        self.attempt_to_delete.stop()
        self.attempt_to_orphan.stop()
        self.graph_changes.put(None)
        for informer in self._own_informers.values():
            informer.stop()
        for thread in self._threads:
            thread.join(10)

    # -- monitors: one informer per deletable resource ------------------------------------------------

    def resync_monitors(self) -> None:
        """Watch every deletable resource the server serves now; forget the ones it no longer serves."""
        served = preferred_resources(self.client)
        with self.graph_lock:
            self.mapping = {(r.group, r.kind): r for r in served}
        wanted = {(r.group, r.plural): r for r in deletable(served)}
        with self._monitors_lock:
            for key, info in wanted.items():
                if key not in self.monitors:
                    self.monitors[key] = self._monitor(info)
            for key in [k for k in self.monitors if k not in wanted]:
                informer = self.monitors.pop(key)
                if key in self._own_informers:
                    self._own_informers.pop(key).stop()
                log.info("garbage collector: %s is no longer served; stopped watching it", informer.name)

    def _monitor(self, info: ResourceInfo) -> Informer:
        builtin = any(b.group == info.group and b.version == info.version and b.plural == info.plural
                      for b in BUILTIN)
        if builtin:
            informer = self.informers.informer(info.api_version, info.plural)
        else:
            # Custom resources come and go: their informers are the collector's own, made from
            # what discovery said, so a CRD created after start is watched too.
            informer = Informer(Resource(self.client, info), name=info.group_resource, clock=self.informers.clock)
            self._own_informers[(info.group, info.plural)] = informer
        informer.add_event_handler(
            lambda obj: self._enqueue_change("add", obj),
            lambda old, new: self._enqueue_change("update", new, old),
            lambda obj: self._enqueue_change("delete", obj),
        )
        if not builtin:
            informer.start()
        return informer

    def _enqueue_change(self, type: str, obj: Obj, old: Obj | None = None) -> None:
        self.graph_changes.put(GraphEvent(type, ObjectReference.of(obj), obj, old))

    def _discovery_loop(self) -> None:
        while not self._stopping.wait(self.discovery_period):
            try:
                self.resync_monitors()
            except Exception as e:
                log.warning("garbage collector: discovery failed, retrying in %.0fs: %s", self.discovery_period, e)

    # -- the graph builder (processGraphChanges) ----------------------------------------------------

    def _process_graph_changes(self) -> None:
        while (event := self.graph_changes.get()) is not None:
            try:
                with self.graph_lock:
                    self.process_graph_change(event)
            except Exception:
                log.exception("garbage collector: could not process a change of %s", event.identity)

    def process_graph_change(self, event: GraphEvent) -> None:
        """Apply one change to the graph and queue the work it makes necessary (call with the lock held)."""
        identity = event.identity
        existing = self.uid_to_node.get(identity.uid)
        if existing is not None and not event.virtual and not existing.observed:
            # A virtual owner is now seen for real.
            existing.observed = True
            existing.virtual = False
            if existing.identity != identity:
                # Dependents may have named it wrongly (another namespace, kind...): check them.
                existing.identity = identity
                for dependent in existing.dependents:
                    self.attempt_to_delete.queue.add(dependent)
        if event.type in ("add", "update") and event.obj is not None:
            obj = event.obj
            owners = list((obj.get("metadata") or {}).get("ownerReferences") or ())
            if existing is None:
                node = Node(identity, owners, being_deleted=being_deleted(obj),
                            deleting_dependents=being_deleted(obj) and has_finalizer(obj, FOREGROUND_FINALIZER))
                self._insert_node(node)
            else:
                node = existing
                added, removed, changed = references_diff(node.owners, owners)
                if added or removed or changed:
                    self._add_unblocked_owners_to_delete_queue(removed, changed)
                    node.owners = owners
                    self._add_dependent_to_owners(node, added)
                    self._remove_dependent_from_owners(node, removed)
                if being_deleted(obj):
                    node.being_deleted = True
            self._process_transitions(event.old, obj, node)
        elif event.type == "delete" and existing is not None:
            if event.virtual and not existing.virtual and existing.identity != identity:
                # The object exists, under other coordinates than a dependent used: those dependents
                # point at nothing and must be checked, but the node stays.
                for dependent in existing.dependents:
                    self.attempt_to_delete.queue.add(dependent)
                return
            self._remove_node(existing)
            if existing.dependents:
                self._remember(absent_key(identity.api_version, identity.kind, identity.name, identity.uid,
                                          identity.namespace))
            for dependent in existing.dependents:
                self.attempt_to_delete.queue.add(dependent)
            for ref in existing.owners:
                owner = self.uid_to_node.get(ref.get("uid", ""))
                if owner is not None and owner.deleting_dependents:
                    # One fewer dependent: maybe the owner's foreground deletion can finish.
                    self.attempt_to_delete.queue.add(owner)

    def _insert_node(self, node: Node) -> None:
        self.uid_to_node[node.identity.uid] = node
        self._add_dependent_to_owners(node, node.owners)

    def _remove_node(self, node: Node) -> None:
        self.uid_to_node.pop(node.identity.uid, None)
        self._remove_dependent_from_owners(node, node.owners)

    def _add_dependent_to_owners(self, node: Node, refs: Sequence[Obj]) -> None:
        for ref in refs:
            owner = self.uid_to_node.get(ref.get("uid", ""))
            if owner is None:
                # Not seen yet: a placeholder, checked against the API server by a worker.
                owner = Node(
                    ObjectReference(ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""),
                                    ref.get("uid", ""), node.identity.namespace),
                    virtual=True, observed=False,
                )
                self.uid_to_node[owner.identity.uid] = owner
                self.attempt_to_delete.queue.add(owner)
            owner.dependents.add(node)

    def _remove_dependent_from_owners(self, node: Node, refs: Sequence[Obj]) -> None:
        for ref in refs:
            owner = self.uid_to_node.get(ref.get("uid", ""))
            if owner is not None:
                owner.dependents.discard(node)

    def _add_unblocked_owners_to_delete_queue(self, removed: Sequence[Obj], changed: Sequence[tuple[Obj, Obj]]) -> None:
        """Owners waiting in foreground deletion may finish once a dependent stops blocking them."""
        unblocked = [r for r in removed if r.get("blockOwnerDeletion")]
        unblocked += [new for old, new in changed if old.get("blockOwnerDeletion") and not new.get("blockOwnerDeletion")]
        for ref in unblocked:
            owner = self.uid_to_node.get(ref.get("uid", ""))
            if owner is not None and owner.deleting_dependents:
                self.attempt_to_delete.queue.add(owner)

    def _process_transitions(self, old: Obj | None, new: Obj, node: Node) -> None:
        if starts_waiting_for(old, new, ORPHAN_FINALIZER):
            self.attempt_to_orphan.queue.add(node)
            return
        if starts_waiting_for(old, new, FOREGROUND_FINALIZER):
            node.deleting_dependents = True
            for dependent in node.dependents:
                self.attempt_to_delete.queue.add(dependent)
            self.attempt_to_delete.queue.add(node)

    def _enqueue_virtual_delete(self, identity: ObjectReference) -> None:
        self.graph_changes.put(GraphEvent("delete", identity, virtual=True))

    # -- the API server -------------------------------------------------------------------------------

    def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The resource of ``kind`` in ``api_version``'s group (a REST mapping); discovery runs again if unknown."""
        group = api_version.rpartition("/")[0]
        with self.graph_lock:
            info = self.mapping.get((group, kind))
        if info is None:
            self.resync_monitors()
            with self.graph_lock:
                info = self.mapping.get((group, kind))
        if info is None:
            raise LookupError(f"no resource of kind {kind} is served in {api_version}")
        return info

    def _api(self, identity: ObjectReference) -> tuple[Resource, str | None]:
        info = self.resource_for(identity.api_version, identity.kind)
        return Resource(self.client, info), identity.namespace if info.namespaced else None

    def get_object(self, identity: ObjectReference) -> dict[str, Any]:
        api, namespace = self._api(identity)
        return api.get(identity.name, namespace)

    def delete_object(self, identity: ObjectReference, policy: str) -> None:
        """Delete the object if it is still the same one (a uid precondition), with ``policy`` propagation."""
        api, namespace = self._api(identity)
        log.info("garbage collector: deleting %s (propagation %s)", identity, policy)
        with contextlib.suppress(errors.NotFound):
            api.delete(identity.name, namespace, propagation_policy=policy,  # type: ignore[arg-type]
                       preconditions={"uid": identity.uid})

    def patch_owner_references(self, identity: ObjectReference, latest: Obj, refs: list[Any]) -> None:
        """Replace the object's ownerReferences, failing with Conflict if it changed since ``latest``."""
        api, namespace = self._api(identity)
        patch = {"metadata": {"ownerReferences": refs, "resourceVersion": latest["metadata"]["resourceVersion"]}}
        api.patch(identity.name, patch, namespace)

    def remove_finalizer(self, identity: ObjectReference, finalizer: str) -> None:
        """Take ``finalizer`` off the object (read fresh; retried while others change it)."""
        api, namespace = self._api(identity)
        while True:
            try:
                latest = api.get(identity.name, namespace)
            except errors.NotFound:
                return
            if latest["metadata"].get("uid") != identity.uid:
                return
            finalizers = list(latest["metadata"].get("finalizers") or ())
            if finalizer not in finalizers:
                return
            finalizers.remove(finalizer)
            patch = {"metadata": {"finalizers": finalizers, "resourceVersion": latest["metadata"]["resourceVersion"]}}
            try:
                api.patch(identity.name, patch, namespace)
                return
            except errors.Conflict:
                continue
            except errors.NotFound:
                return

    # -- attempt to delete ------------------------------------------------------------------------------

    def attempt_to_delete_item(self, node: Node) -> Result | None:
        """Delete ``node`` if its owners are all gone (or waiting for it), or finish a foreground deletion."""
        with self.graph_lock:
            if node.being_deleted and not node.deleting_dependents:
                return None
        try:
            latest = self.get_object(node.identity)
        except errors.NotFound:
            # Gone (or never existed, for a virtual node): let the graph forget it.
            self._enqueue_virtual_delete(node.identity)
            return None
        if latest["metadata"].get("uid") != node.identity.uid:
            self._enqueue_virtual_delete(node.identity)
            return None
        self._attempt_to_delete(node, latest)
        with self.graph_lock:
            observed = node.observed
        # A virtual node is checked again until an informer shows the object for real.
        return None if observed else Result(requeue=True)

    def _attempt_to_delete(self, node: Node, latest: Obj) -> None:
        with self.graph_lock:
            deleting_dependents = node.deleting_dependents
        if deleting_dependents:
            self.process_deleting_dependents(node)
            return
        refs = list(latest["metadata"].get("ownerReferences") or ())
        if not refs:
            return
        solid, dangling, waiting = self.classify_references(node, refs)
        if solid:
            if not dangling and not waiting:
                return
            # Owners that are gone, or are themselves waiting for this object to go, are dropped;
            # otherwise those owners would wait forever on a dependent that is not going away.
            dropped = {r.get("uid") for r in [*dangling, *waiting]}
            self.patch_owner_references(node.identity, latest, [r for r in refs if r.get("uid") not in dropped])
            return
        with self.graph_lock:
            dependents = list(node.dependents)
        if waiting and dependents:
            if any(d.deleting_dependents for d in dependents):
                # A dependent is itself waiting in foreground deletion: a cycle would block both, so
                # this object stops blocking its owners.
                self.patch_owner_references(node.identity, latest, [{**r, "blockOwnerDeletion": False}
                                                                   if r.get("blockOwnerDeletion") else r
                                                                   for r in refs])
            self.delete_object(node.identity, "Foreground")
            return
        if has_finalizer(latest, ORPHAN_FINALIZER):
            policy = "Orphan"
        elif has_finalizer(latest, FOREGROUND_FINALIZER):
            policy = "Foreground"
        else:
            policy = "Background"
        self.delete_object(node.identity, policy)

    def classify_references(self, node: Node, refs: Sequence[Obj]) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """``(solid, dangling, waiting)``: owners that exist, owners that are gone, and owners in foreground deletion."""
        solid, dangling, waiting = [], [], []
        for ref in refs:
            owner = self.live_owner(node, ref)
            if owner is None:
                dangling.append(ref)
            elif being_deleted(owner) and has_finalizer(owner, FOREGROUND_FINALIZER):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    def live_owner(self, node: Node, ref: Obj) -> dict[str, Any] | None:
        """The owner ``ref`` names, read from the API server; None if it does not exist (``isDangling``)."""
        info = self.resource_for(ref.get("apiVersion", ""), ref.get("kind", ""))
        namespace = node.identity.namespace if info.namespaced else ""
        key = absent_key(ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""), ref.get("uid", ""),
                         namespace)
        with self.graph_lock:
            if key in self.absent_owners:
                return None
        if info.namespaced and not node.identity.namespace:
            # A cluster-scoped object cannot be owned by a namespaced one.
            self._remember(key)
            return None
        try:
            owner = Resource(self.client, info).get(ref.get("name", ""), namespace or None)
        except errors.NotFound:
            self._remember(key)
            return None
        if owner["metadata"].get("uid") != ref.get("uid"):
            self._remember(key)
            return None
        return owner

    def _remember(self, key: tuple[str, ...]) -> None:
        """Note an owner as absent, so the next dependents that name it need no request (an LRU)."""
        with self.graph_lock:
            self.absent_owners[key] = None
            self.absent_owners.move_to_end(key)
            while len(self.absent_owners) > ABSENT_OWNER_CACHE_SIZE:
                self.absent_owners.popitem(last=False)

    def process_deleting_dependents(self, node: Node) -> None:
        """Foreground deletion: remove the finalizer once no blocking dependent is left, else delete them."""
        with self.graph_lock:
            blocking = node.blocking_dependents()
            waiting_ones = [d for d in blocking if not d.deleting_dependents]
        if not blocking:
            self.remove_finalizer(node.identity, FOREGROUND_FINALIZER)
            return
        for dependent in waiting_ones:
            self.attempt_to_delete.queue.add(dependent)

    # -- attempt to orphan --------------------------------------------------------------------------------

    def attempt_to_orphan_item(self, owner: Node) -> Result | None:
        """Remove ``owner`` from its dependents' ownerReferences, then its ``orphan`` finalizer."""
        with self.graph_lock:
            dependents = list(owner.dependents)
        for dependent in dependents:
            self.orphan(dependent.identity, owner.identity.uid)
        self.remove_finalizer(owner.identity, ORPHAN_FINALIZER)
        return None

    def orphan(self, identity: ObjectReference, owner_uid: str) -> None:
        """Drop the reference to ``owner_uid`` from one dependent (read fresh, retried on conflict)."""
        while True:
            try:
                latest = self.get_object(identity)
            except errors.NotFound:
                return
            refs = list(latest["metadata"].get("ownerReferences") or ())
            kept = [r for r in refs if r.get("uid") != owner_uid]
            if len(kept) == len(refs):
                return
            try:
                self.patch_owner_references(identity, latest, kept)
                return
            except errors.Conflict:
                continue
            except errors.NotFound:
                return


def absent_key(api_version: str, kind: str, name: str, uid: str, namespace: str) -> tuple[str, ...]:
    """How the absent-owner cache names an owner: group (any version), kind, namespace, name, uid."""
    return api_version.rpartition("/")[0], kind, namespace, name, uid
