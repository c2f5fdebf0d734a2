"""Bad input: each gets the right code, reason and a message that says what is wrong; nothing is lost."""

from __future__ import annotations

import pytest

CM = "/api/v1/namespaces/{ns}/configmaps"
GOOD = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "data": {"a": "b"}}

CASES = [
    # (id, method, path, body, extra kwargs, code, reason, message fragment)
    ("malformed json", "POST", CM, b'{"metadata": {"name": ', {}, 400, "BadRequest", "json parse error"),
    ("json array", "POST", CM, b"[1, 2]", {}, 400, "BadRequest", "expected a JSON object"),
    ("empty body", "POST", CM, b"", {}, 400, "BadRequest", "the request body is empty"),
    ("wrong kind", "POST", CM, {**GOOD, "kind": "Secret"}, {}, 400, "BadRequest",
     'Secret in version "v1" cannot be handled as a ConfigMap'),
    ("wrong group", "POST", CM, {**GOOD, "apiVersion": "apps/v1"}, {}, 400, "BadRequest",
     "the API version in the data (apps/v1) does not match the expected API version (v1)"),
    ("invalid name", "POST", CM, {**GOOD, "metadata": {"name": "Not_Valid"}}, {}, 422, "Invalid",
     'ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"'),
    ("missing name", "POST", CM, {**GOOD, "metadata": {}}, {}, 422, "Invalid",
     "metadata.name: Required value: name or generateName is required"),
    ("bad label", "POST", CM, {**GOOD, "metadata": {"name": "l", "labels": {"bad key!": "v"}}}, {}, 422, "Invalid",
     "metadata.labels: Invalid value"),
    ("unknown resource", "GET", "/api/v1/namespaces/{ns}/gizmos", None, {}, 404, "NotFound",
     "the server could not find the requested resource"),
    ("unknown group", "GET", "/apis/nope.io/v1/things", None, {}, 404, "NotFound",
     "the server could not find the requested resource"),
    ("no token", "GET", CM, None, {"token": None}, 401, "Unauthorized", "Unauthorized"),
    ("wrong token", "GET", CM, None, {"token": "nope"}, 401, "Unauthorized", "Unauthorized"),
    ("unsupported media type", "POST", CM, b"a: b", {"content_type": "text/plain"}, 415, "UnsupportedMediaType",
     "the body of the request was in an unknown format - accepted media types include: application/json"),
    ("bad fieldValidation", "POST", CM + "?fieldValidation=Loud", GOOD, {}, 400, "BadRequest",
     "fieldValidation parameter unsupported: Loud"),
    ("strict unknown field", "POST", CM + "?fieldValidation=Strict", {**GOOD, "spec": {"x": 1}}, {}, 400, "BadRequest",
     'strict decoding error: unknown field "spec"'),
    ("mistyped field", "POST", CM, {**GOOD, "data": {"a": 1}}, {}, 400, "BadRequest",
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field'),
    ("bad limit", "GET", CM + "?limit=lots", None, {}, 400, "BadRequest", 'invalid value for "limit"'),
    ("bad resourceVersion", "GET", CM + "?resourceVersion=abc", None, {}, 400, "BadRequest", "invalid resource version"),
    ("delete every namespace", "DELETE", "/api/v1/namespaces", None, {}, 405, "MethodNotAllowed",
     "the server does not allow this method on the requested resource"),
    ("future resourceVersion", "GET", CM + "/ok?resourceVersion=999999999", None, {}, 504, "Timeout",
     "Too large resource version"),
]


@pytest.fixture
def ns(core, namespace):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "ok"}, "data": {"keep": "me"}})
    return namespace


@pytest.mark.parametrize(
    ("method", "path", "body", "kwargs", "code", "reason", "message"),
    [c[1:] for c in CASES], ids=[c[0] for c in CASES],
)
def test_bad_input(raw, core, ns, method, path, body, kwargs, code, reason, message):
    reply = raw(method, path.format(ns=ns), body, **kwargs)
    assert reply.status == code
    status = reply.json()
    assert (status["kind"], status["status"], status["reason"], status["code"]) == ("Status", "Failure", reason, code)
    assert message in status["message"]
    assert core.read_namespaced_config_map("ok", ns).data == {"keep": "me"}


def test_oversize_body_is_413_and_stores_nothing(raw, core, ns):
    big = {**GOOD, "metadata": {"name": "big"}, "data": {"a": "x" * (3 * 1024 * 1024 + 1)}}
    reply = raw("POST", CM.format(ns=ns), big)
    assert reply.status == 413
    assert reply.json()["message"] == "Request entity too large: limit is 3145728"
    assert raw("GET", CM.format(ns=ns) + "/big").status == 404


def test_stale_resource_version_is_409_and_keeps_the_stored_object(raw, core, ns):
    current = raw("GET", CM.format(ns=ns) + "/ok").json()
    stale = {**current, "metadata": {**current["metadata"], "resourceVersion": "1"}, "data": {"lost": "update"}}
    reply = raw("PUT", CM.format(ns=ns) + "/ok", stale)
    assert reply.status == 409 and reply.json()["reason"] == "Conflict"
    assert core.read_namespaced_config_map("ok", ns).data == {"keep": "me"}


def test_the_server_survives_bad_input(raw):
    for _ in range(3):
        raw("POST", "/api/v1/namespaces/default/configmaps", b"\x00\xff garbage")
    assert raw("GET", "/readyz").body == b"ok"
