"""Lists (selectors, pages, Tables) and watches (replay, 410, bookmarks, concurrency) with the official client."""

from __future__ import annotations

import json
import threading
import time

import kubernetes.client
import pytest
from kubernetes import watch
from kubernetes.client.rest import ApiException

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def _cm(name: str, labels: dict[str, str] | None = None) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": {"k": name}}


@pytest.fixture
def labelled(core, namespace):
    specs = {
        "a": {"env": "prod", "tier": "web"},
        "b": {"env": "dev", "tier": "web"},
        "c": {"env": "qa"},
        "d": {},
    }
    for name, labels in specs.items():
        core.create_namespaced_config_map(namespace, _cm(name, labels))
    return namespace


def _names(core, namespace, **kw):
    return [c.metadata.name for c in core.list_namespaced_config_map(namespace, **kw).items]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("env=prod", ["a"]),
        ("env==dev", ["b"]),
        ("env!=prod", ["b", "c", "d"]),
        ("env in (prod,qa)", ["a", "c"]),
        ("env notin (prod,qa)", ["b", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("tier=web,env=dev", ["b"]),
    ],
)
def test_label_selectors(core, labelled, selector, expected):
    assert _names(core, labelled, label_selector=selector) == expected


def test_bad_label_selector_is_400(raw, labelled):
    reply = raw("GET", f"/api/v1/namespaces/{labelled}/configmaps?labelSelector=env%20in%20prod")
    assert reply.status == 400
    assert reply.json()["reason"] == "BadRequest"


def test_field_selectors(core, labelled):
    assert _names(core, labelled, field_selector="metadata.name=c") == ["c"]
    assert _names(core, labelled, field_selector="metadata.name!=c") == ["a", "b", "d"]
    assert _names(core, labelled, field_selector=f"metadata.namespace={labelled}") == ["a", "b", "c", "d"]


def test_unsupported_field_selector_is_400(raw, labelled):
    reply = raw("GET", f"/api/v1/namespaces/{labelled}/configmaps?fieldSelector=spec.nodeName%3Dx")
    assert reply.status == 400
    assert reply.json()["message"] == "field label not supported: spec.nodeName"


def test_list_across_namespaces(core, namespace):
    other = namespace + "-b"
    core.create_namespace({"metadata": {"name": other}})
    for ns in (other, namespace):
        core.create_namespaced_config_map(ns, _cm("x", {"run": namespace}))
    items = core.list_config_map_for_all_namespaces(label_selector=f"run={namespace}").items
    assert sorted((c.metadata.namespace, c.metadata.name) for c in items) == [(namespace, "x"), (other, "x")]


def test_limit_and_continue_walk_every_page(core, namespace):
    for i in range(7):
        core.create_namespaced_config_map(namespace, _cm(f"p{i}"))
    first = core.list_namespaced_config_map(namespace, limit=3)
    assert [c.metadata.name for c in first.items] == ["p0", "p1", "p2"]
    assert first.metadata.remaining_item_count == 4
    core.create_namespaced_config_map(namespace, _cm("p9"))  # after the first page: not in this list
    names = [c.metadata.name for c in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert names == [f"p{i}" for i in range(7)]


def test_bad_continue_token_is_400(raw, namespace):
    reply = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1&continue=garbage")
    assert reply.status == 400


def test_list_as_table(raw, labelled):
    reply = raw("GET", f"/api/v1/namespaces/{labelled}/configmaps?labelSelector=tier", headers={"Accept": TABLE})
    assert reply.headers["Content-Type"] == "application/json"
    table = reply.json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert table["columnDefinitions"][0]["name"] == "Name"
    assert table["metadata"]["resourceVersion"]
    assert [row["cells"][0] for row in table["rows"]] == ["a", "b"]
    obj = table["rows"][0]["object"]
    assert obj["kind"] == "PartialObjectMetadata" and obj["apiVersion"] == "meta.k8s.io/v1"
    assert obj["metadata"]["labels"] == {"env": "prod", "tier": "web"}
    assert "data" not in obj


@pytest.mark.parametrize(("include", "kind"), [("Object", "ConfigMap"), ("None", None)])
def test_table_include_object(raw, labelled, include, kind):
    table = raw(
        "GET", f"/api/v1/namespaces/{labelled}/configmaps?includeObject={include}", headers={"Accept": TABLE}
    ).json()
    row = table["rows"][0]
    assert (row.get("object") or {}).get("kind") == kind


def test_get_as_table_and_partial_metadata(raw, labelled):
    table = raw("GET", f"/api/v1/namespaces/{labelled}/configmaps/a", headers={"Accept": TABLE}).json()
    assert [row["cells"][0] for row in table["rows"]] == ["a"]
    partial = raw(
        "GET", f"/api/v1/namespaces/{labelled}/configmaps/a",
        headers={"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"},
    ).json()
    assert partial["kind"] == "PartialObjectMetadata" and partial["metadata"]["name"] == "a"
    listed = raw(
        "GET", f"/api/v1/namespaces/{labelled}/configmaps",
        headers={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"},
    ).json()
    assert listed["kind"] == "PartialObjectMetadataList" and len(listed["items"]) == 4


def test_yaml_output(raw, labelled):
    reply = raw("GET", f"/api/v1/namespaces/{labelled}/configmaps/a", headers={"Accept": "application/yaml"})
    assert reply.headers["Content-Type"] == "application/yaml"
    assert b"name: a\n" in reply.body


# -- watch -----------------------------------------------------------------------------


def _stream(core, namespace, rv, count, timeout=20, **kw):
    """The first ``count`` events of a watch from ``rv``, as (type, name, data value, resourceVersion)."""
    w = watch.Watch()
    out = []
    for event in w.stream(
        core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=timeout, **kw
    ):
        obj = event["object"]
        out.append((event["type"], obj.metadata.name, (obj.data or {}).get("k"), int(obj.metadata.resource_version)))
        if len(out) == count:
            w.stop()
    return out


def test_watch_replays_every_change_after_the_list_resource_version(core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("w1"))
    core.create_namespaced_config_map(namespace, _cm("w2"))
    core.patch_namespaced_config_map("w1", namespace, {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("w2", namespace)
    events = _stream(core, namespace, rv, 4)
    assert [(t, n, v) for t, n, v, _ in events] == [
        ("ADDED", "w1", "w1"), ("ADDED", "w2", "w2"), ("MODIFIED", "w1", "changed"), ("DELETED", "w2", "w2"),
    ]
    revisions = [r for *_, r in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == 4


def test_watch_without_resource_version_starts_with_the_current_state(core, namespace):
    core.create_namespaced_config_map(namespace, _cm("s1"))
    events = _stream(core, namespace, None, 1)
    assert events[0][:2] == ("ADDED", "s1")


def test_watch_with_selectors_sees_objects_enter_and_leave(core, namespace):
    core.create_namespaced_config_map(namespace, _cm("sel", {"app": "x"}))
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"app": "y"}}})
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"app": "x"}}})
    events = _stream(core, namespace, rv, 2, label_selector="app=x")
    assert [t for t, *_ in events] == ["DELETED", "ADDED"]


def test_watch_from_a_compacted_resource_version_is_an_error_event_410(server, raw, core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("old"))
    core.create_namespaced_config_map(namespace, _cm("older"))
    compacted = server.compact()
    reply = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=5")
    assert reply.status == 200
    lines = reply.body.decode().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    assert event["object"] == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {rv} ({compacted})", "reason": "Expired", "code": 410,
    }
    with pytest.raises(ApiException) as info:
        _stream(core, namespace, rv, 1)
    assert info.value.status == 410


def test_list_at_a_compacted_exact_resource_version_is_410(server, raw, core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("x"))
    core.create_namespaced_config_map(namespace, _cm("y"))
    server.compact()
    reply = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps?resourceVersion={rv}&resourceVersionMatch=Exact")
    assert reply.status == 410
    assert reply.json()["message"] == "The resourceVersion for the provided list is too old."


def test_watch_ends_after_timeout_seconds(raw, namespace):
    started = time.monotonic()
    reply = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=true&timeoutSeconds=1")
    assert reply.status == 200 and reply.body == b""
    assert 0.9 < time.monotonic() - started < 5


def test_send_initial_events_ends_with_an_annotated_bookmark(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("i1"))
    core.create_namespaced_config_map(namespace, _cm("i2"))
    reply = raw(
        "GET",
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    )
    events = [json.loads(line) for line in reply.body.decode().splitlines()]
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "i1"), ("ADDED", "i2"), ("BOOKMARK", None),
    ]
    bookmark = events[2]["object"]
    assert bookmark["kind"] == "ConfigMap" and bookmark["apiVersion"] == "v1"
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_send_initial_events_needs_not_older_than(raw, namespace):
    reply = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=true&sendInitialEvents=true")
    assert reply.status == 422


def test_watch_as_table_sends_headers_once(raw, core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("t1"))
    core.create_namespaced_config_map(namespace, _cm("t2"))
    reply = raw(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1",
        headers={"Accept": TABLE},
    )
    events = [json.loads(line) for line in reply.body.decode().splitlines()]
    assert [e["object"]["kind"] for e in events] == ["Table", "Table"]
    assert events[0]["object"]["columnDefinitions"] and not events[1]["object"]["columnDefinitions"]
    assert [e["object"]["rows"][0]["cells"][0] for e in events] == ["t1", "t2"]


def test_concurrent_writers_and_watchers_lose_and_repeat_nothing(api, core, namespace):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    writers, per_writer, watchers = 4, 15, 3
    expected_events = writers * per_writer * 3  # create, update, delete
    seen: list[list[tuple[str, str, int]]] = [[] for _ in range(watchers)]
    errors: list[BaseException] = []

    def watcher(i: int) -> None:
        client = kubernetes.client.CoreV1Api(api)
        w = watch.Watch()
        try:
            for event in w.stream(client.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=60):
                seen[i].append((event["type"], event["object"].metadata.name, int(event["object"].metadata.resource_version)))
                if len(seen[i]) >= expected_events:
                    w.stop()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def writer(i: int) -> None:
        client = kubernetes.client.CoreV1Api(api)
        try:
            for j in range(per_writer):
                name = f"cw{i}-{j}"
                client.create_namespaced_config_map(namespace, _cm(name))
                client.patch_namespaced_config_map(name, namespace, {"data": {"k": "2"}})
                client.delete_namespaced_config_map(name, namespace)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=watcher, args=(i,)) for i in range(watchers)]
    threads += [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors
    for events in seen:
        assert len(events) == expected_events
        revisions = [r for *_, r in events]
        assert revisions == sorted(set(revisions)), "events out of order or repeated"
        assert events == seen[0]
    per_name: dict[str, list[str]] = {}
    for kind, name, _ in seen[0]:
        per_name.setdefault(name, []).append(kind)
    assert len(per_name) == writers * per_writer
    assert all(kinds == ["ADDED", "MODIFIED", "DELETED"] for kinds in per_name.values())
