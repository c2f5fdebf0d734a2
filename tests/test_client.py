"""kubelab.client against a scripted HTTP server: paths, queries, bodies, errors, watch streams."""

from __future__ import annotations

import threading
import time

import pytest

from http_fake import FakeServer, Reply, Request
from kubelab import errors
from kubelab.api.selectors import FieldSelector, LabelSelector
from kubelab.client import Client


@pytest.fixture
def server():
    fake = FakeServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def client(server):
    with Client(server.api_client(), timeout=5) as c:
        yield c


def status(code, reason, message, **details):
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message, "details": details}


def test_get_sends_the_token_and_returns_a_plain_dict(server, client):
    server.handler = lambda r: Reply(body={"kind": "Deployment", "metadata": {"name": "web"}})
    d = client.resource("apps/v1", "deployments").get("web", "shop")
    assert d == {"kind": "Deployment", "metadata": {"name": "web"}}
    (request,) = server.requests
    assert request.path == "/apis/apps/v1/namespaces/shop/deployments/web"
    assert request.headers["authorization"] == "Bearer secret-token"


@pytest.mark.parametrize("name", ["deployments", "Deployment", "deployment", "deploy"])
def test_a_resource_is_found_by_plural_kind_singular_or_short_name(client, name):
    assert client.resource("apps/v1", name).path("ns", "x") == "/apis/apps/v1/namespaces/ns/deployments/x"


def test_core_and_cluster_scoped_paths(client):
    assert client.resource("v1", "pods").path("default", "web", "binding") == \
        "/api/v1/namespaces/default/pods/web/binding"
    assert client.resource("v1", "Node").path("ignored", "n1") == "/api/v1/nodes/n1"
    assert client.resource("v1", "pods").path() == "/api/v1/pods"


def test_namespace_defaults_to_the_objects_own_then_default(server, client):
    server.handler = lambda r: Reply(201, r.body)
    pods = client.resource("v1", "pods")
    pods.create({"metadata": {"name": "a", "namespace": "team"}})
    pods.create({"metadata": {"name": "b"}})
    assert [r.path for r in server.requests] == ["/api/v1/namespaces/team/pods", "/api/v1/namespaces/default/pods"]


def test_custom_resources_are_found_through_discovery(server, client):
    def handler(r: Request) -> Reply:
        if r.path == "/apis/example.com/v1":
            return Reply(body={"kind": "APIResourceList", "resources": [
                {"name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget"},
                {"name": "widgets/status", "namespaced": True, "kind": "Widget"},
            ]})
        return Reply(body={"kind": "WidgetList", "items": [], "metadata": {"resourceVersion": "5"}})

    server.handler = handler
    widgets = client.resource("example.com/v1", "Widget")
    assert widgets.path("ns") == "/apis/example.com/v1/namespaces/ns/widgets"
    client.resource("example.com/v1", "widgets")
    assert [r.path for r in server.requests].count("/apis/example.com/v1") == 1
    with pytest.raises(errors.NotFound, match='resource type "gadgets"'):
        client.resource("example.com/v1", "gadgets")


def test_list_sends_selectors_and_joins_pages(server, client):
    def handler(r: Request) -> Reply:
        if "continue" not in r.query:
            return Reply(body={"items": [{"n": 1}], "metadata": {"continue": "tok", "resourceVersion": "7"}})
        return Reply(body={"items": [{"n": 2}], "metadata": {"resourceVersion": "7"}})

    server.handler = handler
    result = client.resource("v1", "pods").list(
        "default", label_selector={"app": "web", "tier": "front"}, field_selector="spec.nodeName=", limit=1
    )
    assert result["items"] == [{"n": 1}, {"n": 2}]
    assert result["metadata"]["resourceVersion"] == "7"
    first, second = server.requests
    assert first.query == {"labelSelector": "app=web,tier=front", "fieldSelector": "spec.nodeName=", "limit": "1"}
    assert second.query["continue"] == "tok"


def test_patch_types_set_the_content_type(server, client):
    server.handler = lambda r: Reply(body={})
    deployments = client.resource("apps/v1", "deployments")
    deployments.patch("web", {"spec": {"replicas": 3}}, subresource="scale")
    deployments.patch("web", {"spec": {}}, type="strategic")
    deployments.patch("web", [{"op": "replace", "path": "/spec/replicas", "value": 1}], type="json")
    deployments.patch("web", {"apiVersion": "apps/v1"}, type="apply", field_manager="me", force=True)
    types = [r.headers["content-type"] for r in server.requests]
    assert types == ["application/merge-patch+json", "application/strategic-merge-patch+json",
                     "application/json-patch+json", "application/apply-patch+yaml"]
    assert server.requests[0].path.endswith("/deployments/web/scale")
    assert server.requests[3].query == {"fieldManager": "me", "force": "true"}


def test_bad_patch_arguments_are_refused_before_sending(server, client):
    deployments = client.resource("apps/v1", "deployments")
    with pytest.raises(ValueError, match="field_manager"):
        deployments.patch("web", {}, type="apply")
    with pytest.raises(ValueError, match="list of operations"):
        deployments.patch("web", {"op": "replace"}, type="json")
    with pytest.raises(ValueError, match="unknown patch type"):
        deployments.patch("web", {}, type="yaml")  # type: ignore[arg-type]
    assert server.requests == []


def test_delete_sends_delete_options(server, client):
    server.handler = lambda r: Reply(body={"kind": "Status", "status": "Success"})
    client.resource("apps/v1", "replicasets").delete(
        "web-1", "default", propagation_policy="Foreground", grace_period_seconds=0,
        preconditions={"uid": "u-1"},
    )
    assert server.requests[0].method == "DELETE"
    assert server.requests[0].body == {
        "apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0, "preconditions": {"uid": "u-1"},
    }
    with pytest.raises(ValueError, match="propagation policy"):
        client.resource("v1", "pods").delete("x", propagation_policy="Cascade")  # type: ignore[arg-type]


def test_update_status_puts_to_the_status_subresource(server, client):
    server.handler = lambda r: Reply(body=r.body)
    rs = {"metadata": {"name": "web-1", "namespace": "shop", "resourceVersion": "3"}, "status": {"replicas": 2}}
    assert client.resource("apps/v1", "replicasets").update_status(rs) == rs
    assert (server.requests[0].method, server.requests[0].path) == (
        "PUT", "/apis/apps/v1/namespaces/shop/replicasets/web-1/status")


def test_binding_is_posted_to_the_pods_subresource(server, client):
    server.handler = lambda r: Reply(201, {"kind": "Status", "status": "Success"})
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web", "namespace": "default"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    client.resource("v1", "pods").create(binding, subresource="binding")
    assert server.requests[0].path == "/api/v1/namespaces/default/pods/web/binding"
    assert server.requests[0].body == binding


@pytest.mark.parametrize(
    "reply, error",
    [
        (Reply(404, status(404, "NotFound", 'pods "x" not found')), errors.NotFound),
        (Reply(409, status(409, "AlreadyExists", 'pods "x" already exists')), errors.AlreadyExists),
        (Reply(409, status(409, "Conflict", "Operation cannot be fulfilled")), errors.Conflict),
        (Reply(410, status(410, "Expired", "too old resource version: 1 (9)")), errors.Expired),
        (Reply(403, status(403, "Forbidden", "no")), errors.Forbidden),
        (Reply(500, status(500, "InternalError", "boom")), errors.ServerError),
        (Reply(503, b"upstream down", content_type="text/plain"), errors.ServerError),
        (Reply(504, status(504, "Timeout", "too slow")), errors.Timeout),
        (Reply(401, b"Unauthorized", content_type="text/plain"), errors.Unauthorized),
    ],
)
def test_failures_raise_the_error_named_by_the_status(server, client, reply, error):
    server.handler = lambda r: reply
    with pytest.raises(error) as caught:
        client.resource("v1", "pods").get("x")
    assert caught.value.code == reply.status
    if isinstance(reply.body, dict):
        assert str(caught.value) == reply.body["message"]
    else:
        assert str(caught.value) == reply.body.decode()


def test_invalid_carries_its_causes(server, client):
    cause = {"reason": "FieldValueInvalid", "message": "Invalid value: -1", "field": "spec.replicas"}
    server.handler = lambda r: Reply(422, status(422, "Invalid", 'Deployment.apps "web" is invalid', causes=[cause]))
    with pytest.raises(errors.Invalid) as caught:
        client.resource("apps/v1", "deployments").update({"metadata": {"name": "web"}})
    assert caught.value.causes == [cause]


def test_an_unreachable_server_raises_connection_failed():
    fake = FakeServer().start()
    api = fake.api_client()
    fake.stop()
    api.configuration.retries = 0
    with pytest.raises(errors.ConnectionFailed, match="cannot reach the API server"):
        Client(api, timeout=2).resource("v1", "pods").get("x")


def test_watch_yields_events_and_tracks_the_resource_version(server, client):
    events = [
        {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "11"}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
        {"type": "DELETED", "object": {"metadata": {"name": "a", "resourceVersion": "13"}}},
    ]
    server.handler = lambda r: Reply(stream=events)
    watch = client.resource("v1", "pods").watch("default", resource_version="10", timeout_seconds=30)
    assert [(t, o["metadata"]["resourceVersion"]) for t, o in watch] == [
        ("ADDED", "11"), ("BOOKMARK", "12"), ("DELETED", "13")]
    assert watch.resource_version == "13"
    assert server.requests[0].query == {
        "watch": "true", "resourceVersion": "10", "allowWatchBookmarks": "true", "timeoutSeconds": "30"}


def test_a_watch_error_event_raises_expired(server, client):
    server.handler = lambda r: Reply(stream=[
        {"type": "ERROR", "object": status(410, "Expired", "too old resource version: 1 (9)")}])
    watch = client.resource("v1", "pods").watch(resource_version="1")
    with pytest.raises(errors.Expired, match="too old resource version"):
        list(watch)


def test_a_watch_refused_up_front_raises_at_once(server, client):
    server.handler = lambda r: Reply(410, status(410, "Gone", "gone"))
    with pytest.raises(errors.Gone):
        client.resource("v1", "pods").watch(resource_version="1")


def test_stop_ends_a_watch_blocked_in_another_thread(server, client):
    hold = threading.Event()
    server.handler = lambda r: Reply(stream=[{"type": "ADDED", "object": {"metadata": {"name": "a"}}}], hold=hold)
    watch = client.resource("v1", "pods").watch()
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(watch))
    reader.start()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    watch.stop()
    reader.join(5)
    hold.set()
    assert not reader.is_alive()
    assert time.monotonic() - started < 1
    assert [t for t, _ in seen] == ["ADDED"]


def test_a_watch_stopped_before_reading_yields_nothing(server, client):
    server.handler = lambda r: Reply(stream=[{"type": "ADDED", "object": {}}])
    watch = client.resource("v1", "pods").watch()
    watch.stop()
    assert list(watch) == []


def test_selectors_may_be_label_selector_objects_or_dicts(server, client):
    server.handler = lambda r: Reply(body={"items": [], "metadata": {}})
    pods = client.resource("v1", "pods")
    pods.list(label_selector={"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]})
    pods.list(label_selector=LabelSelector.parse("x!=y"), field_selector=FieldSelector.parse("spec.nodeName=n1"))
    assert server.requests[0].query == {"labelSelector": "app=web,tier in (a,b)"}
    assert server.requests[1].query == {"labelSelector": "x!=y", "fieldSelector": "spec.nodeName=n1"}
