"""InterPodAffinity and PodTopologySpread: decisions that depend on the pods already placed."""

from __future__ import annotations

import pytest
from scheduler_builders import default_profile, node, pod, snapshot

from kubelab.scheduler import Code, CycleState, PodInfo, Status
from kubelab.scheduler.plugins import InterPodAffinity, PodTopologySpread

HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


def term(app: str, key: str = HOST, **extra: object) -> dict:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **extra}


def affinity(kind: str, *terms: dict, preferred: bool = False) -> dict:
    if preferred:
        return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "podAffinityTerm": t} for w, t in terms]}}
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def zoned_nodes() -> list[dict]:
    return [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"})]


def filter_all(plugin, pod_obj, nodes, pods, objects=None) -> dict[str, Status | None]:
    snap = snapshot(nodes, pods)
    default_profile(snap, objects, plugins=[plugin, *_required_extras()])
    state = CycleState()
    info = PodInfo(pod_obj)
    answer = plugin.pre_filter(state, info, snap.node_infos)
    if isinstance(answer, Status) and answer.code == Code.SKIP:
        return {n.name: None for n in snap.node_infos}
    assert answer is None, answer
    return {n.name: plugin.filter(state, info, n) for n in snap.node_infos}


def _required_extras() -> list:
    from kubelab.scheduler.plugins import DefaultBinder, PrioritySort
    return [PrioritySort(), DefaultBinder()]


def fits(statuses: dict[str, Status | None]) -> set[str]:
    return {name for name, s in statuses.items() if s is None}


# -- InterPodAffinity: filtering ----------------------------------------------------------------


def test_required_affinity_places_the_pod_beside_a_matching_pod() -> None:
    db = pod("db", labels={"app": "db"}, node_name="a2")
    statuses = filter_all(InterPodAffinity(), pod("web", affinity=affinity("podAffinity", term("db"))),
                          zoned_nodes(), [db])
    assert fits(statuses) == {"a2"}
    assert statuses["a1"] == Status.unresolvable("node(s) didn't match pod affinity rules")


def test_required_affinity_by_zone_accepts_every_node_of_the_zone() -> None:
    db = pod("db", labels={"app": "db"}, node_name="a2")
    statuses = filter_all(InterPodAffinity(), pod("web", affinity=affinity("podAffinity", term("db", ZONE))),
                          zoned_nodes(), [db])
    assert fits(statuses) == {"a1", "a2"}


def test_the_first_pod_of_a_self_affine_group_is_let_in() -> None:
    first = pod("web-0", labels={"app": "web"}, affinity=affinity("podAffinity", term("web", ZONE)))
    assert fits(filter_all(InterPodAffinity(), first, zoned_nodes(), [])) == {"a1", "a2", "b1"}
    stranger = pod("x", labels={"app": "other"}, affinity=affinity("podAffinity", term("web", ZONE)))
    assert fits(filter_all(InterPodAffinity(), stranger, zoned_nodes(), [])) == set()


def test_required_anti_affinity_keeps_replicas_apart() -> None:
    web0 = pod("web-0", labels={"app": "web"}, node_name="a1",
               affinity=affinity("podAntiAffinity", term("web")))
    web1 = pod("web-1", labels={"app": "web"}, affinity=affinity("podAntiAffinity", term("web")))
    statuses = filter_all(InterPodAffinity(), web1, zoned_nodes(), [web0])
    assert fits(statuses) == {"a2", "b1"}
    assert statuses["a1"] == Status.unschedulable("node(s) didn't match pod anti-affinity rules")


def test_existing_pods_anti_affinity_is_honoured_too() -> None:
    loner = pod("loner", labels={"app": "loner"}, node_name="a1",
                affinity=affinity("podAntiAffinity", term("web", ZONE)))
    statuses = filter_all(InterPodAffinity(), pod("web", labels={"app": "web"}), zoned_nodes(), [loner])
    assert fits(statuses) == {"b1"}
    assert statuses["a2"] == Status.unschedulable("node(s) didn't satisfy existing pods anti-affinity rules")


def test_affinity_terms_only_look_in_their_namespaces() -> None:
    db = pod("db", namespace="other", labels={"app": "db"}, node_name="a1")
    same_ns = pod("web", affinity=affinity("podAffinity", term("db")))
    assert fits(filter_all(InterPodAffinity(), same_ns, zoned_nodes(), [db])) == set()
    listed = pod("web", affinity=affinity("podAffinity", term("db", namespaces=["other"])))
    assert fits(filter_all(InterPodAffinity(), listed, zoned_nodes(), [db])) == {"a1"}
    namespaces = {"namespaces": [{"metadata": {"name": "other", "labels": {"team": "data"}}},
                                 {"metadata": {"name": "default", "labels": {}}}]}
    by_selector = pod("web", affinity=affinity("podAffinity", term(
        "db", namespaceSelector={"matchLabels": {"team": "data"}})))
    assert fits(filter_all(InterPodAffinity(), by_selector, zoned_nodes(), [db], namespaces)) == {"a1"}


def test_a_pod_without_affinity_skips_the_filter() -> None:
    snap = snapshot(zoned_nodes())
    plugin = InterPodAffinity()
    default_profile(snap, plugins=[plugin, *_required_extras()])
    assert plugin.pre_filter(CycleState(), PodInfo(pod()), snap.node_infos).code == Code.SKIP


# -- InterPodAffinity: scoring --------------------------------------------------------------------


def score_all(plugin, pod_obj, nodes, pods) -> dict[str, int]:
    snap = snapshot(nodes, pods)
    default_profile(snap, plugins=[plugin, *_required_extras()])
    state = CycleState()
    info = PodInfo(pod_obj)
    status = plugin.pre_score(state, info, snap.node_infos)
    if status is not None and status.code == Code.SKIP:
        return {}
    scores = {n.name: plugin.score(state, info, n) for n in snap.node_infos}
    plugin.normalize_score(state, info, scores)
    return scores


def test_preferred_affinity_and_anti_affinity_scores() -> None:
    cache = pod("cache", labels={"app": "cache"}, node_name="a1")
    noisy = pod("noisy", labels={"app": "noisy"}, node_name="b1")
    web = pod("web", affinity={**affinity("podAffinity", (100, term("cache", ZONE)), preferred=True),
                               **affinity("podAntiAffinity", (50, term("noisy")), preferred=True)})
    # zone a: +100 on a1 and a2; b1: -50 → normalized between -50 and 100.
    assert score_all(InterPodAffinity(), web, zoned_nodes(), [cache, noisy]) == {"a1": 100, "a2": 100, "b1": 0}


def test_existing_pods_required_affinity_attracts_matching_pods() -> None:
    sidecar = pod("agent", node_name="b1", affinity=affinity("podAffinity", term("web")))
    assert score_all(InterPodAffinity(), pod("web", labels={"app": "web"}), zoned_nodes(), [sidecar]) == {
        "a1": 0, "a2": 0, "b1": 100}
    assert score_all(InterPodAffinity(), pod("plain"), zoned_nodes(), []) == {}


# -- PodTopologySpread ------------------------------------------------------------------------------


def spread(key: str, max_skew: int = 1, when: str = "DoNotSchedule", **extra: object) -> dict:
    return {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}, **extra}


def web(name: str, node_name: str | None = None, *constraints: dict) -> dict:
    kw = {"topologySpreadConstraints": list(constraints)} if constraints else {}
    return pod(name, labels={"app": "web"}, node_name=node_name, **kw)


def test_zone_spread_rejects_the_crowded_zone() -> None:
    placed = [web("w0", "a1"), web("w1", "a2")]
    statuses = filter_all(PodTopologySpread(), web("w2", None, spread(ZONE)), zoned_nodes(), placed)
    # zone a has 2, zone b has 0: one more in a gives skew 3 - 0 > 1.
    assert fits(statuses) == {"b1"}
    assert statuses["a1"] == Status.unschedulable("node(s) didn't match pod topology spread constraints")


def test_max_skew_allows_that_much_imbalance() -> None:
    placed = [web("w0", "a1")]
    assert fits(filter_all(PodTopologySpread(), web("w1", None, spread(ZONE, 2)), zoned_nodes(), placed)) == {
        "a1", "a2", "b1"}


def test_nodes_without_the_topology_key_are_rejected() -> None:
    nodes = [*zoned_nodes(), node("bare")]
    statuses = filter_all(PodTopologySpread(), web("w", None, spread(ZONE)), nodes, [])
    assert statuses["bare"] == Status.unresolvable(
        "node(s) didn't match pod topology spread constraints (missing required label)")


def test_min_domains_treats_the_global_minimum_as_zero() -> None:
    placed = [web("w0", "a1"), web("w1", "b1")]
    # Two domains with one pod each; min_domains 3 makes the minimum 0, so 1 + 1 - 0 > 1 everywhere.
    assert fits(filter_all(PodTopologySpread(), web("w2", None, spread(ZONE, minDomains=3)), zoned_nodes(),
                           placed)) == set()
    assert fits(filter_all(PodTopologySpread(), web("w2", None, spread(ZONE)), zoned_nodes(), placed)) == {
        "a1", "a2", "b1"}


def test_only_pods_matching_the_selector_in_the_same_namespace_count() -> None:
    placed = [pod("x0", labels={"app": "other"}, node_name="a1"), web("w0", "a1"),
              pod("w-elsewhere", namespace="other", labels={"app": "web"}, node_name="b1")]
    # Zone a: 1 match, zone b: 0 (the pod in another namespace does not count).
    assert fits(filter_all(PodTopologySpread(), web("w1", None, spread(ZONE)), zoned_nodes(), placed)) == {"b1"}


def test_match_label_keys_narrow_the_selector_to_the_pods_own_revision() -> None:
    old = pod("old", labels={"app": "web", "rev": "1"}, node_name="a1")
    constraint = spread(ZONE, matchLabelKeys=["rev"])
    new = pod("new", labels={"app": "web", "rev": "2"}, topologySpreadConstraints=[constraint])
    assert fits(filter_all(PodTopologySpread(), new, zoned_nodes(), [old])) == {"a1", "a2", "b1"}


def test_schedule_anyway_scores_emptier_domains_higher() -> None:
    placed = [web("w0", "a1"), web("w1", "a1"), web("w2", "a2")]
    scores = score_all(PodTopologySpread(), web("w3", None, spread(HOST, when="ScheduleAnyway")),
                       zoned_nodes(), placed)
    assert scores["b1"] == 100 and scores["a2"] > scores["a1"]


def test_default_constraints_spread_a_replica_sets_pods() -> None:
    rs = {"metadata": {"name": "web-rs", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-rs", "controller": True, "uid": "rs"}]
    placed = [web("w0", "a1"), web("w1", "a1")]
    replica = web("w2")
    replica["metadata"]["ownerReferences"] = owner
    snap = snapshot(zoned_nodes(), placed)
    plugin = PodTopologySpread()
    default_profile(snap, {"replicasets": [rs]}, plugins=[plugin, *_required_extras()])
    state = CycleState()
    info = PodInfo(replica)
    assert plugin.pre_score(state, info, snap.node_infos) is None
    scores = {n.name: plugin.score(state, info, n) for n in snap.node_infos}
    plugin.normalize_score(state, info, scores)
    assert scores["a1"] < scores["a2"] and scores["a1"] < scores["b1"]
    bare = PodInfo(web("lonely"))
    assert plugin.pre_score(CycleState(), bare, snap.node_infos).code == Code.SKIP


@pytest.mark.parametrize("policy", ["Honor", "Ignore"])
def test_node_taints_policy_decides_whether_tainted_domains_count(policy: str) -> None:
    nodes = [node("a1", labels={ZONE: "a"}),
             node("b1", labels={ZONE: "b"}, taints=[{"key": "k", "effect": "NoSchedule"}])]
    placed = [web("w0", "a1")]
    statuses = filter_all(PodTopologySpread(), web("w1", None, spread(ZONE, nodeTaintsPolicy=policy)), nodes, placed)
    # Honor: zone b does not count, zone a is the only domain (min 1) → a1 fits.
    # Ignore: zone b counts with 0 pods → a1 would make skew 2.
    assert ("a1" in fits(statuses)) is (policy == "Honor")
