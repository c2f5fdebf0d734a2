"""The cache: assumed pods count at once; snapshots copy only what changed."""

from __future__ import annotations

import pytest
from scheduler_builders import node, pod

from kubelab.scheduler import Cache, PodInfo, Snapshot
from kubelab.scheduler.cache import CacheError

ZONE = "topology.kubernetes.io/zone"


def fresh() -> tuple[Cache, Snapshot]:
    cache = Cache()
    for name in ("n1", "n2"):
        cache.add_node(node(name, cpu="2"))
    snap = Snapshot()
    cache.update_snapshot(snap)
    return cache, snap


def test_an_assumed_pod_counts_on_its_node_before_it_is_bound() -> None:
    cache, snap = fresh()
    assumed = PodInfo(pod("a", cpu="1500m")).assumed_on("n1")
    cache.assume_pod(assumed)
    cache.update_snapshot(snap)
    assert snap.get("n1").requested.milli_cpu == 1500
    assert cache.is_assumed(assumed.uid)
    with pytest.raises(CacheError, match="can't be assumed"):
        cache.assume_pod(assumed)


def test_the_informers_bound_pod_confirms_the_assumed_one() -> None:
    cache, snap = fresh()
    p = pod("a", cpu="1")
    cache.assume_pod(PodInfo(p).assumed_on("n1"))
    bound = {**p, "spec": {**p["spec"], "nodeName": "n1"}}
    cache.add_pod(PodInfo(bound))
    cache.update_snapshot(snap)
    assert not cache.is_assumed(PodInfo(p).uid)
    assert snap.get("n1").requested.milli_cpu == 1000 and len(snap.get("n1").pods) == 1


def test_forgetting_a_failed_binding_frees_the_node() -> None:
    cache, snap = fresh()
    assumed = PodInfo(pod("a", cpu="1")).assumed_on("n2")
    cache.assume_pod(assumed)
    cache.forget_pod(assumed)
    cache.update_snapshot(snap)
    assert snap.get("n2").requested.milli_cpu == 0 and not cache.is_assumed(assumed.uid)


def test_a_pod_moved_to_another_node_by_its_binding_is_moved_in_the_cache() -> None:
    cache, snap = fresh()
    p = pod("a", cpu="1")
    cache.assume_pod(PodInfo(p).assumed_on("n1"))
    cache.add_pod(PodInfo({**p, "spec": {**p["spec"], "nodeName": "n2"}}))
    cache.update_snapshot(snap)
    assert (snap.get("n1").requested.milli_cpu, snap.get("n2").requested.milli_cpu) == (0, 1000)


def test_a_snapshot_does_not_change_until_it_is_updated() -> None:
    cache, snap = fresh()
    cache.add_pod(PodInfo(pod("a", cpu="1", node_name="n1")))
    assert snap.get("n1").requested.milli_cpu == 0 and snap.get("n1").pods == []
    cache.update_snapshot(snap)
    assert snap.get("n1").requested.milli_cpu == 1000 and len(snap.get("n1").pods) == 1
    assert sorted(n.name for n in snap.node_infos) == ["n1", "n2"]


def test_removed_nodes_leave_the_snapshot_but_their_pods_stay_counted_until_deleted() -> None:
    cache, snap = fresh()
    p = PodInfo(pod("a", cpu="1", node_name="n1"))
    cache.add_pod(p)
    cache.remove_node(node("n1"))
    cache.update_snapshot(snap)
    assert [n.name for n in snap.node_infos] == ["n2"] and snap.get("n1") is None
    cache.add_node(node("n1", cpu="2"))
    cache.update_snapshot(snap)
    assert snap.get("n1").requested.milli_cpu == 1000
    cache.remove_pod(p)
    cache.update_snapshot(snap)
    assert snap.get("n1").requested.milli_cpu == 0


def test_nodes_are_listed_one_zone_at_a_time() -> None:
    cache = Cache()
    for name, zone in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"), ("b2", "b")]:
        cache.add_node(node(name, labels={ZONE: zone}))
    snap = Snapshot()
    cache.update_snapshot(snap)
    assert [n.name for n in snap.node_infos] == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_nodes_with_affinity_pods_are_listed_apart() -> None:
    cache, snap = fresh()
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    p = PodInfo(pod("a", node_name="n2", affinity=anti))
    cache.add_pod(p)
    cache.update_snapshot(snap)
    assert [n.name for n in snap.have_pods_with_required_anti_affinity] == ["n2"]
    assert [n.name for n in snap.have_pods_with_affinity] == ["n2"]
    cache.remove_pod(p)
    cache.update_snapshot(snap)
    assert snap.have_pods_with_affinity == [] and snap.have_pods_with_required_anti_affinity == []
