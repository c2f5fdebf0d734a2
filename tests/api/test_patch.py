"""Patches checked against upstream itself: ``kubectl patch --local`` runs the real apimachinery code."""

import copy
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelab.api.patch import (
    PatchError,
    create_merge_patch,
    drop_directives,
    json_patch,
    merge_patch,
    patch_meta,
    strategic_merge_patch,
)
from kubelab.api.schema import model_name_for_kind
from kubelab.cluster import kubectl_binary

RECORDED = json.loads((Path(__file__).parent / "data" / "kubectl_patches.json").read_text())


def model_of(obj):
    group, _, version = obj["apiVersion"].rpartition("/")
    return model_name_for_kind(group, version, obj["kind"])


def upstream(before, patch, patch_type):
    """What kubectl's own patch code makes of ``patch``: the result, or ("error", message)."""
    run = subprocess.run(
        [kubectl_binary(), "patch", "--local", "-f", "-", "--type", patch_type, "-p", json.dumps(patch), "-o", "json"],
        input=json.dumps(before), capture_output=True, text=True, timeout=60,
    )
    if run.returncode:
        message = run.stderr.strip().removeprefix("error: ")
        # kubectl (not the server) rewrites this one json-patch error; undo its rewording.
        hidden = message.removeprefix("Object to be patched is missing field (")
        if hidden != message:
            message = f"replace operation does not apply: doc is missing key: {hidden[:-1]}"
        return ("error", message)
    result = json.loads(run.stdout)
    # kubectl prints the raw merge; the server decodes it into typed structs first.
    return drop_directives(result, model_of(before)) if patch_type == "strategic" else result


def ours(before, patch, patch_type):
    try:
        if patch_type == "strategic":
            return strategic_merge_patch(before, patch, model_of(before))
        if patch_type == "merge":
            return merge_patch(before, patch)
        return json_patch(before, patch)
    except PatchError as e:
        return ("error", e.message.strip())  # kubectl prints messages without their trailing newline


def agree(before, patch, patch_type="strategic"):
    frozen = copy.deepcopy((before, patch))
    result = ours(before, patch, patch_type)
    assert result == upstream(before, patch, patch_type)
    assert (before, patch) == frozen, "a patch function changed its arguments"
    return result


TYPES = {"application/strategic-merge-patch+json": "strategic", "application/merge-patch+json": "merge"}


@pytest.mark.parametrize("record", RECORDED, ids=[r["command"] for r in RECORDED])
def test_patches_kubectl_sends_apply_as_upstream(record):
    agree(record["before"], record["patch"], TYPES[record["contentType"]])


def recorded(command):
    record = next(r for r in RECORDED if r["command"] == command)
    return ours(record["before"], record["patch"], TYPES[record["contentType"]])


def containers(obj):
    return obj["spec"]["template"]["spec"]["containers"] if "template" in obj["spec"] else obj["spec"]["containers"]


def test_what_users_see_after_each_command():
    applied = recorded("kubectl apply -f deployment-v2.yaml")
    assert applied["spec"]["strategy"] == {"type": "Recreate"}
    assert [c["name"] for c in containers(applied)] == ["web"]
    web = containers(applied)[0]
    assert web["image"] == "nginx:1.26"
    assert [e["name"] for e in web["env"]] == ["B", "C"]
    assert [p["containerPort"] for p in web["ports"]] == [80, 443]
    assert applied["metadata"]["labels"] == {"app": "web", "tier": "fe"}

    assert [c["image"] for c in containers(recorded("kubectl set image deployment/web web=nginx:1.27"))] == ["nginx:1.27"]
    restarted = recorded("kubectl rollout restart deployment/web")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted
    assert recorded("kubectl scale deployment web --replicas=5")["spec"]["replicas"] == 5

    back = recorded("kubectl apply -f deployment-v1.yaml")
    assert back["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    assert [c["name"] for c in containers(back)] == ["web", "side"]
    assert "tier" not in back["metadata"]["labels"]

    service = recorded("kubectl apply -f service-v2.yaml")["spec"]
    assert service["ports"] == [{"name": "https", "port": 443, "targetPort": 9443}]
    assert service["selector"] == {"app": "web", "tier": "fe"}

    pod = recorded("kubectl apply -f pod-v2.yaml")
    assert pod["metadata"]["finalizers"] == ["example.com/b", "example.com/c"]
    assert pod["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "cfg2"}},
                                      {"name": "data", "hostPath": {"path": "/tmp"}}]
    assert pod["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert recorded("kubectl apply -f configmap-v2.yaml")["data"] == {"k2": "v2b", "k3": "v3"}


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "finalizers": ["a/x", "b/y"]},
    "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}, {"containerPort": 81}],
                     "env": [{"name": "A", "value": "1"}]},
                    {"name": "side", "image": "busybox"},
                ],
                "tolerations": [{"key": "a", "operator": "Exists"}],
            },
        },
    },
}


def pod_spec(patch):
    return {"spec": {"template": {"spec": patch}}}


@pytest.mark.parametrize(
    "patch",
    [
        {"spec": {"replicas": 3}},
        {"metadata": {"labels": {"app": None, "new": "x"}}},
        {"metadata": {"finalizers": ["c/z", "a/x"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/x"], "finalizers": ["c/z"]}},
        {"metadata": {"$setElementOrder/finalizers": ["b/y", "c/z", "a/x"], "finalizers": ["c/z"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["zz/top"]}},
        pod_spec({"containers": [{"name": "side", "$patch": "delete"}, {"name": "new", "image": "x"}]}),
        pod_spec({"containers": [{"name": "new", "image": "x"}, {"name": "web", "image": "nginx:2"}]}),
        pod_spec({"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}]}),
        pod_spec({"$setElementOrder/containers": [{"name": "side"}, {"name": "new"}, {"name": "web"}],
                  "containers": [{"name": "new", "image": "x"}]}),
        pod_spec({"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}),
        pod_spec({"containers": [{"name": "web", "ports": [{"containerPort": 81, "protocol": "UDP"},
                                                           {"containerPort": 9090}]}]}),
        pod_spec({"containers": [{"name": "web", "env": [{"name": "A", "$patch": "delete"}, {"name": "B", "value": "2"}]}]}),
        pod_spec({"tolerations": [{"key": "b", "operator": "Exists"}]}),
        pod_spec({"tolerations": None, "nodeSelector": {"disk": "ssd"}}),
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        {"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}},
        {"spec": {"strategy": {"$patch": "delete"}}},
        {"spec": {"replicas": "three", "selector": None}},
        {"spec": {"template": {"spec": {"containers": {"name": "web"}}}}},
        {"metadata": {"finalizers": [{"a": 1}]}},
        pod_spec({"initContainers": [{"name": "init", "image": "busybox", "$patch": "delete"}, {"name": "i2", "image": "b"}]}),
        pod_spec({"volumes": [{"name": "v", "emptyDir": {}}]}),
        {"status": {"conditions": [{"type": "Available", "status": "True"}]}},
    ],
)
def test_strategic_merge_patch_agrees_with_upstream(patch):
    agree(DEPLOYMENT, patch)


@pytest.mark.parametrize(
    "patch",
    [
        pod_spec({"containers": [{"image": "x"}]}),
        pod_spec({"containers": [{"name": "web", "$patch": "merge"}]}),
        pod_spec({"containers": [{"name": "web", "$patch": "frob"}]}),
        {"spec": {"strategy": {"$patch": "frob"}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}},
        {"spec": {"strategy": {"$retainKeys": "type"}}},
        {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a/x"]}},
        {"metadata": {"$setElementOrderfinalizers": ["a/x"]}},
        pod_spec({"$setElementOrder/containers": [{"name": "web"}], "containers": [{"name": "side", "image": "y"}]}),
        pod_spec({"$setElementOrder/containers": [{"name": "web"}, {"nom": "side"}]}),
        {"metadata": {"finalizers": [["a"]]}},
        {"metadata": {"finalizers": ["a/x", 1]}},
    ],
)
def test_strategic_merge_patch_errors_read_as_upstream(patch):
    result = agree(DEPLOYMENT, patch)
    assert result[0] == "error"


def test_error_codes_tell_the_server_how_to_answer():
    with pytest.raises(PatchError) as e:
        strategic_merge_patch(DEPLOYMENT, {"spec": {"strategy": {"$retainKeys": "type"}}}, "V1Deployment")
    assert e.value.code == 400
    no_finalizers = {**DEPLOYMENT, "metadata": {**DEPLOYMENT["metadata"], "finalizers": []}}
    with pytest.raises(PatchError) as e:
        strategic_merge_patch(no_finalizers, {"metadata": {"finalizers": [["a"]]}}, "V1Deployment")
    assert (e.value.code, e.value.message) == (422, "lists of lists are not supported")
    with pytest.raises(PatchError) as e:
        strategic_merge_patch(DEPLOYMENT, pod_spec({"containers": [{"image": "x"}]}), "V1Deployment")
    assert e.value.code == 500
    with pytest.raises(PatchError) as e:
        strategic_merge_patch(DEPLOYMENT, ["not", "a", "map"], "V1Deployment")
    assert (e.value.code, e.value.message) == (
        400, "json: cannot unmarshal array into Go value of type map[string]interface {}")


def test_new_values_lose_directive_objects_and_nulls():
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    patch = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "$patch": "delete"}],
                      "affinity": {"$patch": "replace", "nodeAffinity": {}}, "hostname": None,
                      "dnsConfig": {"options": [{"name": "x", "value": None}]}}}
    out = agree(bare, patch)
    assert out["spec"] == {"containers": [{"name": "a", "image": "x"}], "dnsConfig": {"options": [{"name": "x"}]}}


def test_typed_decoding_drops_directive_keys_left_in_appended_elements():
    patch = pod_spec({"containers": [{"name": "extra", "env": [{"name": "A", "$patch": "delete"}]}]})
    out = agree(DEPLOYMENT, patch)
    assert out["spec"]["template"]["spec"]["containers"][0] == {"name": "extra", "env": [{"name": "A"}]}
    labelled = {**DEPLOYMENT, "metadata": {**DEPLOYMENT["metadata"], "labels": {"$odd": "kept"}}}
    assert drop_directives(labelled, "V1Deployment")["metadata"]["labels"] == {"$odd": "kept"}
    assert drop_directives({"spec": {"$x": 1}}, None) == {"spec": {"$x": 1}}


def test_set_element_order_sees_upstream_in_place_edits():
    # Upstream deletes and appends inside the live list's array; $setElementOrder then
    # orders by what that array holds, which puts "side" first here.
    patch = pod_spec({"$setElementOrder/containers": [{"name": "extra"}],
                      "containers": [{"name": "web", "$patch": "delete"}, {"name": "extra"}]})
    out = agree(DEPLOYMENT, patch)
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["side", "extra"]


def test_kinds_without_a_model_merge_maps_and_replace_lists():
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"items": [{"name": "a"}], "size": {"w": 1, "h": 2}}}
    out = strategic_merge_patch(widget, {"spec": {"items": [{"name": "b"}], "size": {"h": 3}}}, None)
    assert out["spec"] == {"items": [{"name": "b"}], "size": {"w": 1, "h": 3}}


def test_patch_meta_is_the_upstream_table():
    assert patch_meta("V1PodSpec", "containers").merge_key == "name"
    assert patch_meta("V1PodSpec", "volumes").strategies == ("merge", "retainKeys")
    assert patch_meta("V1Container", "ports").merge_key == "containerPort"
    assert patch_meta("V1ServiceSpec", "ports").merge_key == "port"
    assert patch_meta("V1ObjectMeta", "finalizers").strategy == "merge"
    assert patch_meta("V1PodSpec", "tolerations").strategy == ""


env_names = st.sampled_from(["A", "B", "C", "D"])
env_item = st.builds(lambda n, v: {"name": n, "value": v}, env_names, st.sampled_from(["1", "2"]))
env_delete = st.builds(lambda n: {"name": n, "$patch": "delete"}, env_names)
container_names = st.sampled_from(["web", "side", "extra"])


@st.composite
def container_patches(draw):
    name = draw(container_names)
    patch = {"name": name}
    if draw(st.booleans()):
        patch["image"] = draw(st.sampled_from(["nginx:2", "busybox:1"]))
    if draw(st.booleans()):
        patch["env"] = draw(st.lists(st.one_of(env_item, env_delete), max_size=3, unique_by=lambda e: e["name"]))
    if draw(st.booleans()):
        patch["ports"] = [{"containerPort": p} for p in draw(st.lists(st.sampled_from([80, 81, 82]), max_size=2, unique=True))]
    if draw(st.booleans()):
        patch = {"name": name, "$patch": "delete"}
    return patch


@st.composite
def deployment_patches(draw):
    spec: dict = {}
    if draw(st.booleans()):
        spec["containers"] = draw(st.lists(container_patches(), max_size=3, unique_by=lambda c: c["name"]))
        if draw(st.booleans()):
            # An order list the patch list follows, as kubectl makes them (other orders are errors).
            names = [c["name"] for c in spec["containers"] if "$patch" not in c]
            extra = [n for n in draw(st.lists(st.sampled_from(["web", "side"]), max_size=2, unique=True))
                     if n not in names]
            order = list(names)
            for name in extra:
                order.insert(draw(st.integers(0, len(order))), name)
            spec["$setElementOrder/containers"] = [{"name": n} for n in order]
    if draw(st.booleans()):
        spec["tolerations"] = draw(st.sampled_from([None, [], [{"key": "b", "operator": "Exists"}]]))
    patch: dict = {"spec": {"template": {"spec": spec}}}
    if draw(st.booleans()):
        patch["spec"]["strategy"] = draw(st.sampled_from([
            {"$retainKeys": ["type"], "type": "Recreate"},
            {"$retainKeys": ["rollingUpdate", "type"], "rollingUpdate": {"maxSurge": 2}},
            {"type": "Recreate", "rollingUpdate": None},
        ]))
    metadata: dict = {}
    if draw(st.booleans()):
        metadata["labels"] = draw(st.dictionaries(st.sampled_from(["app", "x"]), st.none() | st.just("v")))
    finalizers = st.lists(st.sampled_from(["a/x", "b/y", "c/z"]), max_size=3, unique=True)
    if draw(st.booleans()):
        metadata["finalizers"] = draw(finalizers)
    if draw(st.booleans()):
        # Never an item the same patch adds: upstream's result would then hang on Go's map order.
        metadata["$deleteFromPrimitiveList/finalizers"] = [
            f for f in draw(finalizers) if f not in metadata.get("finalizers", [])
        ]
    if draw(st.booleans()):
        order = draw(st.permutations(["a/x", "b/y", "c/z"]))
        metadata["$setElementOrder/finalizers"] = order
        if "finalizers" in metadata:
            metadata["finalizers"] = [f for f in order if f in metadata["finalizers"]]
    if metadata:
        patch["metadata"] = metadata
    return patch


@settings(max_examples=30, deadline=None)
@given(deployment_patches())
def test_random_patches_agree_with_upstream(patch):
    agree(DEPLOYMENT, patch)


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/spec/replicas", "value": 3}],
        [{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}, {"op": "remove", "path": "/metadata/labels/app"}],
        [{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "x", "image": "y"}}],
        [{"op": "add", "path": "/spec/template/spec/containers/0", "value": {"name": "x", "image": "y"}}],
        [{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/moved"}],
        [{"op": "copy", "from": "/metadata/labels", "path": "/spec/template/metadata/annotations"}],
        [{"op": "test", "path": "/spec/replicas", "value": 1}, {"op": "replace", "path": "/spec/replicas", "value": 2}],
        [{"op": "replace", "path": "/metadata/annotations", "value": {"a": "b"}}],
        [{"op": "remove", "path": "/metadata/labels/x"}],
        [{"op": "add", "path": "/nope/x", "value": 1}],
        [{"op": "replace", "path": "/nope/x", "value": 1}],
        [{"op": "test", "path": "/spec/replicas", "value": 2}],
        [{"op": "test", "path": "/spec/missing", "value": 2}],
        [{"op": "frob", "path": "/a"}],
        [{"path": "/a"}],
        [{"op": "add", "value": 1}],
        [{"op": "replace", "path": "/spec/template/spec/containers/5", "value": 1}],
        [{"op": "add", "path": "/spec/template/spec/containers/9", "value": 1}],
        [{"op": "remove", "path": "/spec/template/spec/containers/9"}],
        [{"op": "add", "path": "/spec/template/spec/containers/x", "value": 1}],
        [{"op": "move", "from": "/metadata/nope", "path": "/metadata/labels/moved"}],
        [{"op": "move", "from": "/nope/x", "path": "/metadata/labels/moved"}],
        [{"op": "copy", "from": "/metadata/labels", "path": "/nope/x"}],
    ],
)
def test_json_patch_agrees_with_upstream(ops):
    agree(DEPLOYMENT, ops, "json")


def test_json_patch_limits_and_shapes():
    with pytest.raises(PatchError) as e:
        json_patch(DEPLOYMENT, {"op": "add"})
    assert (e.value.code, e.value.message) == (400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    with pytest.raises(PatchError) as e:
        json_patch(DEPLOYMENT, ["add"])
    assert e.value.message == "json: cannot unmarshal string into Go value of type jsonpatch.Operation"
    too_many = [{"op": "test", "path": "/kind", "value": "Deployment"}] * 10001
    with pytest.raises(PatchError) as e:
        json_patch(DEPLOYMENT, too_many)
    assert (e.value.code, e.value.message) == (413, "The allowed maximum operations in a JSON patch is 10000, got 10001")
    with pytest.raises(PatchError) as e:
        json_patch(DEPLOYMENT, [{"op": "remove", "path": "/x"}])
    assert e.value.code == 422


@pytest.mark.parametrize(
    "patch",
    [
        {"spec": {"replicas": 2, "template": None}},
        {"metadata": {"labels": {"app": None, "b": "c"}}},
        {"spec": {"template": {"spec": {"containers": [{"name": "only"}]}}}},
    ],
)
def test_merge_patch_agrees_with_upstream(patch):
    agree(DEPLOYMENT, patch, "merge")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=10,
)


def no_nulls(value):
    if isinstance(value, dict):
        return {k: no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [no_nulls(v) for v in value]
    return value


@given(st.dictionaries(st.text(max_size=2), json_values, max_size=4),
       st.dictionaries(st.text(max_size=2), json_values, max_size=4))
def test_merge_patch_of_a_diff_gives_the_target(a, b):
    b = no_nulls(b)
    assert merge_patch(a, create_merge_patch(a, b)) == b


@given(st.dictionaries(st.text(max_size=2), json_values, max_size=4))
def test_merge_patch_rules(doc):
    assert merge_patch(doc, {}) == doc
    assert merge_patch(doc, "x") == "x"
    for key in doc:
        assert key not in merge_patch(doc, {key: None})
