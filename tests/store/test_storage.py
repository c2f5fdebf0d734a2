"""Conformance of ``Storage`` (Kubernetes object storage) on every KV backend."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelab.store.compactor import Compactor
from kubelab.store.errors import (
    Compacted,
    FutureRevision,
    InvalidArgument,
    InvalidObject,
    KeyExists,
    KeyNotFound,
    ResourceVersionConflict,
)
from kubelab.store.events import WatchEvent
from kubelab.store.storage import Preconditions, Storage

pytestmark = pytest.mark.anyio


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels}}


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def take(events: AsyncIterator[WatchEvent], count: int, timeout: float = 10) -> list[WatchEvent]:
    taken: list[WatchEvent] = []
    async with asyncio.timeout(timeout):
        while len(taken) < count:
            taken.append(await anext(events))
    return taken


def summary(events: list[WatchEvent]) -> list[tuple[str, str, int]]:
    return [(e.type, e.object["metadata"].get("name", ""), rv(e.object)) for e in events]


# -- create / get ----------------------------------------------------------------------


async def test_create_stores_the_object_and_sets_its_resource_version(storage: Storage, prefix: str) -> None:
    before = await storage.current_revision()

    created = await storage.create(prefix + "a", pod("a", app="web"))
    read = await storage.get(prefix + "a")

    assert rv(created) == before + 1
    assert read == created
    assert read["metadata"]["labels"] == {"app": "web"}


async def test_create_refuses_an_existing_key_and_a_resource_version(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))
    with pytest.raises(KeyExists):
        await storage.create(prefix + "a", pod("a"))
    carrying = pod("b")
    carrying["metadata"]["resourceVersion"] = "12"
    with pytest.raises(InvalidObject, match="resourceVersion should not be set on objects to be created"):
        await storage.create(prefix + "b", carrying)
    with pytest.raises(KeyNotFound):
        await storage.get(prefix + "b")


async def test_get_reports_missing_keys_future_and_invalid_resource_versions(storage: Storage, prefix: str) -> None:
    created = await storage.create(prefix + "a", pod("a"))
    with pytest.raises(KeyNotFound):
        await storage.get(prefix + "missing")
    assert await storage.get(prefix + "a", resource_version=str(rv(created))) == created
    with pytest.raises(FutureRevision):
        await storage.get(prefix + "a", resource_version=str(rv(created) + 1000))
    with pytest.raises(InvalidArgument, match="invalid resource version"):
        await storage.get(prefix + "a", resource_version="abc")


async def test_the_stored_bytes_carry_no_resource_version(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))
    (kv,) = (await storage.kv.range((prefix + "a").encode())).kvs
    assert "resourceVersion" not in json.loads(kv.value)["metadata"]


# -- lists -----------------------------------------------------------------------------


async def test_get_list_returns_the_objects_under_a_prefix_in_key_order(storage: Storage, prefix: str) -> None:
    for name in ["b", "a", "c"]:
        await storage.create(f"{prefix}ns/{name}", pod(name))
    await storage.create(prefix + "nsx/z", pod("z"))

    listed = await storage.get_list(prefix + "ns")

    assert [o["metadata"]["name"] for o in listed.items] == ["a", "b", "c"]
    assert int(listed.resource_version) == await storage.current_revision()
    assert listed.continue_token == ""
    assert await storage.count(prefix + "ns") == 3


async def test_get_list_filters_with_a_predicate(storage: Storage, prefix: str) -> None:
    for i in range(6):
        await storage.create(f"{prefix}p{i}", pod(f"p{i}", app="web" if i % 2 else "db"))

    web = await storage.get_list(prefix, predicate=lambda o: o["metadata"]["labels"]["app"] == "web")

    assert [o["metadata"]["name"] for o in web.items] == ["p1", "p3", "p5"]


async def test_pages_are_read_at_the_first_pages_revision(storage: Storage, prefix: str) -> None:
    for i in range(5):
        await storage.create(f"{prefix}p{i}", pod(f"p{i}"))

    first = await storage.get_list(prefix, limit=2)
    await storage.create(prefix + "p1a", pod("p1a"))
    await storage.delete(prefix + "p3")
    second = await storage.get_list(prefix, limit=2, continue_token=first.continue_token)
    third = await storage.get_list(prefix, limit=2, continue_token=second.continue_token)

    assert [o["metadata"]["name"] for o in first.items + second.items + third.items] == [f"p{i}" for i in range(5)]
    assert first.resource_version == second.resource_version == third.resource_version
    assert (first.remaining_item_count, second.remaining_item_count) == (3, 1)
    assert third.continue_token == ""
    assert third.remaining_item_count is None
    token = json.loads(base64.urlsafe_b64decode(first.continue_token + "=="))
    assert token == {"v": "meta.k8s.io/v1", "rv": int(first.resource_version), "start": "p1\u0000"}


async def test_a_page_with_a_predicate_is_filled_and_has_no_remaining_count(storage: Storage, prefix: str) -> None:
    for i in range(20):
        await storage.create(f"{prefix}p{i:02}", pod(f"p{i:02}", app="web" if i % 5 == 0 else "db"))
    web = lambda o: o["metadata"]["labels"]["app"] == "web"  # noqa: E731

    first = await storage.get_list(prefix, predicate=web, limit=2)
    rest = await storage.get_list(prefix, predicate=web, limit=2, continue_token=first.continue_token)

    assert [o["metadata"]["name"] for o in first.items] == ["p00", "p05"]
    assert first.remaining_item_count is None and first.continue_token
    assert [o["metadata"]["name"] for o in rest.items] == ["p10", "p15"]


async def test_list_resource_version_semantics(storage: Storage, prefix: str) -> None:
    old = await storage.create(prefix + "a", pod("a", v="1"))
    await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {"v": 2}})
    then = str(rv(old))

    exact = await storage.get_list(prefix, resource_version=then, resource_version_match="Exact")
    not_older = await storage.get_list(prefix, resource_version=then, resource_version_match="NotOlderThan")
    legacy_paged = await storage.get_list(prefix, resource_version=then, limit=10)
    legacy = await storage.get_list(prefix, resource_version=then)
    any_state = await storage.get_list(prefix, resource_version="0")

    assert exact.resource_version == then and "spec" not in exact.items[0]
    assert legacy_paged.resource_version == then
    assert not_older.items[0]["spec"] == {"v": 2}
    assert legacy.items[0]["spec"] == {"v": 2}
    assert any_state.items[0]["spec"] == {"v": 2}
    with pytest.raises(FutureRevision):
        await storage.get_list(prefix, resource_version=str(rv(old) + 1000), resource_version_match="NotOlderThan")
    with pytest.raises(InvalidArgument, match="unknown ResourceVersionMatch value: Newest"):
        await storage.get_list(prefix, resource_version=then, resource_version_match="Newest")


async def test_bad_continue_tokens_are_invalid_arguments(storage: Storage, prefix: str) -> None:
    for i in range(3):
        await storage.create(f"{prefix}p{i}", pod(f"p{i}"))
    page = await storage.get_list(prefix, limit=1)

    def token(**fields: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()

    for bad, message in [
        ("!!!", "continue key is not valid"),
        (token(v="meta.k8s.io/v2", rv=5, start="a"), "server does not recognize this encoded version"),
        (token(v="meta.k8s.io/v1", rv=0, start="a"), "incorrect encoded start resourceVersion"),
        (token(v="meta.k8s.io/v1", rv=5, start=""), "encoded start key empty"),
        (token(v="meta.k8s.io/v1", rv=5, start="../secrets/x"), "continue key is not valid"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            await storage.get_list(prefix, limit=1, continue_token=bad)
    with pytest.raises(InvalidArgument, match="specifying resource version is not allowed when using continue"):
        await storage.get_list(prefix, limit=1, continue_token=page.continue_token, resource_version="5")


async def test_a_compacted_list_or_continue_is_too_old(storage: Storage, prefix: str) -> None:
    for i in range(4):
        await storage.create(f"{prefix}p{i}", pod(f"p{i}"))
    first = await storage.get_list(prefix, limit=2)
    await storage.guaranteed_update(prefix + "p3", lambda o: {**o, "spec": {"changed": True}})
    await storage.compact(await storage.current_revision())

    with pytest.raises(Compacted, match="The resourceVersion for the provided list is too old."):
        await storage.get_list(prefix, resource_version=first.resource_version, resource_version_match="Exact")
    with pytest.raises(Compacted, match="continue parameter is too old") as expired:
        await storage.get_list(prefix, limit=2, continue_token=first.continue_token)

    rest = await storage.get_list(prefix, limit=2, continue_token=expired.value.continue_token)
    assert [o["metadata"]["name"] for o in rest.items] == ["p2", "p3"]
    assert rest.items[1]["spec"] == {"changed": True}
    assert int(rest.resource_version) == await storage.current_revision()


# -- guaranteed_update -----------------------------------------------------------------


async def test_guaranteed_update_writes_what_try_update_returns(storage: Storage, prefix: str) -> None:
    created = await storage.create(prefix + "a", pod("a"))
    seen: list[dict[str, Any]] = []

    async def relabel(current: dict[str, Any]) -> dict[str, Any]:
        seen.append(json.loads(json.dumps(current)))
        current["metadata"]["labels"] = {"tier": "gold"}
        return current

    updated = await storage.guaranteed_update(prefix + "a", relabel)

    assert seen[0] == created
    assert rv(updated) > rv(created)
    assert await storage.get(prefix + "a") == updated
    assert updated["metadata"]["labels"] == {"tier": "gold"}


async def test_concurrent_updaters_lose_no_increment(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "counter", {"metadata": {"name": "counter"}, "count": 0})

    def increment(current: dict[str, Any]) -> dict[str, Any]:
        current["count"] += 1
        return current

    async def updater() -> None:
        for _ in range(20):
            await storage.guaranteed_update(prefix + "counter", increment)
            await asyncio.sleep(0)

    await asyncio.gather(*(updater() for _ in range(10)))

    assert (await storage.get(prefix + "counter"))["count"] == 200


async def test_guaranteed_update_retries_on_a_concurrent_change(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", {"metadata": {"name": "a"}, "count": 0})
    calls: list[int] = []

    async def racing(current: dict[str, Any]) -> dict[str, Any]:
        calls.append(current["count"])
        if len(calls) == 1:  # someone else writes between our read and our write
            await storage.guaranteed_update(prefix + "a", lambda o: {**o, "count": 10})
        return {**current, "count": current["count"] + 1}

    result = await storage.guaranteed_update(prefix + "a", racing)

    assert calls == [0, 10]
    assert result["count"] == 11


async def test_guaranteed_update_writes_nothing_when_nothing_changed(storage: Storage, prefix: str) -> None:
    created = await storage.create(prefix + "a", pod("a"))
    before = await storage.current_revision()

    same = await storage.guaranteed_update(prefix + "a", lambda current: current)

    assert same == created
    assert await storage.current_revision() == before


async def test_guaranteed_update_preconditions(storage: Storage, prefix: str) -> None:
    created = await storage.create(prefix + "a", pod("a"))
    ok = await storage.guaranteed_update(
        prefix + "a",
        lambda o: {**o, "spec": {}},
        preconditions=Preconditions(uid="uid-a", resource_version=created["metadata"]["resourceVersion"]),
    )
    assert ok["spec"] == {}

    with pytest.raises(ResourceVersionConflict, match="Precondition failed: UID in precondition: other"):
        await storage.guaranteed_update(prefix + "a", lambda o: o, preconditions=Preconditions(uid="other"))
    stale = created["metadata"]["resourceVersion"]
    with pytest.raises(ResourceVersionConflict, match=f"ResourceVersion in precondition: {stale}, "):
        await storage.guaranteed_update(
            prefix + "a", lambda o: {**o, "x": 1}, preconditions=Preconditions(resource_version=stale)
        )
    assert await storage.get(prefix + "a") == ok


async def test_guaranteed_update_of_a_missing_key(storage: Storage, prefix: str) -> None:
    with pytest.raises(KeyNotFound):
        await storage.guaranteed_update(prefix + "a", lambda o: o)

    made = await storage.guaranteed_update(
        prefix + "a", lambda current: {**current, **pod("a")}, ignore_not_found=True
    )

    assert made["metadata"]["name"] == "a"
    assert await storage.get(prefix + "a") == made


async def test_an_error_in_try_update_propagates_and_writes_nothing(storage: Storage, prefix: str) -> None:
    created = await storage.create(prefix + "a", pod("a"))

    def refuse(current: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("spec.replicas: must be non-negative")

    with pytest.raises(ValueError, match="must be non-negative"):
        await storage.guaranteed_update(prefix + "a", refuse)
    assert await storage.get(prefix + "a") == created


# -- delete ----------------------------------------------------------------------------


async def test_delete_returns_the_last_state_at_the_deletion_revision(storage: Storage, prefix: str) -> None:
    created = await storage.create(prefix + "a", pod("a"))

    deleted = await storage.delete(prefix + "a")

    assert rv(deleted) == await storage.current_revision() > rv(created)
    assert {**deleted, "metadata": {**deleted["metadata"], "resourceVersion": "x"}} == {
        **created,
        "metadata": {**created["metadata"], "resourceVersion": "x"},
    }
    with pytest.raises(KeyNotFound):
        await storage.get(prefix + "a")
    with pytest.raises(KeyNotFound):
        await storage.delete(prefix + "a")


async def test_delete_checks_preconditions_and_validation(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))

    with pytest.raises(ResourceVersionConflict):
        await storage.delete(prefix + "a", preconditions=Preconditions(uid="someone-else"))

    def protected(current: dict[str, Any]) -> None:
        raise PermissionError("object is protected")

    with pytest.raises(PermissionError):
        await storage.delete(prefix + "a", validate_deletion=protected)
    assert await storage.get(prefix + "a")


async def test_delete_retries_when_the_object_changes_underneath(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))
    seen: list[str] = []

    async def validate(current: dict[str, Any]) -> None:
        seen.append(current["metadata"].get("labels", {}).get("step", ""))
        if len(seen) == 1:
            await storage.guaranteed_update(prefix + "a", lambda o: {**o, "metadata": {**o["metadata"], "labels": {"step": "2"}}})

    deleted = await storage.delete(prefix + "a", validate_deletion=validate)

    assert seen == ["", "2"]
    assert deleted["metadata"]["labels"] == {"step": "2"}


# -- watch -----------------------------------------------------------------------------


async def test_a_watch_from_now_starts_with_the_current_state(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))
    await storage.create(prefix + "b", pod("b"))

    async with contextlib.aclosing(storage.watch(prefix, recursive=True)) as events:
        initial = await take(events, 2)
        changed = await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {"x": 1}})
        deleted = await storage.delete(prefix + "b")
        live = await take(events, 2)

    assert [(e.type, e.object["metadata"]["name"]) for e in initial] == [("ADDED", "a"), ("ADDED", "b")]
    assert live == [WatchEvent("MODIFIED", changed), WatchEvent("DELETED", deleted)]


async def test_a_watch_from_a_resource_version_replays_every_later_change(storage: Storage, prefix: str) -> None:
    start = await storage.create(prefix + "a", pod("a"))
    await storage.create(prefix + "b", pod("b"))
    await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {"x": 1}})
    await storage.delete(prefix + "b")
    await storage.create(prefix + "b", pod("b"))

    async with contextlib.aclosing(
        storage.watch(prefix, recursive=True, resource_version=start["metadata"]["resourceVersion"])
    ) as events:
        replayed = await take(events, 4)

    first = rv(start)
    assert summary(replayed) == [
        ("ADDED", "b", first + 1),
        ("MODIFIED", "a", first + 2),
        ("DELETED", "b", first + 3),
        ("ADDED", "b", first + 4),
    ]


async def test_a_watch_of_one_key_ignores_its_neighbours(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))

    async with contextlib.aclosing(storage.watch(prefix + "a", resource_version="0")) as events:
        (added,) = await take(events, 1)
        await storage.create(prefix + "ab", pod("ab"))
        await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {}})
        (modified,) = await take(events, 1)

    assert (added.type, modified.type) == ("ADDED", "MODIFIED")
    assert modified.object["metadata"]["name"] == "a"


async def test_a_watch_from_a_compacted_resource_version_is_too_old(storage: Storage, prefix: str) -> None:
    async with contextlib.aclosing(storage.watch(prefix, recursive=True, send_initial_events=True)) as running:
        await take(running, 1)  # a watch open all along: a watch cache would have every change since
        old = await storage.create(prefix + "a", pod("a"))
        await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {}})
        await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {"x": 1}})
        await take(running, 3)
        await storage.compact(await storage.current_revision())

        events = storage.watch(prefix, recursive=True, resource_version=old["metadata"]["resourceVersion"])
        with pytest.raises(Compacted, match=f"too old resource version: {rv(old)} "):
            await take(events, 1)
        await events.aclose()


async def test_the_periodic_compactor_makes_old_resource_versions_too_old(storage: Storage, prefix: str) -> None:
    async with contextlib.aclosing(storage.watch(prefix, recursive=True, send_initial_events=True)) as running:
        (start,) = await take(running, 1)
        old = await storage.create(prefix + "a", pod("a"))
        await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {}})
        await take(running, 2)
        storage.start_compactor(interval=0.05)
        try:
            async with asyncio.timeout(10):
                while True:  # the second turn compacts at the revision the first one saw
                    try:
                        await storage.get_list(prefix, resource_version=str(rv(old)), resource_version_match="Exact")
                    except Compacted:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await storage.stop_compactor()

        # The watch from before the create needs the create, which was compacted away.
        events = storage.watch(prefix, recursive=True, resource_version=str(rv(start.object)))
        with pytest.raises(Compacted, match="too old resource version"):
            await take(events, 1)
        await events.aclose()


async def test_a_predicate_turns_matching_changes_into_added_and_deleted(storage: Storage, prefix: str) -> None:
    def label(value: str) -> Any:
        return lambda o: {**o, "metadata": {**o["metadata"], "labels": {"app": value}}}

    created = await storage.create(prefix + "a", pod("a", app="db"))
    web = lambda o: o["metadata"].get("labels", {}).get("app") == "web"  # noqa: E731
    since = created["metadata"]["resourceVersion"]

    async with contextlib.aclosing(
        storage.watch(prefix, recursive=True, predicate=web, resource_version=since)
    ) as events:
        enters = await storage.guaranteed_update(prefix + "a", label("web"))
        stays = await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {"v": 2}})
        leaves = await storage.guaranteed_update(prefix + "a", label("db"))
        await storage.guaranteed_update(prefix + "a", lambda o: {**o, "spec": {"v": 3}})
        await storage.create(prefix + "b", pod("b", app="web"))
        seen = await take(events, 4)

    assert [e.type for e in seen] == ["ADDED", "MODIFIED", "DELETED", "ADDED"]
    assert seen[0].object == enters
    assert seen[1].object == stays
    # Leaving the selection is a deletion for this watcher: the last matching state, at the new revision.
    assert seen[2].object["metadata"]["labels"] == {"app": "web"}
    assert rv(seen[2].object) == rv(leaves)
    assert seen[3].object["metadata"]["name"] == "b"


async def test_bookmarks_report_progress_of_a_quiet_watch(storage: Storage, prefix: str) -> None:
    created = await storage.create(prefix + "a", pod("a"))

    async with contextlib.aclosing(
        storage.watch(
            prefix,
            recursive=True,
            resource_version=created["metadata"]["resourceVersion"],
            allow_bookmarks=True,
            bookmark_interval=0.1,
        )
    ) as events:
        (first,) = await take(events, 1)
        other = await storage.create(prefix.rstrip("/") + "-elsewhere/x", pod("x"))
        async with asyncio.timeout(10):
            # The write elsewhere is no event here, but later bookmarks move past it.
            later = await anext(events)
            while rv(later.object) < rv(other):
                later = await anext(events)

    assert first.type == "BOOKMARK"
    assert first.object == {"metadata": {"resourceVersion": first.object["metadata"]["resourceVersion"]}}
    assert rv(first.object) >= rv(created)
    assert later.type == "BOOKMARK"


async def test_send_initial_events_ends_the_burst_with_a_bookmark(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))
    await storage.create(prefix + "b", pod("b"))

    async with contextlib.aclosing(
        storage.watch(prefix, recursive=True, allow_bookmarks=True, send_initial_events=True)
    ) as events:
        burst = await take(events, 3)
        later = await storage.create(prefix + "c", pod("c"))
        (added,) = await take(events, 1)

    assert [e.type for e in burst] == ["ADDED", "ADDED", "BOOKMARK"]
    end = burst[2].object["metadata"]
    assert end["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(end["resourceVersion"]) >= max(rv(e.object) for e in burst[:2])
    assert added == WatchEvent("ADDED", later)


async def test_send_initial_events_false_sends_only_changes(storage: Storage, prefix: str) -> None:
    await storage.create(prefix + "a", pod("a"))

    async with contextlib.aclosing(storage.watch(prefix, recursive=True, send_initial_events=False)) as events:
        first_event = asyncio.create_task(anext(events))
        created = []
        async with asyncio.timeout(10):
            while not first_event.done():  # the watch starts at some point once iteration starts
                created.append(await storage.create(f"{prefix}b{len(created)}", pod("b")))
                await asyncio.sleep(0.05)
        first = await first_event

    assert first.type == "ADDED"
    assert first.object in created


async def test_concurrent_writers_and_storage_watchers_agree(storage: Storage, prefix: str) -> None:
    for i in range(3):
        await storage.create(f"{prefix}c{i}", {"metadata": {"name": f"c{i}"}, "count": 0})
    start = str(await storage.current_revision())

    def increment(current: dict[str, Any]) -> dict[str, Any]:
        return {**current, "count": current["count"] + 1}

    async def writer(i: int) -> None:
        for _ in range(15):
            await storage.guaranteed_update(f"{prefix}c{i % 3}", increment)

    async def watcher(delay: float) -> list[tuple[str, str, int]]:
        await asyncio.sleep(delay)
        async with contextlib.aclosing(storage.watch(prefix, recursive=True, resource_version=start)) as events:
            return summary(await take(events, 60))

    results = await asyncio.gather(watcher(0), watcher(0.02), *(writer(i) for i in range(4)))

    assert results[0] == results[1]
    revisions = [r for _, _, r in results[0]]
    assert revisions == sorted(set(revisions))
    assert all(kind == "MODIFIED" for kind, _, _ in results[0])


# -- compaction ------------------------------------------------------------------------


async def test_the_compactor_compacts_at_the_revision_of_its_previous_turn(storage: Storage, prefix: str) -> None:
    compactor = Compactor(storage.kv, interval=300)
    first_turn = await compactor.compact_once()
    seen = await storage.current_revision()
    created = await storage.create(prefix + "a", pod("a"))

    compacted = await compactor.compact_once()

    assert first_turn == 0
    assert compacted == seen
    assert await storage.get(prefix + "a") == created
    with pytest.raises(Compacted):
        await storage.get_list(prefix, resource_version=str(seen - 1), resource_version_match="Exact")


async def test_two_compactors_sharing_a_store_take_turns(storage: Storage) -> None:
    one, two = Compactor(storage.kv), Compactor(storage.kv)
    rounds = []
    for _ in range(6):
        rounds.append((await one.compact_once(), await two.compact_once()))

    compacted = [revision for pair in rounds for revision in pair if revision]
    assert compacted, rounds
    assert compacted == sorted(set(compacted))
    assert not any(a and b for a, b in rounds), rounds
