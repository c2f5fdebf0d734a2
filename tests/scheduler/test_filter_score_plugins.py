"""Each filter and score plugin on its own: tables of pods and nodes → status or score."""

from __future__ import annotations

import pytest
from scheduler_builders import node, node_info, pod

from kubelab.scheduler import Code, CycleState, PodInfo, PreFilterResult, Status
from kubelab.scheduler.plugins import (
    BalancedAllocation,
    Fit,
    NodeAffinity,
    NodeName,
    NodePorts,
    NodeUnschedulable,
    SchedulingGates,
    TaintToleration,
)
from kubelab.scheduler.plugins.helper import default_normalize_score, tolerates_taint


def run_filter(plugin, pod_obj, node_obj, *existing) -> Status | None:
    state = CycleState()
    info = PodInfo(pod_obj)
    nodes = [node_info(node_obj, *existing)]
    if hasattr(plugin, "pre_filter"):
        answer = plugin.pre_filter(state, info, nodes)
        if isinstance(answer, Status) and answer.code == Code.SKIP:
            return None
        assert answer is None or isinstance(answer, PreFilterResult), answer
    return plugin.filter(state, info, nodes[0])


def reasons(status: Status | None) -> tuple[Code, tuple[str, ...]] | None:
    return None if status is None else (status.code, status.reasons)


UNSCHED, UNRESOLVABLE = Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE


# -- NodeName, NodeUnschedulable ---------------------------------------------------------------


@pytest.mark.parametrize(("wanted", "expected"), [
    (None, None), ("n1", None), ("n2", (UNRESOLVABLE, ("node(s) didn't match the requested node name",))),
])
def test_node_name(wanted, expected) -> None:
    p = pod(nodeName=wanted) if wanted else pod()
    assert reasons(run_filter(NodeName(), p, node("n1"))) == expected


@pytest.mark.parametrize(("tolerations", "expected"), [
    ([], (UNRESOLVABLE, ("node(s) were unschedulable",))),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}], None),
    ([{"operator": "Exists"}], None),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute"}],
     (UNRESOLVABLE, ("node(s) were unschedulable",))),
])
def test_node_unschedulable(tolerations, expected) -> None:
    assert reasons(run_filter(NodeUnschedulable(), pod(tolerations=tolerations), node("n1", unschedulable=True))) \
        == expected
    assert run_filter(NodeUnschedulable(), pod(tolerations=tolerations), node("n1")) is None


# -- NodeResourcesFit --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "existing", "node_kw", "expected"),
    [
        ({"cpu": "1", "memory": "1Gi"}, [], {}, None),
        ({"cpu": "500m"}, [{"cpu": "3500m"}], {"cpu": "4"}, None),
        ({"cpu": "501m"}, [{"cpu": "3500m"}], {"cpu": "4"}, (UNSCHED, ("Insufficient cpu",))),
        ({"cpu": "5", "memory": "9Gi"}, [], {}, (UNSCHED, ("Insufficient cpu", "Insufficient memory"))),
        ({"memory": "1"}, [{"memory": "8Gi"}], {}, (UNSCHED, ("Insufficient memory",))),
        ({}, [{}], {"pods": "1"}, (UNSCHED, ("Too many pods",))),
        ({"cpu": "100m"}, [], {"cpu": "0"}, (UNSCHED, ("Insufficient cpu",))),
        ({"cpu": "100m"}, [{"memory": "9Gi"}], {}, None),
    ],
    ids=["fits", "exactly-full", "one-milli-over", "both", "memory", "pod-count", "no-cpu",
         "overcommitted-memory-cpu-only-pod"],
)
def test_fit_filter(request_, existing, node_kw, expected) -> None:
    placed = [pod(f"e{i}", node_name="n1", **r) for i, r in enumerate(existing)]
    assert reasons(run_filter(Fit(), pod(**request_), node("n1", **node_kw), *placed)) == expected


def test_fit_filter_counts_extended_resources() -> None:
    gpu_pod = pod(containers=[{"name": "c", "resources": {"requests": {"example.com/gpu": "2"}}}])
    gpu_node = node("n1")
    gpu_node["status"]["allocatable"]["example.com/gpu"] = "1"
    assert reasons(run_filter(Fit(), gpu_pod, gpu_node)) == (UNSCHED, ("Insufficient example.com/gpu",))


def score(plugin, pod_obj, *infos) -> dict[str, int]:
    state = CycleState()
    info = PodInfo(pod_obj)
    if hasattr(plugin, "pre_score"):
        status = plugin.pre_score(state, info, list(infos))
        if status is not None and status.code == Code.SKIP:
            return {}
    scores = {i.name: plugin.score(state, info, i) for i in infos}
    if hasattr(plugin, "normalize_score"):
        plugin.normalize_score(state, info, scores)
    return scores


def test_least_allocated_prefers_emptier_nodes() -> None:
    empty = node_info(node("empty", cpu="4", memory="8Gi"))
    busy = node_info(node("busy", cpu="4", memory="8Gi"), pod("e", node_name="busy", cpu="3", memory="2Gi"))
    # empty: cpu (4000-1000)/4000 → 75, memory (8-1)/8 → 87: (75+87)//2 = 81
    # busy:  cpu (4000-4000)/4000 → 0, memory (8-3)/8 → 62:   (0+62)//2 = 31
    assert score(Fit(), pod(cpu="1", memory="1Gi"), empty, busy) == {"empty": 81, "busy": 31}


def test_least_allocated_counts_default_requests_for_best_effort_pods() -> None:
    a = node_info(node("a", cpu="1", memory="1000Mi"))
    # cpu: 100m of 1000m used → 90; memory 200Mi of 1000Mi → 80; (90 + 80) // 2
    assert score(Fit(), pod(), a) == {"a": 85}


def test_balanced_allocation() -> None:
    balanced = node_info(node("balanced", cpu="4", memory="4Gi"))
    lopsided = node_info(node("lopsided", cpu="4", memory="64Gi"))
    # balanced: cpu 1/4, memory 1/4 → std 0 → 100; lopsided: 0.25 vs 1/64 → std .1171875 → 88
    assert score(BalancedAllocation(), pod(cpu="1", memory="1Gi"), balanced, lopsided) == {
        "balanced": 100, "lopsided": 88}
    assert score(BalancedAllocation(), pod(), balanced) == {}, "best-effort pods are not scored"
    cpu_only = node_info(node("cpu-only", cpu="4", memory="0"))
    full = node_info(node("full", cpu="2", memory="64Gi"), pod("e", node_name="full", cpu="2"))
    # One resource alone is balanced; a share over 1 counts as 1: cpu 3/2 → 1, memory 1/64.
    assert score(BalancedAllocation(), pod(cpu="1", memory="1Gi"), cpu_only, full) == {"cpu-only": 100, "full": 50}


# -- TaintToleration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("toleration", "taint", "tolerated"), [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
    ({"key": "k", "value": "other"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"operator": "Exists"}, {"key": "anything", "effect": "NoExecute"}, True),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, {"key": "k", "effect": "NoSchedule"}, False),
    ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"}, False),
])
def test_tolerates_taint(toleration, taint, tolerated) -> None:
    assert tolerates_taint(toleration, taint) is tolerated


def test_taint_filter_names_the_first_untolerated_taint() -> None:
    cp = node("cp", taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    assert reasons(run_filter(TaintToleration(), pod(), cp)) == (
        UNRESOLVABLE, ("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",))
    gpu = node("g", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}])
    assert reasons(run_filter(TaintToleration(), pod(), gpu)) == (
        UNRESOLVABLE, ("node(s) had untolerated taint {dedicated: gpu}",))
    soft = node("s", taints=[{"key": "dedicated", "value": "gpu", "effect": "PreferNoSchedule"}])
    assert run_filter(TaintToleration(), pod(), soft) is None
    tolerant = pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}])
    assert run_filter(TaintToleration(), tolerant, gpu) is None


def test_taint_score_prefers_fewer_untolerated_prefer_no_schedule_taints() -> None:
    def soft(*keys: str) -> list[dict[str, str]]:
        return [{"key": k, "effect": "PreferNoSchedule"} for k in keys]

    infos = [node_info(node("clean")), node_info(node("one", taints=soft("a"))),
             node_info(node("two", taints=soft("a", "b")))]
    assert score(TaintToleration(), pod(), *infos) == {"clean": 100, "one": 50, "two": 0}
    tolerant = pod(tolerations=[{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}])
    assert score(TaintToleration(), tolerant, *infos) == {"clean": 100, "one": 100, "two": 0}


# -- NodeAffinity ------------------------------------------------------------------------------


def required(*terms: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values: str) -> dict:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


@pytest.mark.parametrize(
    ("spec", "labels", "fits"),
    [
        ({"nodeSelector": {"disk": "ssd"}}, {"disk": "ssd"}, True),
        ({"nodeSelector": {"disk": "ssd"}}, {"disk": "hdd"}, False),
        ({"affinity": required(expr("zone", "In", "a", "b"))}, {"zone": "b"}, True),
        ({"affinity": required(expr("zone", "NotIn", "a"))}, {}, True),
        ({"affinity": required(expr("zone", "Exists"))}, {}, False),
        ({"affinity": required(expr("gen", "Gt", "3"))}, {"gen": "4"}, True),
        ({"affinity": required(expr("gen", "Lt", "3"))}, {"gen": "4"}, False),
        # Terms are ORed; the requirements inside one term are ANDed.
        ({"affinity": required(expr("zone", "In", "x"), expr("disk", "In", "ssd"))}, {"disk": "ssd"}, True),
        ({"nodeSelector": {"disk": "ssd"}, "affinity": required(expr("zone", "In", "a"))}, {"disk": "ssd"}, False),
        ({"affinity": required({})}, {"any": "thing"}, False),
    ],
)
def test_node_affinity_filter(spec, labels, fits) -> None:
    status = run_filter(NodeAffinity(), pod(**spec), node("n1", labels=labels))
    assert reasons(status) == (None if fits else (UNRESOLVABLE, ("node(s) didn't match Pod's node affinity/selector",)))


def test_node_affinity_pre_filter_narrows_to_named_nodes() -> None:
    p = PodInfo(pod(affinity=required({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]})))
    assert NodeAffinity().pre_filter(CycleState(), p, []) == PreFilterResult(frozenset({"n2"}))
    conflict = PodInfo(pod(affinity=required({"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["a"]},
        {"key": "metadata.name", "operator": "In", "values": ["b"]}]})))
    assert NodeAffinity().pre_filter(CycleState(), conflict, []) == Status.unresolvable("pod affinity terms conflict")
    assert NodeAffinity().pre_filter(CycleState(), PodInfo(pod()), []).code == Code.SKIP


def test_node_affinity_score_sums_matching_preferred_weights() -> None:
    preferred = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 80, "preference": expr("zone", "In", "a")},
        {"weight": 20, "preference": expr("disk", "In", "ssd")},
    ]}}
    infos = [node_info(node("both", labels={"zone": "a", "disk": "ssd"})),
             node_info(node("zone", labels={"zone": "a"})),
             node_info(node("disk", labels={"disk": "ssd"})), node_info(node("none"))]
    assert score(NodeAffinity(), pod(affinity=preferred), *infos) == {"both": 100, "zone": 80, "disk": 20, "none": 0}


# -- NodePorts, SchedulingGates ----------------------------------------------------------------


def with_host_port(port: int, ip: str | None = None, protocol: str | None = None) -> dict:
    spec = {"containerPort": 80, "hostPort": port}
    if ip:
        spec["hostIP"] = ip
    if protocol:
        spec["protocol"] = protocol
    return {"containers": [{"name": "c", "ports": [spec]}]}


@pytest.mark.parametrize(("used", "wanted", "conflict"), [
    (with_host_port(80), with_host_port(80), True),
    (with_host_port(80), with_host_port(81), False),
    (with_host_port(80), with_host_port(80, protocol="UDP"), False),
    (with_host_port(80, ip="10.0.0.1"), with_host_port(80, ip="10.0.0.2"), False),
    (with_host_port(80, ip="10.0.0.1"), with_host_port(80), True),
    (with_host_port(80), with_host_port(80, ip="10.0.0.1"), True),
])
def test_node_ports(used, wanted, conflict) -> None:
    existing = pod("e", node_name="n1", **used)
    status = run_filter(NodePorts(), pod(**wanted), node("n1"), existing)
    assert reasons(status) == ((UNSCHED, ("node(s) didn't have free ports for the requested pod ports",))
                               if conflict else None)


def test_scheduling_gates_keep_pods_out_of_the_queue() -> None:
    gated = pod(schedulingGates=[{"name": "example.com/quota"}, {"name": "example.com/review"}])
    assert SchedulingGates().pre_enqueue(gated) == Status.unresolvable(
        "waiting for scheduling gates: [example.com/quota example.com/review]")
    assert SchedulingGates().pre_enqueue(pod()) is None


# -- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("scores", "reverse", "expected"), [
    ({"a": 0, "b": 5, "c": 10}, False, {"a": 0, "b": 50, "c": 100}),
    ({"a": 0, "b": 5, "c": 10}, True, {"a": 100, "b": 50, "c": 0}),
    ({"a": 0, "b": 0}, False, {"a": 0, "b": 0}),
    ({"a": 0, "b": 0}, True, {"a": 100, "b": 100}),
    ({"a": 1, "b": 3}, False, {"a": 33, "b": 100}),
])
def test_default_normalize_score(scores, reverse, expected) -> None:
    default_normalize_score(scores, reverse)
    assert scores == expected
