import pytest

from kubelab.api.typed import TypedValueError, compare, merge, remove, root_shape, to_field_set

POD = root_shape("V1Pod")


def pod(*names, finalizers=()):
    return {"metadata": {"name": "p", "finalizers": list(finalizers)},
            "spec": {"containers": [{"name": n, "image": "x"} for n in names]}}


def names(obj):
    return [c["name"] for c in obj["spec"]["containers"]]


def test_keyed_lists_merge_keeping_live_only_items_in_place():
    assert names(merge(pod("a", "b", "c"), pod("c", "a"), POD)) == ["b", "c", "a"]
    assert names(merge(pod("a", "b"), pod("b", "d"), POD)) == ["a", "b", "d"]
    merged = merge(pod("a"), {"spec": {"containers": [{"name": "a", "image": "y", "args": ["1"]}]}}, POD)
    assert merged["spec"]["containers"] == [{"name": "a", "image": "y", "args": ["1"]}]


def test_sets_union_and_atomic_lists_replace():
    merged = merge(pod(finalizers=["a/x", "b/y"]), pod(finalizers=["c/z", "a/x"]), POD)
    assert merged["metadata"]["finalizers"] == ["c/z", "a/x", "b/y"]
    live = {"spec": {"tolerations": [{"key": "a"}], "containers": []}}
    assert merge(live, {"spec": {"tolerations": [{"key": "b"}]}}, POD)["spec"]["tolerations"] == [{"key": "b"}]


def test_field_sets_name_leaves_items_and_atomics():
    fields: set = set()
    to_field_set({"metadata": {"labels": {}, "finalizers": ["a/x"]},
                  "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}},
                 POD, (), fields)
    assert fields == {
        (("f", "metadata"), ("f", "labels")),
        (("f", "metadata"), ("f", "finalizers"), ("v", '"a/x"')),
        (("f", "spec"), ("f", "nodeSelector")),
        (("f", "spec"), ("f", "containers"), ("k", (("name", '"a"'),))),
        (("f", "spec"), ("f", "containers"), ("k", (("name", '"a"'),)), ("f", "name")),
        (("f", "spec"), ("f", "containers"), ("k", (("name", '"a"'),)), ("f", "ports"),
         ("k", (("containerPort", "80"), ("protocol", '"TCP"')))),
        (("f", "spec"), ("f", "containers"), ("k", (("name", '"a"'),)), ("f", "ports"),
         ("k", (("containerPort", "80"), ("protocol", '"TCP"'))), ("f", "containerPort")),
    }
    with pytest.raises(TypedValueError, match="omits key field"):
        to_field_set({"spec": {"containers": [{"image": "x"}]}}, POD, (), set())


def test_compare_finds_added_changed_and_removed_fields():
    added: set = set()
    modified: set = set()
    removed: set = set()
    old = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    new = {"metadata": {"labels": {"a": "9"}, "annotations": {"n": "v"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    compare(old, new, POD, (), added, modified, removed, old_present=True)
    assert added == {(("f", "metadata"), ("f", "annotations")), (("f", "metadata"), ("f", "annotations"), ("f", "n"))}
    assert modified == {(("f", "metadata"), ("f", "labels"), ("f", "a"))}
    assert removed == {(("f", "metadata"), ("f", "labels"), ("f", "b"))}


def test_remove_takes_out_one_field_or_item():
    obj = pod("a", "b", finalizers=["a/x"])
    out = remove(obj, (("f", "spec"), ("f", "containers"), ("k", (("name", '"a"'),))), POD)
    assert names(out) == ["b"] and names(obj) == ["a", "b"]
    out = remove(out, (("f", "metadata"), ("f", "finalizers"), ("v", '"a/x"')), POD)
    assert out["metadata"]["finalizers"] == []
