"""Create, read, list, update and delete with the official client: the generic registry's promises."""

from __future__ import annotations

import json
import re

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException


def _cm(name: str, **extra: object) -> dict[str, object]:
    return {"metadata": {"name": name, **extra}, "data": {"k": "v"}}


def test_create_sets_server_fields(core, namespace):
    created = core.create_namespaced_config_map(namespace, _cm("a"))
    meta = created.metadata
    assert meta.namespace == namespace
    assert re.fullmatch(r"[0-9a-f-]{36}", meta.uid)
    assert int(meta.resource_version) > 0
    assert meta.creation_timestamp is not None
    got = core.read_namespaced_config_map("a", namespace)
    assert got.metadata.uid == meta.uid and got.data == {"k": "v"}


def test_create_overwrites_client_set_server_fields(raw, namespace):
    body = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "b", "uid": "mine", "creationTimestamp": None, "deletionTimestamp": "2020-01-01T00:00:00Z"},
        "data": {},
    }
    reply = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert reply.status == 201
    meta = reply.json()["metadata"]
    assert meta["uid"] != "mine" and meta["creationTimestamp"] and "deletionTimestamp" not in meta


def test_generate_name(core, namespace):
    created = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "web-"}})
    assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", created.metadata.name)
    assert created.metadata.generate_name == "web-"


def test_duplicate_create_is_409_already_exists_with_the_exact_body(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("dup"))
    reply = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", _cm("dup"))
    assert reply.status == 409
    assert reply.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "dup" already exists', "reason": "AlreadyExists",
        "details": {"name": "dup", "kind": "configmaps"}, "code": 409,
    }
    apps = kubernetes.client.AppsV1Api(core.api_client)
    deployment = {
        "metadata": {"name": "d", "labels": {"app": "d"}},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }
    apps.create_namespaced_deployment(namespace, deployment)
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment(namespace, deployment)
    assert json.loads(info.value.body)["message"] == 'deployments.apps "d" already exists'
    assert json.loads(info.value.body)["details"] == {"name": "d", "group": "apps", "kind": "deployments"}


def test_get_missing_is_404(raw, namespace):
    reply = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/nope")
    assert reply.status == 404
    assert reply.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "kind": "configmaps"}, "code": 404,
    }


def test_create_in_a_missing_namespace_is_404(raw):
    reply = raw("POST", "/api/v1/namespaces/no-such-ns/configmaps", _cm("x"))
    assert reply.status == 404
    assert reply.json()["message"] == 'namespaces "no-such-ns" not found'


def test_update_with_a_stale_resource_version_is_409_conflict(core, namespace):
    created = core.create_namespaced_config_map(namespace, _cm("u"))
    first = core.read_namespaced_config_map("u", namespace)
    first.data = {"k": "first"}
    updated = core.replace_namespaced_config_map("u", namespace, first)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    stale = core.read_namespaced_config_map("u", namespace)
    stale.metadata.resource_version = created.metadata.resource_version
    stale.data = {"k": "stale"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("u", namespace, stale)
    assert info.value.status == 409
    body = json.loads(info.value.body)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "u": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert core.read_namespaced_config_map("u", namespace).data == {"k": "first"}


def test_update_without_resource_version_is_unconditional(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("nv"))
    reply = raw("PUT", f"/api/v1/namespaces/{namespace}/configmaps/nv", {"metadata": {"name": "nv"}, "data": {"x": "y"}})
    assert reply.status == 200
    assert reply.json()["data"] == {"x": "y"}


def test_update_keeps_uid_and_creation_timestamp(raw, core, namespace):
    created = core.create_namespaced_config_map(namespace, _cm("keep")).to_dict()
    body = {"metadata": {"name": "keep", "uid": "other", "creationTimestamp": "2000-01-01T00:00:00Z"}, "data": {}}
    out = raw("PUT", f"/api/v1/namespaces/{namespace}/configmaps/keep", body).json()
    assert out["metadata"]["uid"] == created["metadata"]["uid"]
    assert out["metadata"]["creationTimestamp"] != "2000-01-01T00:00:00Z"


def test_update_of_a_missing_object_is_404(raw, namespace):
    reply = raw("PUT", f"/api/v1/namespaces/{namespace}/configmaps/missing", _cm("missing"))
    assert reply.status == 404


def test_name_in_body_must_match_the_url(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("n1"))
    reply = raw("PUT", f"/api/v1/namespaces/{namespace}/configmaps/n1", _cm("n2"))
    assert reply.status == 400
    assert reply.json()["message"] == "the name of the object (n2) does not match the name on the URL (n1)"


def test_namespace_in_body_must_match_the_url(raw, namespace):
    reply = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps", _cm("n3", namespace="other"))
    assert reply.status == 400
    assert reply.json()["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


def test_delete_answers_a_success_status(raw, core, namespace):
    created = core.create_namespaced_config_map(namespace, _cm("del"))
    reply = raw("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/del")
    assert reply.status == 200
    assert reply.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": "del", "kind": "configmaps", "uid": created.metadata.uid}, "code": 200,
    }
    assert raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/del").status == 404
    assert raw("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/del").status == 404


def test_delete_with_a_wrong_uid_precondition_is_409(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("pre"))
    reply = raw("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/pre", {"preconditions": {"uid": "x"}})
    assert reply.status == 409
    assert "the UID in the precondition (x) does not match the UID in record" in reply.json()["message"]
    assert raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/pre").status == 200


def test_finalizers_hold_the_object_until_they_are_removed(core, namespace):
    core.create_namespaced_config_map(namespace, _cm("fin", finalizers=["example.com/hold"]))
    core.delete_namespaced_config_map("fin", namespace)
    held = core.read_namespaced_config_map("fin", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.deletion_grace_period_seconds == 0
    core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("fin", namespace)
    assert info.value.status == 404


def test_no_finalizer_may_be_added_while_deleting(core, raw, namespace):
    core.create_namespaced_config_map(namespace, _cm("fin2", finalizers=["example.com/a"]))
    core.delete_namespaced_config_map("fin2", namespace)
    current = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/fin2").json()
    current["metadata"]["finalizers"].append("example.com/b")
    reply = raw("PUT", f"/api/v1/namespaces/{namespace}/configmaps/fin2", current)
    assert reply.status == 422
    assert "no new finalizers can be added if the object is being deleted" in reply.json()["message"]


@pytest.mark.parametrize(
    ("policy", "finalizer"), [("Orphan", "orphan"), ("Foreground", "foregroundDeletion")]
)
def test_propagation_policy_sets_the_garbage_collector_finalizer(raw, core, namespace, policy, finalizer):
    name = policy.lower()
    core.create_namespaced_config_map(namespace, _cm(name))
    reply = raw("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/{name}", {"propagationPolicy": policy})
    assert reply.status == 200
    held = raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}").json()
    assert held["metadata"]["finalizers"] == [finalizer]
    assert held["metadata"]["deletionTimestamp"]


def test_background_propagation_deletes_at_once(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("bg"))
    reply = raw("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/bg", {"propagationPolicy": "Background"})
    assert reply.status == 200 and reply.json()["status"] == "Success"
    assert raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/bg").status == 404


def test_bad_propagation_policy_is_422(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("pp"))
    reply = raw("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/pp", {"propagationPolicy": "Sometimes"})
    assert reply.status == 422
    assert reply.json()["details"]["causes"][0]["field"] == "propagationPolicy"


def test_delete_collection_with_a_label_selector(core, namespace):
    for i in range(4):
        core.create_namespaced_config_map(namespace, _cm(f"dc{i}", labels={"batch": "a" if i < 3 else "b"}))
    core.delete_collection_namespaced_config_map(namespace, label_selector="batch=a")
    left = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert left == ["dc3"]


def test_dry_run_create_stores_nothing(raw, namespace):
    reply = raw("POST", f"/api/v1/namespaces/{namespace}/configmaps?dryRun=All", _cm("dry"))
    assert reply.status == 201
    assert reply.json()["metadata"]["name"] == "dry"
    assert raw("GET", f"/api/v1/namespaces/{namespace}/configmaps/dry").status == 404


def test_cluster_scoped_objects_have_no_namespace(core):
    ns = core.create_namespace({"metadata": {"name": "scope-check", "namespace": "default"}})
    assert ns.metadata.namespace is None


def test_writes_record_managed_fields(raw, core, namespace):
    created = raw(
        "POST", f"/api/v1/namespaces/{namespace}/configmaps?fieldManager=maker", {"metadata": {"name": "mf"}, "data": {"a": "1"}}
    ).json()
    [entry] = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("maker", "Update", "v1")
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}


def test_server_side_apply_creates_merges_and_reports_conflicts(raw, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps/ssa"
    apply = "application/apply-patch+yaml"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1"}}
    first = raw("PATCH", path + "?fieldManager=one", body, content_type=apply)
    assert first.status == 201
    other = {**body, "data": {"a": "2"}}
    conflict = raw("PATCH", path + "?fieldManager=two", other, content_type=apply)
    assert conflict.status == 409
    status = conflict.json()
    assert status["reason"] == "Conflict"
    assert status["details"]["causes"][0]["field"] == ".data.a"
    assert raw("PATCH", path + "?fieldManager=two&force=true", other, content_type=apply).json()["data"] == {"a": "2"}
    missing_manager = raw("PATCH", path, body, content_type=apply)
    assert missing_manager.status == 422
    assert "fieldManager: Required value: is required for apply patch" in missing_manager.json()["message"]


def test_unsupported_patch_type_is_415(raw, core, namespace):
    core.create_namespaced_config_map(namespace, _cm("pt"))
    reply = raw("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/pt", {"data": {}}, content_type="text/plain")
    assert reply.status == 415
    assert reply.json()["reason"] == "UnsupportedMediaType"


def test_events_of_both_apis_are_the_same_stored_events(api, core, namespace):
    events_v1 = kubernetes.client.EventsV1Api(api)
    created = events_v1.create_namespaced_event(namespace, {
        "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
        "action": "Scheduling", "reason": "Tested", "type": "Normal", "note": "hello",
        "regarding": {"kind": "Pod", "name": "p", "namespace": namespace},
    })
    assert created.note == "hello"
    core_event = core.read_namespaced_event("e1", namespace)
    assert core_event.message == "hello"
    assert core_event.involved_object.name == "p"
    assert core_event.reporting_component == "example.com/ctl"
    listed = events_v1.list_namespaced_event(namespace).items
    assert [(e.metadata.name, e.note, e.regarding.kind) for e in listed] == [("e1", "hello", "Pod")]
