"""Objects handed out by the cache cannot be changed in place; deep_copy gives a mutable one."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.client import dumps
from kubelab.runtime import ReadOnlyDict, ReadOnlyList, deep_copy, read_only

POD = {"metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}


def view():
    return read_only(copy.deepcopy(POD))


def test_a_view_reads_like_the_dict():
    pod = view()
    assert pod["metadata"]["name"] == "web"
    assert pod.get("status") is None
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 80
    assert "spec" in pod and list(pod) == ["metadata", "spec"] and len(pod) == 2
    assert pod == POD and pod["spec"]["containers"] == POD["spec"]["containers"]
    assert {"image": "nginx"}.items() <= dict(pod["spec"]["containers"][0]).items()


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.__setitem__("kind", "Pod"),
        lambda p: p["metadata"].__setitem__("name", "other"),
        lambda p: p["metadata"]["labels"].update(tier="x"),
        lambda p: p["metadata"]["labels"].pop("app"),
        lambda p: p["metadata"].setdefault("annotations", {}),
        lambda p: p["spec"]["containers"].append({}),
        lambda p: p["spec"]["containers"][0].__setitem__("image", "evil"),
        lambda p: p["spec"]["containers"][0]["ports"].__delitem__(0),
        lambda p: p["spec"]["containers"].sort(),
        lambda p: p.__delitem__("spec"),
        lambda p: p["spec"]["containers"][:1].append(1),
        lambda p: setattr(p, "_data", {}),
        lambda p: [c for c in p["spec"]["containers"]][0].clear(),
        lambda p: dict(p)["metadata"].__setitem__("name", "x"),
    ],
)
def test_every_way_of_changing_a_view_is_refused(change):
    pod = view()
    with pytest.raises(TypeError, match="read-only.*deep_copy"):
        change(pod)
    assert pod == POD


def test_deep_copy_gives_an_independent_mutable_dict():
    pod = view()
    mine = deep_copy(pod)
    assert type(mine) is dict and type(mine["spec"]["containers"]) is list
    mine["spec"]["containers"][0]["image"] = "nginx:2"
    assert pod["spec"]["containers"][0]["image"] == "nginx"
    assert copy.deepcopy(pod) == POD and type(copy.deepcopy(pod)) is dict


def test_views_serialize_as_json():
    pod = view()
    assert json.loads(dumps(pod)) == POD
    assert json.loads(dumps({"wrapped": pod["spec"]["containers"]})) == {"wrapped": POD["spec"]["containers"]}


def test_scalars_are_returned_as_they_are():
    assert read_only(3) == 3 and read_only("x") == "x" and read_only(None) is None
    assert isinstance(read_only([1]), ReadOnlyList) and isinstance(read_only({}), ReadOnlyDict)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_a_view_equals_and_round_trips_any_json_value(value):
    original = copy.deepcopy(value)
    v = read_only(value)
    assert v == original
    assert deep_copy(v) == original
    assert json.loads(dumps(v)) == original
