"""Lab 02, the API server: the request path of one resource (ConfigMaps), the reference, the checks.

The learner writes the steps a request for a ConfigMap goes through inside the API server
(validation, the 422 Status, a container's defaults, what the server sets on create, create, get, label selectors,
list, update with optimistic concurrency, watch). :class:`LabRegistry` turns those functions
into the :class:`~kubelab.apiserver.registry.Registry` the API server calls, so that
``lab.start(..., registries={"configmaps": registry_factory(MyConfigMaps)})`` serves
ConfigMaps through them. :class:`ReferenceConfigMaps` is the same request path written by
kubelab, used to grade each function on its own.
"""

from __future__ import annotations

import asyncio
import copy
import random
import string
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.api.meta import new_uid, now_rfc3339
from kubelab.api.resources import ResourceInfo, ResourceRegistry
from kubelab.api.selectors import LabelSelector
from kubelab.apiserver import errors
from kubelab.apiserver.errors import StatusError
from kubelab.apiserver.registry import (
    DeleteOptions,
    ListOptions,
    Store,
    UpdatedObject,
    ValidateObject,
    generate_name,
)
from kubelab.apiserver.resources import strategy_for
from kubelab.apiserver.resources.podspec import default_container
from kubelab.grading import expect_equal, expect_raises, expect_true
from kubelab.lab.background import Background
from kubelab.lab.checks import Checks
from kubelab.lab.hybrid import hybrid
from kubelab.store import errors as storage_errors
from kubelab.store.events import WatchEvent
from kubelab.store.memory import MemoryKV
from kubelab.store.storage import Storage

Obj = dict[str, Any]

__all__ = [
    "DeleteOptions",
    "FieldError",
    "LabRegistry",
    "ListOptions",
    "ReferenceConfigMaps",
    "StatusError",
    "check",
    "configmaps_info",
    "defaulted",
    "errors",
    "field",
    "generate_name",
    "is_config_map_key",
    "new_uid",
    "now_rfc3339",
    "random_changes",
    "random_container",
    "random_configmap",
    "random_labels",
    "random_selector",
    "reference_defaults",
    "registry_factory",
    "run",
    "storage_errors",
    "validate_object_meta",
    "watch_outcome",
    "with_yours",
]


def configmaps_info() -> ResourceInfo:
    """The API's description of ConfigMaps: group ``""``, version ``v1``, namespaced, kind ``ConfigMap``."""
    info = ResourceRegistry().get("", "v1", "configmaps")
    assert info is not None
    return info


def is_config_map_key(key: str) -> list[str]:
    """What is wrong with ``key`` as a ConfigMap key, in the API server's words (empty when nothing)."""
    return validation.is_config_map_key(key)


def validate_object_meta(cm: Obj) -> list[FieldError]:
    """The field errors of a new object's metadata (its name above all), as for every resource."""
    return validation.validate_object_meta(cm.get("metadata") or {}, namespaced=True,
                                           name_fn=validation.name_is_dns_subdomain)


class LabRegistry(Store):
    """The API server's registry for ConfigMaps, working through the lab's functions.

    The API server calls ``get``/``list``/``create``/``update``/``watch``; they call the
    methods the learner writes (``get_configmap``, ``list_configmaps``, ...) and turn storage
    errors into API errors. What the lab leaves out (dry runs, reads at an old
    resourceVersion, field selectors, create-on-update) goes the built-in way; deletes too.
    """

    def __init__(self, info: ResourceInfo, storage: Storage) -> None:
        super().__init__(info, storage, strategy_for(info))

    # The lab's functions, written by the learner; the reference is ReferenceConfigMaps.
    def validate_configmap(self, cm: Obj) -> list[FieldError]:
        raise NotImplementedError

    def invalid(self, name: str, errs: list[FieldError]) -> StatusError:
        raise NotImplementedError

    def prepare_for_create(self, namespace: str, cm: Obj) -> None:
        raise NotImplementedError

    async def create_configmap(self, namespace: str, cm: Obj) -> Obj:
        raise NotImplementedError

    async def get_configmap(self, namespace: str, name: str) -> Obj:
        raise NotImplementedError

    def selector_matches(self, selector: str, labels: dict[str, str]) -> bool:
        raise NotImplementedError

    async def list_configmaps(self, namespace: str, options: ListOptions) -> Obj:
        raise NotImplementedError

    async def update_configmap(self, namespace: str, name: str, updated: UpdatedObject) -> Obj:
        raise NotImplementedError

    def watch_configmaps(self, namespace: str, options: ListOptions) -> AsyncIterator[WatchEvent]:
        raise NotImplementedError

    # What the API server calls.
    async def get(self, namespace: str, name: str, resource_version: str = "") -> Obj:
        if resource_version:
            return await super().get(namespace, name, resource_version)
        return await self._translated(self.get_configmap(namespace, name), name)

    async def list(self, namespace: str, options: ListOptions) -> Obj:
        if not options.field_selector.empty:
            return await super().list(namespace, options)
        return await self._translated(self.list_configmaps(namespace, options))

    async def create(
        self, namespace: str, obj: Obj, *, validate: ValidateObject | None = None, dry_run: bool = False
    ) -> Obj:
        if dry_run:
            return await super().create(namespace, obj, validate=validate, dry_run=True)
        return await self._translated(self.create_configmap(namespace, obj), (obj.get("metadata") or {}).get("name", ""))

    async def update(
        self, namespace: str, name: str, updated: UpdatedObject, *,
        validate: ValidateObject | None = None, create_if_missing: bool = False, dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        if dry_run or create_if_missing:
            return await super().update(namespace, name, updated, validate=validate,
                                        create_if_missing=create_if_missing, dry_run=dry_run)
        return await self._translated(self.update_configmap(namespace, name, updated), name), False

    async def watch(self, namespace: str, options: ListOptions) -> AsyncIterator[WatchEvent]:  # type: ignore[override]
        try:
            async for event in self.watch_configmaps(namespace, options):
                yield event
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr) from e
        except NotImplementedError as e:
            raise unwritten(e) from e

    async def _translated(self, work: Any, name: str = "") -> Any:
        try:
            return await work
        except storage_errors.StorageError as e:
            raise errors.from_storage(e, self.gr, name) from e
        except NotImplementedError as e:
            raise unwritten(e) from e


def unwritten(error: NotImplementedError) -> StatusError:
    """The 500 a client gets from a lab function whose body is still to write, naming that function."""
    frames = traceback.extract_tb(error.__traceback__)
    function = frames[-1].name if frames else "a function of the lab"
    return errors.internal_error(f"{function} is not written yet (its body still raises NotImplementedError)")

CONFIG_KEY_DUPLICATE = "duplicate of key present in data"


class ReferenceConfigMaps(LabRegistry):
    """kubelab's own version of every lab function, each calling the others through ``self``."""

    def validate_configmap(self, cm: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        data, binary = cm.get("data") or {}, cm.get("binaryData") or {}
        for key in data:
            errs += [field.invalid(f"data[{key}]", key, message) for message in is_config_map_key(key)]
        for key in binary:
            errs += [field.invalid(f"binaryData[{key}]", key, message) for message in is_config_map_key(key)]
            if key in data:
                errs.append(field.invalid(f"binaryData[{key}]", key, CONFIG_KEY_DUPLICATE))
        return errs

    def invalid(self, name: str, errs: list[FieldError]) -> StatusError:
        return errors.invalid("ConfigMap", "", name, errs)

    def prepare_for_create(self, namespace: str, cm: Obj) -> None:
        meta = cm.setdefault("metadata", {})
        cm["kind"], cm["apiVersion"] = "ConfigMap", "v1"
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        if meta.get("generateName") and not meta.get("name"):
            meta["name"] = generate_name(meta["generateName"])

    async def create_configmap(self, namespace: str, cm: Obj) -> Obj:
        self.prepare_for_create(namespace, cm)
        name = cm["metadata"].get("name", "")
        errs = validate_object_meta(cm) + self.validate_configmap(cm)
        if errs:
            raise self.invalid(name, errs)
        try:
            return await self.storage.create(self.info.key(namespace, name), cm)
        except storage_errors.KeyExists as e:
            raise errors.already_exists(self.gr, name) from e

    async def get_configmap(self, namespace: str, name: str) -> Obj:
        try:
            return await self.storage.get(self.info.key(namespace, name))
        except storage_errors.KeyNotFound as e:
            raise errors.not_found(self.gr, name) from e

    def selector_matches(self, selector: str, labels: dict[str, str]) -> bool:
        return LabelSelector.parse(selector).matches(labels)

    async def list_configmaps(self, namespace: str, options: ListOptions) -> Obj:
        selector = str(options.label_selector)
        result = await self.storage.get_list(
            self.info.list_prefix(namespace), resource_version=options.resource_version,
            resource_version_match=options.resource_version_match, limit=options.limit,
            continue_token=options.continue_token,
            predicate=lambda cm: self.selector_matches(selector, cm["metadata"].get("labels") or {}),
        )
        meta: Obj = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
        return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta, "items": result.items}

    async def update_configmap(self, namespace: str, name: str, updated: UpdatedObject) -> Obj:
        async def try_update(current: Obj) -> Obj:
            new = await updated(copy.deepcopy(current))
            meta, old = new.setdefault("metadata", {}), current["metadata"]
            if meta.get("resourceVersion") and meta["resourceVersion"] != old["resourceVersion"]:
                raise errors.conflict(self.gr, name)
            for key in ("uid", "creationTimestamp", "namespace", "name"):
                meta[key] = old[key]
            new["kind"], new["apiVersion"] = "ConfigMap", "v1"
            errs = self.validate_configmap(new)
            if errs:
                raise self.invalid(name, errs)
            return new

        return await self.storage.guaranteed_update(self.info.key(namespace, name), try_update)

    async def watch_configmaps(self, namespace: str, options: ListOptions) -> AsyncIterator[WatchEvent]:  # type: ignore[override]
        selector = str(options.label_selector)
        events = self.storage.watch(
            self.info.list_prefix(namespace), recursive=True, resource_version=options.resource_version,
            predicate=lambda cm: self.selector_matches(selector, cm["metadata"].get("labels") or {}),
            allow_bookmarks=options.allow_watch_bookmarks, send_initial_events=options.send_initial_events,
        )
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]


def registry_factory(registry_class: type[LabRegistry]) -> Callable[[ResourceInfo, Storage], LabRegistry]:
    """What ``registries={"configmaps": ...}`` takes: makes your registry for the API server."""
    return lambda info, storage: registry_class(info, storage)


def with_yours(background: Background | None = None, **functions: Callable[..., Any]) -> ReferenceConfigMaps:
    """The reference registry on a fresh in-memory store, with your functions as its methods.

    Plain functions (``validate_configmap``, ``invalid``, ``prepare_for_create``, ``selector_matches``)
    take no ``registry`` argument and are wrapped as static methods.
    """
    pure = {"validate_configmap", "invalid", "prepare_for_create", "selector_matches"}
    methods = {name: staticmethod(f) if name in pure else f for name, f in functions.items()}
    registry: ReferenceConfigMaps = hybrid(ReferenceConfigMaps, **methods)(configmaps_info(), Storage(MemoryKV()))
    return registry


# -- random objects for the hidden tests -----------------------------------------------------------

GOOD_KEYS = ("a", "app.conf", "KEY_NAME", "key-name", "x.y_z-1", ".hidden")
BAD_KEYS = ("a b", "ü", "", ".", "..", "..dots", "slash/no", "k" * 254, "colon:no")


def random_configmap(rng: random.Random, name: str = "") -> Obj:
    """A ConfigMap whose keys are valid or not, at random."""
    keys = list(rng.sample(GOOD_KEYS + BAD_KEYS, rng.randrange(0, 5)))
    data = {k: rng.choice(["1", "", "hello"]) for k in keys if rng.random() < 0.6}
    binary = {k: "aGk=" for k in keys if k not in data or rng.random() < 0.2}
    cm: Obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name or "cm-" + "".join(rng.choices(string.ascii_lowercase, k=5))}}
    if data:
        cm["data"] = data
    if binary:
        cm["binaryData"] = binary
    return cm


IMAGES = ("nginx", "nginx:1.25", "nginx:latest", "registry.local:5000/team/app", "registry.local:5000/team/app:v2",
          "busybox@sha256:" + "ab" * 32, "python:3.12@sha256:" + "cd" * 32, "ghcr.io/org/tool")
DEFAULTED = ("imagePullPolicy", "terminationMessagePath", "terminationMessagePolicy", "ports")


def random_container(rng: random.Random) -> Obj:
    """A container as a client sends it: some images, some fields already set, some ports."""
    container: Obj = {"name": rng.choice(["app", "sidecar"]), "image": rng.choice(IMAGES)}
    if rng.random() < 0.3:
        container["imagePullPolicy"] = rng.choice(["Always", "IfNotPresent", "Never"])
    if rng.random() < 0.2:
        container["terminationMessagePath"] = "/tmp/done"
    if rng.random() < 0.2:
        container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    if rng.random() < 0.5:
        container["ports"] = [{"containerPort": 8000 + i, **({"protocol": "UDP"} if rng.random() < 0.3 else {})}
                              for i in range(rng.randrange(1, 3))]
    return container


def defaulted(container: Obj) -> Obj:
    """The fields of ``container`` that the lab's defaulting fills in, with its name and image."""
    return {key: container.get(key) for key in ("name", "image", *DEFAULTED)}


def reference_defaults(container: Obj) -> Obj:
    """A copy of ``container`` with the API server's own container defaults."""
    copied = copy.deepcopy(container)
    default_container(copied)
    return copied


def random_selector(rng: random.Random) -> str:
    """A label selector in the forms the lab covers: =, ==, !=, in, notin, exists, !exists."""
    parts = []
    for key in rng.sample(["app", "tier", "env", "team"], rng.randrange(0, 4)):
        form = rng.choice(["=", "==", "!=", "in", "notin", "exists", "!"])
        if form in ("=", "==", "!="):
            parts.append(f"{key}{form}{rng.choice(['a', 'b', 'c'])}")
        elif form in ("in", "notin"):
            parts.append(f"{key} {form} ({','.join(rng.sample(['a', 'b', 'c'], rng.randrange(1, 4)))})")
        elif form == "exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    return ",".join(parts)


def random_labels(rng: random.Random) -> dict[str, str]:
    """Labels with some of the keys ``random_selector`` asks about."""
    return {k: rng.choice(["a", "b", "c"]) for k in rng.sample(["app", "tier", "env", "team"], rng.randrange(0, 5))}


Change = tuple[str, str, str, dict[str, str]]


def random_changes(rng: random.Random, length: int = 12) -> list[Change]:
    """Creates, relabellings and deletes of a few ConfigMaps in two namespaces: ``(verb, namespace, name, labels)``."""
    changes: list[Change] = []
    existing: set[tuple[str, str]] = set()
    for _ in range(rng.randrange(1, length)):
        where = (rng.choice(["default", "x"]), rng.choice(["a", "b", "c"]))
        verb = rng.choice(["update", "update", "delete"]) if where in existing else "create"
        (existing.discard if verb == "delete" else existing.add)(where)
        changes.append((verb, *where, random_labels(rng)))
    return changes


def relabelled(labels: dict[str, str]) -> Callable[[Obj], Obj]:
    """An update of ``guaranteed_update`` that gives the object ``labels``."""
    return lambda cm: {**cm, "metadata": {**cm["metadata"], "labels": labels}}


LAST = "zz-last"
SENTINEL_LABELS: tuple[dict[str, str], ...] = ({}, {"app": "a"}, {"app": "b"}, {"app": "c"})


async def watch_outcome(
    registry: ReferenceConfigMaps, changes: list[Change], start: int, namespace: str, selector: str, timeout: float = 10.0,
) -> list[tuple[str, str, str]]:
    """Make ``changes``, then watch from the resourceVersion before change ``start``: ``(type, namespace, name)`` of each event.

    One last ConfigMap, ``zz-last``, is created after the changes where the watch must see it;
    the watch ends with it (or after ``timeout`` seconds without an event), so no timing decides
    which events count.
    """
    matching = LabelSelector.parse(selector)
    last_labels = next(labels for labels in SENTINEL_LABELS if matching.matches(labels))
    revisions = [await registry.storage.current_revision()]
    for verb, ns, name, labels in [*changes, ("create", namespace or "default", LAST, last_labels)]:
        key = registry.info.key(ns, name)
        if verb == "create":
            await ReferenceConfigMaps.create_configmap(registry, ns, {"metadata": {"name": name, "labels": labels}})
        elif verb == "update":
            await registry.storage.guaranteed_update(key, relabelled(labels))
        else:
            await registry.storage.delete(key)
        revisions.append(await registry.storage.current_revision())
    options = ListOptions(label_selector=matching, resource_version=str(revisions[start]))
    seen: list[tuple[str, str, str]] = []
    events = registry.watch_configmaps(namespace, options).__aiter__()
    try:
        while True:
            try:
                event = await asyncio.wait_for(events.__anext__(), timeout)
            except (TimeoutError, StopAsyncIteration):
                return seen
            if event.object["metadata"]["name"] == LAST:
                return seen
            seen.append((event.type, event.object["metadata"]["namespace"], event.object["metadata"]["name"]))
    finally:
        await events.aclose()  # type: ignore[attr-defined]


# -- the visible checks ----------------------------------------------------------------------------

check = Checks("02-apiserver")
_loop: Background | None = None


def run(coroutine: Any, timeout: float = 30.0) -> Any:
    """Run a coroutine of your registry from a notebook cell and return its result."""
    global _loop
    if _loop is None:
        _loop = Background("lab02")
    return _loop.run(coroutine, timeout)


def _causes(error: StatusError) -> list[tuple[str, str]]:
    return [(c["field"], c["reason"]) for c in (error.details or {}).get("causes", [])]


@check.task("validate_configmap", "validate_configmap")
def _validate(validate_configmap: Any) -> None:
    good = {"metadata": {"name": "ok"}, "data": {"app.conf": "x", "KEY_NAME": "y"}, "binaryData": {"logo": "aGk="}}
    expect_equal(validate_configmap(good), [], what="the errors of a valid ConfigMap")
    expect_equal(validate_configmap({"metadata": {"name": "empty"}}), [], what="the errors of a ConfigMap without data")
    bad = {"metadata": {"name": "bad"}, "data": {"a b": "1", "ok": "2"}, "binaryData": {"ok": "aGk="}}
    expect_equal([str(e) for e in validate_configmap(bad)], [
        'data[a b]: Invalid value: "a b": ' + is_config_map_key("a b")[0],
        'binaryData[ok]: Invalid value: "ok": duplicate of key present in data',
    ], what="the errors of a ConfigMap with key 'a b' and key 'ok' in both data and binaryData")


@check.task("invalid", "invalid")
def _invalid(invalid: Any) -> None:
    one = [field.invalid("data[a b]", "a b", "bad key")]
    error = invalid("web", one)
    expect_true(isinstance(error, StatusError), f"invalid(...) should return a StatusError, not {type(error).__name__}")
    expect_equal([error.code, error.reason], [422, "Invalid"], what="[code, reason] of the error")
    expect_equal(error.message, 'ConfigMap "web" is invalid: data[a b]: Invalid value: "a b": bad key',
                 what="the message with one field error")
    expect_equal(error.details, {"name": "web", "kind": "ConfigMap", "causes": [
        {"reason": "FieldValueInvalid", "message": 'Invalid value: "a b": bad key', "field": "data[a b]"}]},
        what="the details with one field error")
    two = one + [field.required("metadata.name")]
    expect_equal(invalid("web", two).message,
                 'ConfigMap "web" is invalid: [data[a b]: Invalid value: "a b": bad key, metadata.name: Required value]',
                 what="the message with two field errors")


@check.task("default_container", "default_container")
def _default_container(default_container: Any) -> None:
    bare: Obj = {"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]}
    default_container(bare)
    expect_equal(defaulted(bare), {"name": "app", "image": "nginx", "imagePullPolicy": "Always",
                                   "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                                   "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                 what="the container {'name': 'app', 'image': 'nginx', 'ports': [{'containerPort': 80}]} after defaulting")
    for image, policy in (("nginx:1.25", "IfNotPresent"), ("nginx:latest", "Always"), ("registry.local:5000/app", "Always"),
                          ("busybox@sha256:" + "ab" * 32, "IfNotPresent")):
        container: Obj = {"name": "app", "image": image}
        default_container(container)
        expect_equal(container.get("imagePullPolicy"), policy, what=f"the imagePullPolicy of image {image}")
    chosen: Obj = {"name": "app", "image": "nginx", "imagePullPolicy": "Never", "ports": [{"containerPort": 53, "protocol": "UDP"}]}
    default_container(chosen)
    expect_equal([chosen["imagePullPolicy"], chosen["ports"]], ["Never", [{"containerPort": 53, "protocol": "UDP"}]],
                 what="[imagePullPolicy, ports] the client set, after defaulting")


@check.task("prepare_for_create", "prepare_for_create")
def _prepare(prepare_for_create: Any) -> None:
    cm: Obj = {"metadata": {"name": "web"}, "data": {"k": "v"}}
    prepare_for_create("team-a", cm)
    meta = cm["metadata"]
    expect_equal([cm.get("kind"), cm.get("apiVersion"), meta.get("namespace"), meta.get("name")],
                 ["ConfigMap", "v1", "team-a", "web"], what="[kind, apiVersion, namespace, name] after prepare_for_create")
    expect_true(isinstance(meta.get("uid"), str) and len(meta["uid"]) == 36, f"metadata.uid should be a new UUID, got {meta.get('uid')!r}")
    expect_true(isinstance(meta.get("creationTimestamp"), str) and meta["creationTimestamp"].endswith("Z"),
                f"metadata.creationTimestamp should be the time now, in RFC 3339, got {meta.get('creationTimestamp')!r}")
    generated: Obj = {"metadata": {"generateName": "job-"}}
    prepare_for_create("default", generated)
    name = generated["metadata"].get("name", "")
    expect_true(name.startswith("job-") and len(name) == 9, f"generateName 'job-' should give a name like job-x7k2p, got {name!r}")
    error = expect_raises(StatusError, prepare_for_create, "default", {"metadata": {"name": "x", "namespace": "other"}},
                          what="prepare_for_create of an object in namespace other, sent to namespace default")
    expect_equal(getattr(error, "code", None), 400, what="the code of that error")


def _storage_registry(**functions: Any) -> ReferenceConfigMaps:
    return with_yours(**functions)


@check.task("create_configmap", "create_configmap")
def _create(create_configmap: Any) -> None:
    registry = _storage_registry(create_configmap=create_configmap)
    stored = run(registry.create_configmap("default", {"metadata": {"name": "web"}, "data": {"k": "v"}}))
    expect_equal([stored["metadata"].get("namespace"), stored["metadata"].get("resourceVersion") is not None, stored["data"]],
                 ["default", True, {"k": "v"}], what="[namespace, has a resourceVersion, data] of the created ConfigMap")
    expect_equal(run(registry.storage.get("/registry/configmaps/default/web"))["data"], {"k": "v"},
                 what="the data stored at /registry/configmaps/default/web")
    again = expect_raises(StatusError, lambda: run(registry.create_configmap("default", {"metadata": {"name": "web"}})),
                          what="creating web a second time")
    expect_equal([getattr(again, "code", 0), getattr(again, "reason", "")], [409, "AlreadyExists"], what="[code, reason] of that error")
    bad = expect_raises(StatusError, lambda: run(registry.create_configmap("default", {"metadata": {"name": "bad"}, "data": {"a b": "1"}})),
                        what="creating a ConfigMap with key 'a b'")
    expect_equal(getattr(bad, "code", 0), 422, what="the code of that error")
    expect_raises(StatusError, lambda: run(registry.create_configmap("default", {"metadata": {"name": "Not_A_Name"}})),
                  what="creating a ConfigMap called Not_A_Name (not a DNS name)")


@check.task("get_configmap", "get_configmap")
def _get(get_configmap: Any) -> None:
    registry = _storage_registry(get_configmap=get_configmap)
    run(registry.create_configmap("default", {"metadata": {"name": "web"}, "data": {"k": "v"}}))
    got = run(registry.get_configmap("default", "web"))
    expect_equal([got["metadata"]["name"], got["data"]], ["web", {"k": "v"}], what="[name, data] of the ConfigMap got back")
    missing = expect_raises(StatusError, lambda: run(registry.get_configmap("default", "nope")), what="getting a missing ConfigMap")
    expect_equal([getattr(missing, "code", 0), getattr(missing, "message", "")], [404, 'configmaps "nope" not found'],
                 what="[code, message] of that error")
    expect_raises(StatusError, lambda: run(registry.get_configmap("other", "web")), what="getting web from another namespace")


@check.task("selector_matches", "selector_matches")
def _selector(selector_matches: Any) -> None:
    labels = {"app": "web", "tier": "front"}
    cases = [("", True), ("app=web", True), ("app==web", True), ("app=db", False), ("app!=db", True),
             ("env!=prod", True), ("app in (web,db)", True), ("app notin (web)", False), ("env notin (prod)", True),
             ("tier", True), ("env", False), ("!env", True), ("!app", False), ("app=web,tier=back", False),
             ("app=web, tier in (front)", True)]
    for selector, want in cases:
        expect_equal(selector_matches(selector, labels), want, what=f"selector_matches({selector!r}, {labels})")


@check.task("list_configmaps", "list_configmaps")
def _list(list_configmaps: Any) -> None:
    registry = _storage_registry(list_configmaps=list_configmaps)
    for name, labels, namespace in (("a", {"app": "web"}, "default"), ("b", {"app": "db"}, "default"), ("c", {"app": "web"}, "other")):
        run(registry.create_configmap(namespace, {"metadata": {"name": name, "labels": labels}}))
    listed = run(registry.list_configmaps("default", ListOptions()))
    expect_equal([listed.get("kind"), listed.get("apiVersion"), [i["metadata"]["name"] for i in listed.get("items", [])]],
                 ["ConfigMapList", "v1", ["a", "b"]], what="[kind, apiVersion, names] of the list of namespace default")
    expect_true(bool(listed.get("metadata", {}).get("resourceVersion")), "the list should carry metadata.resourceVersion")
    web = run(registry.list_configmaps("", ListOptions(label_selector=LabelSelector.parse("app=web"))))
    expect_equal([i["metadata"]["name"] for i in web["items"]], ["a", "c"], what="the names listed in every namespace with app=web")


@check.task("update_configmap", "update_configmap")
def _update(update_configmap: Any) -> None:
    registry = _storage_registry(update_configmap=update_configmap)
    first = run(registry.create_configmap("default", {"metadata": {"name": "web"}, "data": {"k": "1"}}))

    def setting(value: str, rv: str | None) -> UpdatedObject:
        async def updated(current: Obj) -> Obj:
            new = {"metadata": {"name": "web", **({"resourceVersion": rv} if rv else {})}, "data": {"k": value}}
            return new
        return updated

    second = run(registry.update_configmap("default", "web", setting("2", first["metadata"]["resourceVersion"])))
    expect_equal([second["data"], second["metadata"]["uid"] == first["metadata"]["uid"],
                  second["metadata"]["creationTimestamp"] == first["metadata"]["creationTimestamp"],
                  int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])],
                 [{"k": "2"}, True, True, True], what="[data, same uid, same creationTimestamp, newer resourceVersion] after an update")
    stale = expect_raises(StatusError, lambda: run(registry.update_configmap("default", "web", setting("3", first["metadata"]["resourceVersion"]))),
                          what="an update carrying the first, stale resourceVersion")
    expect_equal([getattr(stale, "code", 0), getattr(stale, "reason", "")], [409, "Conflict"], what="[code, reason] of that error")
    third = run(registry.update_configmap("default", "web", setting("3", None)))
    expect_equal(third["data"], {"k": "3"}, what="the data after an update without a resourceVersion (last write wins)")
    bad = expect_raises(StatusError, lambda: run(registry.update_configmap("default", "web", _with_data({"a b": "1"}))),
                        what="an update that makes a key invalid")
    expect_equal(getattr(bad, "code", 0), 422, what="the code of that error")


def _with_data(data: dict[str, str]) -> UpdatedObject:
    async def updated(current: Obj) -> Obj:
        return {**current, "data": data}
    return updated


@check.task("watch_configmaps", "watch_configmaps")
def _watch(watch_configmaps: Any) -> None:
    registry = _storage_registry(watch_configmaps=watch_configmaps)
    start = run(registry.create_configmap("default", {"metadata": {"name": "a", "labels": {"app": "web"}}}))
    run(registry.create_configmap("default", {"metadata": {"name": "b", "labels": {"app": "db"}}}))
    run(registry.create_configmap("default", {"metadata": {"name": "c", "labels": {"app": "web"}}}))

    async def first_events(options: ListOptions, count: int) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        events = registry.watch_configmaps("default", options)
        try:
            async for event in events:
                seen.append((event.type, event.object["metadata"]["name"]))
                if len(seen) == count:
                    break
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        return seen

    rv = start["metadata"]["resourceVersion"]
    expect_equal(run(first_events(ListOptions(resource_version=rv), 2)), [("ADDED", "b"), ("ADDED", "c")],
                 what=f"the first events of a watch from resourceVersion {rv} (after a was created)")
    expect_equal(run(first_events(ListOptions(resource_version=rv, label_selector=LabelSelector.parse("app=web")), 1)),
                 [("ADDED", "c")], what=f"the first event of a watch of app=web from resourceVersion {rv}")
