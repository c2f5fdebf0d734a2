"""What a pod asks for, and what a node has left: requests, sums, affinity terms."""

from __future__ import annotations

import pytest
from scheduler_builders import node, pod

from kubelab.scheduler.nodeinfo import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    NodeInfo,
    PodInfo,
    pod_requests,
)


def container(cpu: str | None = None, memory: str | None = None, **extra: object) -> dict[str, object]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "resources": {"requests": requests}, **extra}


@pytest.mark.parametrize(
    ("containers", "init", "overhead", "expected"),
    [
        ([container("500m", "1Gi")], [], None, {"cpu": 500, "memory": 1 << 30}),
        ([container("1", "1G"), container("250m", "512Mi")], [], None, {"cpu": 1250, "memory": 10**9 + (512 << 20)}),
        # Init containers run one at a time, before the others: the larger of the two counts.
        ([container("2", "1G"), container("1", "1G")], [container("2", "1G"), container("2", "3G")], None,
         {"cpu": 3000, "memory": 3 * 10**9}),
        # A sidecar keeps running beside the later init containers and the app containers.
        ([container("1")], [container("500m", restartPolicy="Always"), container("2")], None, {"cpu": 2500}),
        ([container("100m")], [], {"cpu": "250m"}, {"cpu": 350}),
        ([{"name": "c"}], [], None, {}),
    ],
    ids=["one", "sum", "init-max", "sidecar", "overhead", "none"],
)
def test_pod_requests(containers, init, overhead, expected) -> None:
    spec = {"containers": containers, "initContainers": init}
    if overhead:
        spec["overhead"] = overhead
    assert pod_requests({"spec": spec}) == expected


def test_a_pod_without_requests_counts_the_defaults_for_spreading() -> None:
    info = PodInfo(pod("best-effort"))
    assert (info.requests.milli_cpu, info.requests.memory) == (0, 0)
    assert (info.non0_cpu, info.non0_mem) == (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)


def test_only_the_missing_resource_gets_a_default() -> None:
    info = PodInfo(pod("cpu-only", cpu="2"))
    assert (info.non0_cpu, info.non0_mem) == (2000, DEFAULT_MEMORY_REQUEST)


def test_node_info_adds_and_removes_pod_requests() -> None:
    a, b = PodInfo(pod("a", cpu="1", memory="1Gi")), PodInfo(pod("b", cpu="500m"))
    info = NodeInfo(node("n1", cpu="4", memory="8Gi"), [a, b])
    assert info.allocatable.milli_cpu == 4000 and info.allocatable.allowed_pod_number == 110
    assert (info.requested.milli_cpu, info.requested.memory) == (1500, 1 << 30)
    assert info.non_zero_requested.memory == (1 << 30) + DEFAULT_MEMORY_REQUEST
    assert info.remove_pod(a)
    assert (info.requested.milli_cpu, info.requested.memory, len(info.pods)) == (500, 0, 1)
    assert not info.remove_pod(a)


def test_host_ports_are_tracked_on_the_node() -> None:
    web = PodInfo(pod("web", containers=[{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]))
    info = NodeInfo(node("n1"), [web])
    assert info.used_ports == {("0.0.0.0", "TCP", 8080)}
    info.remove_pod(web)
    assert info.used_ports == set()


def test_affinity_terms_are_parsed_once_with_the_pods_namespace() -> None:
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}
    info = PodInfo(pod("web", namespace="shop", affinity={"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [term]}}))
    (parsed,) = info.required_anti_affinity_terms
    assert parsed.namespaces == {"shop"} and parsed.topology_key == "kubernetes.io/hostname"
    assert parsed.matches(PodInfo(pod("db", namespace="shop", labels={"app": "db"})), None)
    assert not parsed.matches(PodInfo(pod("db", namespace="other", labels={"app": "db"})), None)
    info_node = NodeInfo(node("n1"), [info])
    assert info_node.pods_with_affinity == [info] and info_node.pods_with_required_anti_affinity == [info]


def test_a_bad_affinity_selector_is_remembered_not_raised() -> None:
    term = {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}, "topologyKey": "x"}
    info = PodInfo(pod("odd", affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}))
    assert info.required_affinity_terms == []
    assert "requiredAffinityTerms" in info.parse_error and "Near" in info.parse_error
