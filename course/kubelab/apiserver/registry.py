"""The generic registry: how every resource is created, read, listed, updated, deleted and watched.

Mirrors ``k8s.io/apiserver/pkg/registry/generic/registry/store.go`` and
``pkg/registry/rest`` (``BeforeCreate``, ``BeforeUpdate``, ``BeforeDelete``). The
registry does what is the same for every resource — names and ``generateName``, uid,
timestamps, resourceVersion preconditions, graceful deletion, finalizers, the garbage
collector's finalizers — and asks the resource's
:class:`~kubelab.apiserver.strategy.Strategy` for the rest. It reads and writes objects
through :class:`~kubelab.store.storage.Storage`, and turns storage errors into API errors
(:func:`kubelab.apiserver.errors.from_storage`).

:class:`Registry` is what the HTTP handlers call; :class:`Store` implements it for any
resource, and a lab can plug its own implementation in for one resource.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubelab.api import validation
from kubelab.api.field import FieldError
from kubelab.api.meta import new_uid, now_rfc3339
from kubelab.api.resources import ResourceInfo
from kubelab.api.selectors import FieldSelector, LabelSelector, SelectorError
from kubelab.apiserver import errors
from kubelab.apiserver.strategy import Strategy
from kubelab.store import errors as storage_errors
from kubelab.store.events import WatchEvent
from kubelab.store.storage import Preconditions, Storage

Obj = dict[str, Any]
UpdatedObject = Callable[[Obj], Awaitable[Obj]]
"""Computes the new object from the current one (``rest.UpdatedObjectInfo``): a PUT's body, a patched copy."""
ValidateObject = Callable[[Obj, Obj | None], Awaitable[None]]
"""Validating admission, called with the final object (and the old one on update) just before it is stored."""

GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""``utilrand.String``'s alphabet: no vowels (no words), no easily confused characters."""
GENERATE_NAME_LENGTH = 5
GENERATE_NAME_ATTEMPTS = 8
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")


@dataclass
class ListOptions:
    """``metav1.ListOptions``: what to list or watch, from where, and how much."""

    label_selector: LabelSelector = field(default_factory=LabelSelector.everything)
    field_selector: FieldSelector = field(default_factory=FieldSelector.everything)
    resource_version: str = ""
    resource_version_match: str = ""
    limit: int = 0
    continue_token: str = ""
    allow_watch_bookmarks: bool = False
    send_initial_events: bool | None = None

    @classmethod
    def parse(cls, query: Any) -> ListOptions:
        """Read the options from a request's query parameters; a bad selector is a 400."""
        try:
            labels = LabelSelector.parse(query.get("labelSelector", ""))
            fields = FieldSelector.parse(query.get("fieldSelector", ""))
        except SelectorError as e:
            raise errors.bad_request(str(e)) from e
        limit = query.get("limit", "")
        try:
            limit_value = int(limit) if limit else 0
        except ValueError as e:
            raise errors.bad_request(f'invalid value for "limit": {limit}') from e
        send = query.get("sendInitialEvents")
        return cls(
            label_selector=labels,
            field_selector=fields,
            resource_version=query.get("resourceVersion", ""),
            resource_version_match=query.get("resourceVersionMatch", ""),
            limit=max(limit_value, 0),
            continue_token=query.get("continue", ""),
            allow_watch_bookmarks=query.get("allowWatchBookmarks", "") == "true",
            send_initial_events=None if send is None else send == "true",
        )


@dataclass
class DeleteOptions:
    """``metav1.DeleteOptions``: grace period, propagation policy, preconditions, dry run."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: Obj | None, query: Any) -> DeleteOptions:
        """Read the options from a DELETE's body (``DeleteOptions``) and query parameters."""
        body = body or {}
        options = cls()
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        if grace is not None:
            try:
                options.grace_period_seconds = int(grace)
            except (TypeError, ValueError) as e:
                raise errors.bad_request(f"invalid gracePeriodSeconds: {grace!r}") from e
        options.propagation_policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        if orphan is not None:
            options.orphan_dependents = orphan in (True, "true")
        preconditions = body.get("preconditions") or {}
        options.precondition_uid = preconditions.get("uid")
        options.precondition_resource_version = preconditions.get("resourceVersion")
        options.dry_run = bool(body.get("dryRun") or query.get("dryRun"))
        return options

    def validate(self) -> list[FieldError]:
        """``ValidateDeleteOptions``."""
        from kubelab.api import field as fielderr

        errs: list[FieldError] = []
        if self.orphan_dependents is not None and self.propagation_policy is not None:
            errs.append(fielderr.invalid(
                "propagationPolicy", self.propagation_policy,
                "orphanDependents and deletionPropagation cannot be both set",
            ))
        if self.propagation_policy is not None and self.propagation_policy not in PROPAGATION_POLICIES:
            errs.append(fielderr.not_supported("propagationPolicy", self.propagation_policy, list(PROPAGATION_POLICIES)))
        return errs


class Registry(Protocol):
    """What the HTTP handlers call for one resource (``rest.StandardStorage``)."""

    info: ResourceInfo
    strategy: Strategy

    async def get(self, namespace: str, name: str, resource_version: str = "") -> Obj:
        """The object, or a 404 :class:`~kubelab.apiserver.errors.StatusError`."""
        ...

    async def list(self, namespace: str, options: ListOptions) -> Obj:
        """A ``<Kind>List`` of the matching objects (every namespace when ``namespace`` is empty)."""
        ...

    async def create(
        self, namespace: str, obj: Obj, *, validate: ValidateObject | None = None, dry_run: bool = False
    ) -> Obj:
        """Store a new object and return it as stored."""
        ...

    async def update(
        self, namespace: str, name: str, updated: UpdatedObject, *,
        validate: ValidateObject | None = None, create_if_missing: bool = False, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Replace the object with ``await updated(current)``; return it and whether it was created."""
        ...

    async def delete(self, namespace: str, name: str, options: DeleteOptions) -> tuple[Obj, bool]:
        """Delete (or start deleting) the object; return it and whether it is gone already."""
        ...

    async def delete_collection(
        self, namespace: str, options: DeleteOptions, list_options: ListOptions
    ) -> Obj:
        """Delete every matching object; return the list of what was deleted."""
        ...

    def watch(self, namespace: str, options: ListOptions) -> AsyncIterator[WatchEvent]:
        """Events for the matching objects, from ``options.resource_version``.

        Raises at once for bad options; the iterator raises a
        :class:`~kubelab.apiserver.errors.StatusError` (410 Expired) for a compacted resourceVersion.
        """
        ...


def generate_name(prefix: str) -> str:
    """``prefix`` plus 5 random characters (``names.SimpleNameGenerator``)."""
    if len(prefix) > 58:
        prefix = prefix[:58]
    return prefix + "".join(secrets.choice(GENERATE_NAME_ALPHABET) for _ in range(GENERATE_NAME_LENGTH))


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


class Store:
    """The generic :class:`Registry` of one resource (``genericregistry.Store``).

    ``subresource`` is ``""`` for the resource itself or ``"status"`` for its status,
    whose strategy keeps everything but the status from the stored object.
    """

    return_deleted_object = False
    """Answer a delete with the deleted object rather than a Status (pods and services do)."""

    def __init__(
        self,
        info: ResourceInfo,
        storage: Storage,
        strategy: Strategy,
        *,
        subresource: str = "",
        name_fn: validation.NameFn = validation.name_is_dns_subdomain,
    ) -> None:
        self.info = info
        self.storage = storage
        self.strategy = strategy
        self.subresource = subresource
        self.name_fn = name_fn
        self.gr = errors.GroupResource(info.group, info.plural)
        self._selectable: frozenset[str] | None = None

    def key(self, namespace: str, name: str) -> str:
        if self.info.namespaced and not namespace:
            raise errors.bad_request("Namespace parameter required.")
        return self.info.key(namespace, name)

    def _check_namespace(self, obj: Obj, namespace: str) -> None:
        """The object's namespace must be the request's (``rest.EnsureObjectNamespaceMatchesRequestNamespace``)."""
        meta = _meta(obj)
        if not self.info.namespaced:
            meta.pop("namespace", None)
            return
        ns = meta.get("namespace") or ""
        if not ns:
            meta["namespace"] = namespace
        elif ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )

    # -- read ---------------------------------------------------------------------------

    async def get(self, namespace: str, name: str, resource_version: str = "") -> Obj:
        try:
            return await self.storage.get(self.key(namespace, name), resource_version=resource_version)
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e

    def _predicate(self, options: ListOptions) -> Callable[[Obj], bool] | None:
        """The filter of a list or watch (``SelectionPredicate``); 400 for a field the resource lacks."""
        labels, fields = options.label_selector, options.field_selector
        if labels.empty and fields.empty:
            return None
        if not fields.empty:
            if self._selectable is None:
                self._selectable = frozenset(self.strategy.selectable_fields({"metadata": {}}))
            for name in fields.fields:
                if name not in self._selectable:
                    raise errors.bad_request(f"field label not supported: {name}")
        selectable = self.strategy.selectable_fields

        def matches(obj: Obj) -> bool:
            if not labels.matches((obj.get("metadata") or {}).get("labels")):
                return False
            return fields.empty or fields.matches(selectable(obj))

        return matches

    async def list(self, namespace: str, options: ListOptions) -> Obj:
        predicate = self._predicate(options)
        try:
            result = await self.storage.get_list(
                self.info.list_prefix(namespace),
                resource_version=options.resource_version,
                resource_version_match=options.resource_version_match,
                limit=options.limit,
                continue_token=options.continue_token,
                predicate=predicate,
            )
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr) from e
        list_meta: Obj = {"resourceVersion": result.resource_version}
        if result.continue_token:
            list_meta["continue"] = result.continue_token
            if result.remaining_item_count is not None:
                list_meta["remainingItemCount"] = result.remaining_item_count
        return {
            "kind": self.info.list_kind,
            "apiVersion": self.info.group_version,
            "metadata": list_meta,
            "items": result.items,
        }

    # -- create -------------------------------------------------------------------------

    def before_create(self, namespace: str, obj: Obj) -> None:
        """``rest.BeforeCreate``: server-set metadata, the strategy's preparation, then validation."""
        meta = _meta(obj)
        self._check_namespace(obj, namespace)
        obj["kind"] = self.info.kind
        obj["apiVersion"] = self.info.group_version
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(key, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        if meta.get("generateName") and not meta.get("name"):
            meta["name"] = generate_name(meta["generateName"])
        self.strategy.prepare_for_create(obj)
        errs = validation.validate_object_meta(meta, namespaced=self.info.namespaced, name_fn=self.name_fn)
        errs += self.strategy.validate(obj)
        if errs:
            raise errors.invalid(self.info.kind, self.info.group, meta.get("name") or "", errs)
        self.strategy.canonicalize(obj)

    async def create(
        self, namespace: str, obj: Obj, *, validate: ValidateObject | None = None, dry_run: bool = False
    ) -> Obj:
        if _meta(obj).get("resourceVersion"):
            raise errors.internal_error("resourceVersion should not be set on objects to be created")
        generated = not _meta(obj).get("name") and bool(_meta(obj).get("generateName"))
        for _attempt in range(GENERATE_NAME_ATTEMPTS if generated else 1):
            candidate = copy.deepcopy(obj) if generated else obj
            self.before_create(namespace, candidate)
            if validate is not None:
                await validate(candidate, None)
            name = candidate["metadata"]["name"]
            key = self.key(namespace, name)
            try:
                if dry_run:
                    if await self._exists(key):
                        raise storage_errors.KeyExists(key)
                    return candidate
                return await self.storage.create(key, candidate)
            except storage_errors.KeyExists as e:
                if not generated:
                    raise errors.already_exists(self.gr, name) from e
            except storage_errors.StorageError as e:
                raise errors.from_storage(e, self.gr, name) from e
        raise errors.generate_name_conflict(self.gr, name)

    async def _exists(self, key: str) -> bool:
        try:
            await self.storage.get(key)
        except storage_errors.KeyNotFound:
            return False
        return True

    # -- update -------------------------------------------------------------------------

    def before_update(self, obj: Obj, old: Obj) -> None:
        """``rest.BeforeUpdate``: keep what a client may not change, then validate."""
        meta, old_meta = _meta(obj), old.get("metadata") or {}
        self._check_namespace(obj, old_meta.get("namespace") or "")
        obj["kind"] = self.info.kind
        obj["apiVersion"] = self.info.group_version
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("selfLink", None)
        self.strategy.prepare_for_update(obj, old)
        errs = validation.validate_object_meta_update(meta, old_meta)
        errs += self.strategy.validate_update(obj, old)
        if errs:
            raise errors.invalid(self.info.kind, self.info.group, meta.get("name") or "", errs)
        self.strategy.canonicalize(obj)

    async def update(
        self, namespace: str, name: str, updated: UpdatedObject, *,
        validate: ValidateObject | None = None, create_if_missing: bool = False, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        key = self.key(namespace, name)
        created = False

        async def try_update(existing: Obj) -> Obj:
            nonlocal created
            created = not existing
            if created:
                if not create_if_missing:
                    raise storage_errors.KeyNotFound(key)
                obj = await updated({})
                self._check_name(obj, name)
                _meta(obj).pop("resourceVersion", None)
                self.before_create(namespace, obj)
                if validate is not None:
                    await validate(obj, None)
                return obj
            obj = await updated(copy.deepcopy(existing))
            self._check_name(obj, name)
            old_meta = existing["metadata"]
            rv = _meta(obj).get("resourceVersion")
            if rv and rv != old_meta.get("resourceVersion"):
                raise errors.conflict(self.gr, name)
            _meta(obj)["resourceVersion"] = old_meta.get("resourceVersion")
            self.before_update(obj, existing)
            if validate is not None:
                await validate(obj, existing)
            if self._should_delete_during_update(obj, existing):
                raise _EmptiedFinalizers(obj)
            return obj

        try:
            if dry_run:
                return await self._dry_run_update(key, try_update, create_if_missing), created
            return await self.storage.guaranteed_update(key, try_update, ignore_not_found=create_if_missing), created
        except _EmptiedFinalizers:
            return await self._delete_now(key, name, None, dry_run=dry_run), False
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e

    async def _dry_run_update(
        self, key: str, try_update: Callable[[Obj], Awaitable[Obj]], create_if_missing: bool
    ) -> Obj:
        try:
            current = await self.storage.get(key)
        except storage_errors.KeyNotFound:
            if not create_if_missing:
                raise
            current = {}
        return await try_update(current)

    def _should_delete_during_update(self, obj: Obj, old: Obj) -> bool:
        """``ShouldDeleteDuringUpdate``: the last finalizer of an object being deleted just went."""
        old_meta = old.get("metadata") or {}
        return (
            not obj["metadata"].get("finalizers")
            and bool(old_meta.get("finalizers"))
            and bool(old_meta.get("deletionTimestamp"))
            and not self.graceful_pending(obj)
        )

    def _check_name(self, obj: Obj, name: str) -> None:
        meta = _meta(obj)
        if not meta.get("name"):
            meta["name"] = name
        elif meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )

    # -- delete -------------------------------------------------------------------------

    async def graceful_period(self, obj: Obj, options: DeleteOptions) -> int | None:
        """The grace period to delete ``obj`` with, or None if the resource deletes at once.

        Only pods wait (``CheckGracefulDelete``); :class:`~kubelab.apiserver.pods.PodStore` overrides this.
        """
        return None

    @staticmethod
    def graceful_pending(obj: Obj) -> bool:
        """Whether ``obj`` is waiting out a grace period (deleted with a non-zero grace period)."""
        meta = obj.get("metadata") or {}
        return bool(meta.get("deletionTimestamp")) and bool(meta.get("deletionGracePeriodSeconds"))

    async def _grace_for(self, obj: Obj, options: DeleteOptions) -> int | None:
        """``rest.BeforeDelete``: the grace period of this deletion, or None when not graceful.

        Raises :class:`_AlreadyDeleting` when a graceful deletion is under way and this one
        does not shorten it.
        """
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            pending = meta.get("deletionGracePeriodSeconds") or 0
            if pending == 0:
                return None
            grace = options.grace_period_seconds
            if grace is None or grace >= pending:
                raise _AlreadyDeleting
            return max(grace, 0)
        grace = await self.graceful_period(obj, options)
        return None if grace is None else max(grace, 0)

    async def delete(self, namespace: str, name: str, options: DeleteOptions) -> tuple[Obj, bool]:
        errs = options.validate()
        if errs:
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", errs)
        key = self.key(namespace, name)
        try:
            current = await self.storage.get(key)
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e
        self._check_delete_preconditions(current, options)

        async def mark(existing: Obj) -> Obj:
            if not existing:
                raise storage_errors.KeyNotFound(key)
            self._check_delete_preconditions(existing, options)
            meta = existing["metadata"]
            grace = await self._grace_for(existing, options)
            finalizers = gc_finalizers(meta, options)
            if finalizers != (meta.get("finalizers") or []):
                meta["finalizers"] = finalizers
            if grace:
                _set_graceful(meta, grace)
                return existing
            if finalizers:
                _mark_as_deleting(meta)
                return existing
            raise _DeleteNow

        try:
            if options.dry_run:
                return await self._dry_run_delete(key, current, mark)
            return await self.storage.guaranteed_update(key, mark), False
        except _DeleteNow:
            return await self._delete_now(key, name, options, dry_run=options.dry_run), True
        except _AlreadyDeleting:
            return current, False
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e

    @staticmethod
    async def _dry_run_delete(key: str, current: Obj, mark: Callable[[Obj], Awaitable[Obj]]) -> tuple[Obj, bool]:
        try:
            return await mark(copy.deepcopy(current)), False
        except _DeleteNow:
            return current, True

    def _check_delete_preconditions(self, obj: Obj, options: DeleteOptions) -> None:
        meta = obj.get("metadata") or {}
        name = meta.get("name") or ""
        gr = errors.GroupResource(self.info.group, self.info.kind)
        if options.precondition_uid is not None and options.precondition_uid != meta.get("uid"):
            raise errors.conflict(
                gr, name,
                f"the UID in the precondition ({options.precondition_uid}) does not match the UID in record "
                f"({meta.get('uid')}). The object might have been deleted and then recreated",
            )
        rv = options.precondition_resource_version
        if rv is not None and rv != meta.get("resourceVersion"):
            raise errors.conflict(
                gr, name,
                f"the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record "
                f"({meta.get('resourceVersion')}). The object might have been modified",
            )

    async def _delete_now(
        self, key: str, name: str, options: DeleteOptions | None, *, dry_run: bool = False
    ) -> Obj:
        preconditions = None
        if options is not None and (options.precondition_uid or options.precondition_resource_version):
            preconditions = Preconditions(options.precondition_uid, options.precondition_resource_version)
        try:
            if dry_run:
                return await self.storage.get(key)
            return await self.storage.delete(key, preconditions=preconditions)
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e

    async def delete_collection(
        self, namespace: str, options: DeleteOptions, list_options: ListOptions
    ) -> Obj:
        listed = await self.list(namespace, list_options)
        deleted = []
        for obj in listed["items"]:
            meta = obj["metadata"]
            try:
                out, _ = await self.delete(meta.get("namespace") or "", meta["name"], options)
            except errors.StatusError as e:
                if e.code == 404:
                    continue
                raise
            deleted.append(out)
        listed["items"] = deleted
        return listed

    # -- watch --------------------------------------------------------------------------

    def watch(self, namespace: str, options: ListOptions) -> AsyncIterator[WatchEvent]:
        predicate = self._predicate(options)
        return self._watch(self.info.list_prefix(namespace), predicate, options)

    async def _watch(
        self, prefix: str, predicate: Callable[[Obj], bool] | None, options: ListOptions
    ) -> AsyncIterator[WatchEvent]:
        events = self.storage.watch(
            prefix,
            recursive=True,
            resource_version=options.resource_version,
            predicate=predicate,
            allow_bookmarks=options.allow_watch_bookmarks,
            send_initial_events=options.send_initial_events,
        )
        try:
            async for event in events:
                yield event
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr) from e
        finally:
            await events.aclose()  # type: ignore[attr-defined]


def gc_finalizers(meta: Obj, options: DeleteOptions) -> list[str]:
    """The finalizers after applying the propagation policy (``deletionFinalizersForGarbageCollection``)."""
    current = list(meta.get("finalizers") or [])
    if options.orphan_dependents is not None:
        orphan, foreground = options.orphan_dependents, False
    elif options.propagation_policy is not None:
        orphan = options.propagation_policy == "Orphan"
        foreground = options.propagation_policy == "Foreground"
    else:
        orphan = ORPHAN_FINALIZER in current
        foreground = FOREGROUND_FINALIZER in current and not orphan
    out = [f for f in current if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
    if orphan:
        out.append(ORPHAN_FINALIZER)
    if foreground:
        out.append(FOREGROUND_FINALIZER)
    return current if set(out) == set(current) else out


class _DeleteNow(Exception):
    """Raised inside a guaranteed update: nothing holds the object back, delete it now."""


class _AlreadyDeleting(Exception):
    """Raised inside a guaranteed update: a graceful deletion is already under way."""


class _EmptiedFinalizers(Exception):
    """Raised inside a guaranteed update: the last finalizer of a deleted object is gone, delete it."""


def _set_graceful(meta: Obj, grace: int) -> None:
    """Start (or shorten) a graceful deletion: deletionTimestamp = now + grace."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds"):
        start = dt.datetime.fromisoformat(meta["deletionTimestamp"].replace("Z", "+00:00")) - dt.timedelta(
            seconds=meta["deletionGracePeriodSeconds"]
        )
    else:
        start = now
        if (meta.get("generation") or 0) > 0:
            meta["generation"] += 1
    meta["deletionTimestamp"] = (start + dt.timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta["deletionGracePeriodSeconds"] = grace


def _mark_as_deleting(meta: Obj) -> None:
    """``markAsDeleting``: deletionTimestamp now (unless already earlier), grace period 0."""
    now = now_rfc3339()
    if not meta.get("deletionTimestamp") and (meta.get("generation") or 0) > 0:
        meta["generation"] += 1
    if not meta.get("deletionTimestamp") or meta["deletionTimestamp"] > now:
        meta["deletionTimestamp"] = now
    meta["deletionGracePeriodSeconds"] = 0
