"""Server-side apply: what ``kubectl apply --server-side`` shows a user, and field ownership."""

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.api.apply import ApplyConflict, ApplyError, apply, update_managed_fields
from kubelab.api.fieldpath import field_set, fields_v1, path_string

KW = {"api_version": "apps/v1", "model_name": "V1Deployment"}


def deployment(replicas=2, image="nginx:1.25", labels=None, containers=None, **spec):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"} if labels is None else labels},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers or [
                    {"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
            },
            **spec,
        },
    }


def entries(obj):
    return {(m["manager"], m["operation"]): m for m in obj["metadata"]["managedFields"]}


def test_first_apply_creates_and_records_the_fields_it_set():
    obj = apply(None, deployment(), manager="kubectl", now="2024-01-01T00:00:00Z", **KW)
    assert obj["spec"]["replicas"] == 2
    [entry] = obj["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} == {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": "2024-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
    }
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"web"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                }}},
            },
        },
    }


def test_applying_the_same_config_again_changes_nothing():
    first = apply(None, deployment(), manager="kubectl", now="2024-01-01T00:00:00Z", **KW)
    again = apply(first, deployment(), manager="kubectl", now="2024-01-02T00:00:00Z", **KW)
    assert again == first


def test_a_changed_field_is_applied_and_the_entry_restamped():
    first = apply(None, deployment(), manager="kubectl", now="2024-01-01T00:00:00Z", **KW)
    changed = apply(first, deployment(replicas=3, image="nginx:1.26"), manager="kubectl",
                    now="2024-01-02T00:00:00Z", **KW)
    assert changed["spec"]["replicas"] == 3
    assert changed["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert entries(changed)["kubectl", "Apply"]["time"] == "2024-01-02T00:00:00Z"


def minimal(**spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec}


def test_changing_another_managers_field_is_a_conflict():
    live = apply(None, deployment(), manager="kubectl", **KW)
    with pytest.raises(ApplyConflict) as e:
        apply(live, minimal(replicas=5), manager="hpa", **KW)
    assert e.value.message == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert e.value.causes() == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".spec.replicas"}]


def test_same_value_is_shared_not_a_conflict():
    live = apply(None, deployment(), manager="kubectl", **KW)
    shared = apply(live, minimal(replicas=2), manager="hpa", now="2024-01-01T00:00:00Z", **KW)
    assert entries(shared)["hpa", "Apply"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" in entries(shared)["kubectl", "Apply"]["fieldsV1"]["f:spec"]


def test_force_takes_the_field_over():
    live = apply(None, deployment(), manager="kubectl", **KW)
    taken = apply(live, minimal(replicas=5), manager="hpa", force=True, **KW)
    assert taken["spec"]["replicas"] == 5
    assert "f:replicas" not in entries(taken)["kubectl", "Apply"]["fieldsV1"]["f:spec"]
    # The former owner now conflicts in turn.
    with pytest.raises(ApplyConflict, match='conflict with "hpa": .spec.replicas'):
        apply(taken, deployment(replicas=2), manager="kubectl", **KW)


def test_conflict_with_client_side_apply_names_its_version():
    created = update_managed_fields(None, deployment(), manager="kubectl-client-side-apply", **KW)
    with pytest.raises(ApplyConflict) as e:
        apply(created, deployment(replicas=3), manager="kubectl", **KW)
    assert e.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas')


def test_many_conflicts_are_listed_by_manager():
    live = apply(None, deployment(), manager="kubectl", **KW)
    live = update_managed_fields(live, {**live, "metadata": {**live["metadata"], "labels": {"app": "web", "x": "1"}}},
                                 manager="kubectl-label", **KW)
    config = deployment(replicas=4, image="nginx:2", labels={"app": "web", "x": "2"})
    with pytest.raises(ApplyConflict) as e:
        apply(live, config, manager="ci", **KW)
    assert e.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "kubectl"\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image\n'
        'conflicts with "kubectl-label" using apps/v1\n- .metadata.labels.x'
    )


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them():
    two = deployment(containers=[{"name": "web", "image": "a"}, {"name": "side", "image": "b"}],
                     labels={"app": "web", "tier": "fe"}, minReadySeconds=5)
    live = apply(None, two, manager="kubectl", **KW)
    live = apply(live, minimal(minReadySeconds=5), manager="other", **KW)
    one = deployment(containers=[{"name": "web", "image": "a"}])
    after = apply(live, one, manager="kubectl", **KW)
    assert [c["name"] for c in after["spec"]["template"]["spec"]["containers"]] == ["web"]
    assert after["metadata"]["labels"] == {"app": "web"}
    assert after["spec"]["minReadySeconds"] == 5  # "other" still owns it


def test_lists_merge_by_key_and_keep_items_others_added():
    live = apply(None, deployment(), manager="kubectl", **KW)
    sidecar = minimal(template={"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}})
    live = apply(live, sidecar, manager="mesh", **KW)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["web", "proxy"]
    again = apply(live, deployment(image="nginx:2"), manager="kubectl", **KW)
    assert [(c["name"], c["image"]) for c in again["spec"]["template"]["spec"]["containers"]] == [
        ("web", "nginx:2"), ("proxy", "envoy")]


def test_bad_configurations():
    with pytest.raises(ApplyError, match="^metadata.managedFields must be nil$"):
        apply(None, {**deployment(), "metadata": {"name": "web", "managedFields": [{"manager": "x"}]}},
              manager="kubectl", **KW)
    no_name = deployment(containers=[{"image": "x"}])
    with pytest.raises(ApplyError) as e:
        apply(None, no_name, manager="kubectl", **KW)
    assert e.value.message == (
        '.spec.template.spec.containers: element 0: associative list with keys has an element that omits key '
        'field "name" (and doesn\'t have default value)')
    twice = deployment(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}])
    with pytest.raises(ApplyError, match='duplicate entries for key k:{"name":"a"}'):
        apply(None, twice, manager="kubectl", **KW)


def test_updates_take_ownership_of_what_they_change():
    live = apply(None, deployment(), manager="kubectl", now="2024-01-01T00:00:00Z", **KW)
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 7
    edited["metadata"]["annotations"] = {"note": "hi"}
    after = update_managed_fields(live, edited, manager="kubectl-edit", now="2024-01-02T00:00:00Z", **KW)
    edit = entries(after)["kubectl-edit", "Update"]
    assert edit["time"] == "2024-01-02T00:00:00Z"
    assert edit["fieldsV1"] == {"f:metadata": {"f:annotations": {".": {}, "f:note": {}}}, "f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries(after)["kubectl", "Apply"]["fieldsV1"]["f:spec"]
    # An update that changes nothing records nothing.
    assert update_managed_fields(after, copy.deepcopy(after), manager="kubectl-edit", now="2025-01-01T00:00:00Z",
                                 **KW) == after


def test_updates_drop_removed_fields_from_every_owner():
    live = apply(None, deployment(labels={"app": "web", "tier": "fe"}), manager="kubectl", **KW)
    trimmed = copy.deepcopy(live)
    del trimmed["metadata"]["labels"]["tier"]
    after = update_managed_fields(live, trimmed, manager="kubectl-label", **KW)
    assert entries(after)["kubectl", "Apply"]["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert ("kubectl-label", "Update") not in entries(after)


def test_reset_fields_and_metadata_are_never_owned():
    obj = deployment()
    obj["status"] = {"replicas": 2}
    obj["metadata"].update(uid="u", resourceVersion="5", generation=1, creationTimestamp="2024-01-01T00:00:00Z")
    after = update_managed_fields(None, obj, manager="kubectl-create", reset_fields=("status",), **KW)
    fields = entries(after)["kubectl-create", "Update"]["fieldsV1"]
    assert "f:status" not in fields
    assert set(fields["f:metadata"]) == {"f:labels"}
    status = update_managed_fields(obj, {**obj, "status": {"replicas": 3}}, manager="kube-controller-manager",
                                   subresource="status", reset_fields=("metadata", "spec"), **KW)
    entry = status["metadata"]["managedFields"][0]
    assert (entry["subresource"], entry["fieldsV1"]) == ("status", {"f:status": {"f:replicas": {}}})


def test_clients_that_drop_managed_fields_do_not_erase_them():
    live = apply(None, deployment(), manager="kubectl", **KW)
    body = copy.deepcopy(live)
    del body["metadata"]["managedFields"]
    body["spec"]["replicas"] = 9
    after = update_managed_fields(live, body, manager="python", **KW)
    assert set(entries(after)) == {("kubectl", "Apply"), ("python", "Update")}


def test_paths_print_as_upstream():
    fields = {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:targetPort": {}}},
                         "f:finalizers": {'v:"a/b"': {}}}}
    printed = sorted(path_string(p) for p in field_set(fields))
    assert printed == ['.spec.finalizers[="a/b"]', '.spec.ports[port=80,protocol="TCP"]',
                       '.spec.ports[port=80,protocol="TCP"].targetPort']


element = st.one_of(
    st.builds(lambda n: ("f", n), st.sampled_from(["spec", "a", "b.c", "x/y:z"])),
    st.builds(lambda v: ("k", (("name", f'"{v}"'),)), st.sampled_from(["web", "side"])),
    st.builds(lambda v: ("v", f'"{v}"'), st.sampled_from(["a/x", "b"])),
)


@given(st.sets(st.lists(element, min_size=1, max_size=4).map(tuple), max_size=8))
def test_fields_v1_round_trips(paths):
    assert field_set(fields_v1(paths)) == paths


containers = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["web", "side", "db"]), "image": st.sampled_from(["a", "b"])}),
    min_size=1, max_size=3, unique_by=lambda c: c["name"],
)
labels = st.dictionaries(st.sampled_from(["app", "tier", "env"]), st.sampled_from(["x", "y"]), max_size=3)


@given(st.integers(0, 5), labels, containers)
def test_apply_is_idempotent_and_sets_what_it_applies(replicas, labels, containers):
    config = deployment(replicas=replicas, labels=labels, containers=containers)
    once = apply(None, config, manager="kubectl", now="2024-01-01T00:00:00Z", **KW)
    assert apply(once, config, manager="kubectl", now="2024-02-01T00:00:00Z", **KW) == once
    assert once["spec"]["replicas"] == replicas
    assert once["metadata"]["labels"] == labels
    assert once["spec"]["template"]["spec"]["containers"] == containers


@given(st.integers(0, 5), labels, containers, st.integers(0, 5), labels, containers)
def test_one_manager_reapplying_ends_with_exactly_its_config(r1, l1, c1, r2, l2, c2):
    first = apply(None, deployment(r1, labels=l1, containers=c1), manager="kubectl", **KW)
    second = apply(first, deployment(r2, labels=l2, containers=c2), manager="kubectl", **KW)
    fresh = apply(None, deployment(r2, labels=l2, containers=c2), manager="kubectl", **KW)
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "managedFields"}}  # noqa: E731
    assert strip(second) == strip(fresh)
    assert field_set(second["metadata"]["managedFields"][0]["fieldsV1"]) == field_set(
        fresh["metadata"]["managedFields"][0]["fieldsV1"])


def test_unreadable_managed_fields_in_a_request_fall_back_to_the_live_ones():
    live = apply(None, deployment(), manager="kubectl", **KW)
    body = copy.deepcopy(live)
    body["metadata"]["managedFields"] = [{"manager": "x", "operation": "Update", "fieldsV1": {"q:nope": {}}}]
    body["spec"]["replicas"] = 4
    after = update_managed_fields(live, body, manager="python", **KW)
    assert set(entries(after)) == {("kubectl", "Apply"), ("python", "Update")}
