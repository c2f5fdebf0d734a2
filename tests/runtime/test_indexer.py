"""The cache: keys, namespaces, label selectors and custom indexes."""

from __future__ import annotations

import pytest
from fakes import pod

from kubelab.runtime import Indexer, meta_namespace_key, split_meta_namespace_key


def names(objs):
    return sorted(o["metadata"]["name"] for o in objs)


def test_keys_are_namespace_slash_name_or_name():
    assert meta_namespace_key(pod("web", "shop")) == "shop/web"
    assert meta_namespace_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert split_meta_namespace_key("shop/web") == ("shop", "web")
    assert split_meta_namespace_key("node-1") == (None, "node-1")
    with pytest.raises(ValueError):
        split_meta_namespace_key("a/b/c")


def test_list_by_namespace_and_selector():
    cache = Indexer()
    for p in [pod("a", "x", app="web"), pod("b", "x", app="db"), pod("c", "y", app="web")]:
        cache.add(p)
    assert names(cache.list()) == ["a", "b", "c"]
    assert names(cache.list("x")) == ["a", "b"]
    assert names(cache.list(selector="app=web")) == ["a", "c"]
    assert names(cache.list("x", {"matchLabels": {"app": "web"}})) == ["a"]
    assert names(cache.list("x", {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]})) == ["b"]
    cache.delete("x/a")
    assert names(cache.list("x")) == ["b"]
    assert cache.index_keys("namespace", "y") == ["y/c"]


def test_an_index_added_later_covers_objects_already_cached():
    cache = Indexer()
    cache.add(pod("a", app="web"))
    cache.add_indexers({"app": lambda o: [o["metadata"]["labels"]["app"]]})
    assert names(cache.by_index("app", "web")) == ["a"]
    with pytest.raises(ValueError, match="already exists"):
        cache.add_indexers({"app": lambda o: []})
    with pytest.raises(KeyError, match="no index named 'nope'"):
        cache.by_index("nope", "x")


def test_replace_rebuilds_every_index():
    cache = Indexer()
    cache.add(pod("a", "x"))
    cache.replace([pod("b", "y")])
    assert cache.list_keys() == ["y/b"]
    assert cache.index_keys("namespace", "x") == []
