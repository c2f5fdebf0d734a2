"""Lab 00, orientation: the cluster drawn from what it runs, sample objects, and the visible checks.

The learner's functions read plain API objects (dicts, as ``kubectl get -o json`` shows
them); the checks here feed them hand-made objects and the live cluster's own.
"""

from __future__ import annotations

import random
from typing import Any

from kubelab.cluster import ADDONS
from kubelab.grading import expect_equal, expect_true
from kubelab.lab.checks import Checks
from kubelab.lab.diagram import Diagram, architecture
from kubelab.lab.session import LabCluster

Obj = dict[str, Any]

CONTROL_PLANE_PODS = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager")
"""How a kubeadm or kind control plane names its static pods in ``kube-system``."""

NODE_PARTS = ("kubelet-", "kube-proxy-", "container-runtime-")
"""The per-node processes of an embedded cluster: drawn inside each node, not in the control plane."""


def architecture_of(cluster: LabCluster) -> Diagram:
    """The live cluster drawn as the chapter draws Kubernetes: what runs, where, and the pods on each node."""
    pods = cluster.client.resource("v1", "pods").list()["items"]
    nodes = sorted(n["metadata"]["name"] for n in cluster.client.resource("v1", "nodes").list()["items"])
    on_node: dict[str, list[str]] = {node: [] for node in nodes}
    for pod in pods:
        node = pod["spec"].get("nodeName")
        if node in on_node and pod["metadata"]["namespace"] != "kube-system":
            on_node[node].append(pod["metadata"]["name"])
    addons: list[tuple[str, str]] = []
    if cluster.cluster is not None:
        embedded = cluster.cluster
        running = {name: f"process {process.pid}" for name, process in embedded.processes.items()
                   if not name.startswith(NODE_PARTS)}
        running |= {name: "in your kernel" for name in embedded.replaced}
        parts = [(name, how) for name, how in running.items() if name not in ADDONS]
        addons = [(name, how) for name, how in running.items() if name in ADDONS]
        store = "etcd" if embedded.store == "etcd" else "in-memory MVCC store"
        title = f"kubelab cluster at {embedded.url}"
    else:
        parts = []
        for pod in pods:
            name = pod["metadata"]["name"]
            for component in CONTROL_PLANE_PODS[2:]:
                if pod["metadata"]["namespace"] == "kube-system" and name.startswith(component):
                    parts.append((component, f"pod on {pod['spec'].get('nodeName')}"))
        store = "etcd"
        title = f"{cluster.backend} cluster"
    return architecture(parts, {node: sorted(names) for node, names in on_node.items()}, addons=addons, store=store,
                        title=title)


def pod(
    name: str,
    *,
    phase: str = "Running",
    node: str | None = "node-1",
    images: tuple[str, ...] = ("nginx",),
    states: tuple[Obj, ...] | None = None,
    restarts: int = 0,
    unschedulable: str = "",
    init_images: tuple[str, ...] = (),
) -> Obj:
    """A Pod as the API server returns it, cut down to what this lab's functions read."""
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    spec: Obj = {"containers": containers}
    if init_images:
        spec["initContainers"] = [{"name": f"init{i}", "image": image} for i, image in enumerate(init_images)]
    if node:
        spec["nodeName"] = node
    status: Obj = {"phase": phase, "conditions": []}
    if unschedulable:
        status["conditions"].append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": unschedulable})
    elif node:
        status["conditions"].append({"type": "PodScheduled", "status": "True"})
    if node:
        given = states or tuple({"running": {"startedAt": "2025-01-01T00:00:00Z"}} for _ in images)
        status["containerStatuses"] = [
            {"name": c["name"], "image": c["image"], "restartCount": restarts, "state": state,
             "ready": "running" in state}
            for c, state in zip(containers, given, strict=False)
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": spec, "status": status}


def node(name: str, ready: str | None = "True") -> Obj:
    """A Node with a ``Ready`` condition of ``ready`` (``None``: no Ready condition yet)."""
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": {"conditions": conditions}}


def waiting(reason: str) -> Obj:
    return {"waiting": {"reason": reason, "message": f"{reason} (sample)"}}


def terminated(reason: str, code: int = 1) -> Obj:
    return {"terminated": {"reason": reason, "exitCode": code}}


SAMPLE_PODS = [
    pod("web", node="node-1"),
    pod("api", node="node-2", images=("kubelab/web:v1", "busybox")),
    pod("broken", phase="Pending", node="node-2", images=("nginx:nope",), states=(waiting("ImagePullBackOff"),)),
    pod("picky", phase="Pending", node=None, unschedulable="0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."),
    pod("crashy", node="node-1", images=("busybox",), states=(waiting("CrashLoopBackOff"),), restarts=4),
    pod("job-1", phase="Succeeded", node="node-1", images=("busybox",), states=(terminated("Completed", 0),),
        init_images=("busybox:1.36",)),
]
"""Six pods in six situations: the visible checks' cluster on paper."""

SAMPLE_EVENTS = [
    {"involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Scheduled", "source": {"component": "default-scheduler"}},
    {"involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Pulling", "source": {"component": "kubelet", "host": "node-1"}},
    {"involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Started", "source": {"component": "kubelet", "host": "node-1"}},
    {"involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Pulling", "source": {"component": "kubelet", "host": "node-1"}},
    {"involvedObject": {"kind": "Pod", "name": "db"}, "reason": "Scheduled", "source": {"component": "default-scheduler"}},
    {"involvedObject": {"kind": "ReplicaSet", "name": "web"}, "reason": "SuccessfulCreate",
     "source": {"component": "replicaset-controller"}},
    {"involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Killing", "reportingComponent": "kubelet", "source": {}},
]
"""Events as ``kubectl get events -o json`` lists them; the last one is reported the newer way."""


def deployment(name: str, replicas: int | None, ready: int | None) -> Obj:
    """A Deployment as the API returns it, cut down to its name, desired and ready replicas (``None``: not set)."""
    spec: Obj = {"selector": {"matchLabels": {"app": name}}}
    if replicas is not None:
        spec["replicas"] = replicas
    status: Obj = {} if ready is None else {"readyReplicas": ready}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": spec, "status": status}


SAMPLE_DEPLOYMENTS = [
    deployment("web", 3, 3),
    deployment("api", 3, 1),
    deployment("new", 2, None),
    deployment("scaled-down", 1, 2),
    deployment("single", None, 1),
    deployment("off", 0, None),
]
"""Six Deployments: at their desired replicas, short of them, over them, and with fields left out."""


def random_deployments(rng: random.Random) -> list[Obj]:
    """Up to ten Deployments with distinct names, some with ``replicas`` or ``readyReplicas`` left out."""
    return [
        deployment(f"app-{i}", rng.choice([None, 0, 1, 2, 3, 5]), rng.choice([None, 0, 1, 2, 3, 5]))
        for i in rng.sample(range(100), rng.randrange(0, 10))
    ]


def random_pod(rng: random.Random, name: str) -> Obj:
    """A pod in a random situation, for the hidden tests."""
    images = tuple(rng.choice(["nginx", "nginx:1.25", "busybox", "kubelab/web:v1", "python:3.12"])
                   for _ in range(rng.randrange(1, 4)))
    init = tuple(rng.choice(["busybox", "alpine:3"]) for _ in range(rng.randrange(0, 2)))
    situation = rng.choice(["running", "running", "pending", "waiting", "done", "failed", "mixed"])
    node_name = rng.choice(["node-1", "node-2", "node-3"])
    if situation == "pending":
        return pod(name, phase="Pending", node=None, images=images, init_images=init,
                   unschedulable=rng.choice(["0/3 nodes are available: 3 Insufficient cpu.", "no nodes"]))
    if situation == "waiting":
        reason = rng.choice(["ContainerCreating", "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff"])
        states = tuple(waiting(reason) if i == len(images) - 1 else {"running": {}} for i in range(len(images)))
        phase = "Running" if reason == "CrashLoopBackOff" else "Pending"
        return pod(name, phase=phase, node=node_name, images=images, states=states, restarts=rng.randrange(0, 9),
                   init_images=init)
    if situation in ("done", "failed"):
        reason, phase, code = ("Completed", "Succeeded", 0) if situation == "done" else ("Error", "Failed", 1)
        return pod(name, phase=phase, node=node_name, images=images, init_images=init,
                   states=tuple(terminated(reason, code) for _ in images))
    if situation == "mixed":
        states = tuple(rng.choice([{"running": {}}, terminated("OOMKilled", 137)]) for _ in images)
        return pod(name, node=node_name, images=images, states=states, restarts=rng.randrange(0, 3), init_images=init)
    return pod(name, node=node_name, images=images, restarts=rng.randrange(0, 3), init_images=init)


def random_pods(rng: random.Random) -> list[Obj]:
    """Up to a dozen pods with distinct names, in random situations."""
    return [random_pod(rng, f"pod-{i}") for i in rng.sample(range(100), rng.randrange(0, 12))]


# -- the visible checks ------------------------------------------------------------------

check = Checks("00-orientation")


@check.task("api_path", "api_path", "cluster", title="api_path")
def _api_path(api_path: Any, cluster: LabCluster) -> None:
    expect_equal(api_path("v1", "pods", "default", "web"), "/api/v1/namespaces/default/pods/web",
                 what='api_path("v1", "pods", "default", "web")')
    expect_equal(api_path("apps/v1", "deployments", "kube-system"), "/apis/apps/v1/namespaces/kube-system/deployments",
                 what='api_path("apps/v1", "deployments", "kube-system")')
    expect_equal(api_path("v1", "nodes"), "/api/v1/nodes", what='api_path("v1", "nodes")')
    nodes = cluster.client.request("GET", api_path("v1", "nodes"))
    expect_equal(nodes.get("kind"), "NodeList", what='the kind the cluster answers at api_path("v1", "nodes")')


@check.task("ready_nodes", "ready_nodes", "cluster", title="ready_nodes")
def _ready_nodes(ready_nodes: Any, cluster: LabCluster) -> None:
    sample = [node("node-2"), node("node-1"), node("node-3", "False"), node("node-4", None), node("node-5", "Unknown")]
    expect_equal(ready_nodes(sample), ["node-1", "node-2"], what="ready_nodes of nodes 1 to 5 (only 1 and 2 are Ready)")
    expect_equal(ready_nodes([]), [], what="ready_nodes([])")
    live = cluster.client.resource("v1", "nodes").list()["items"]
    expect_equal(ready_nodes(live), sorted(n["metadata"]["name"] for n in live),
                 what="ready_nodes of the live cluster's nodes (all of them are Ready)")


@check.task("pod_manifest", "pod_manifest", title="pod_manifest")
def _pod_manifest(pod_manifest: Any) -> None:
    manifest = pod_manifest("web", "nginx", {"app": "web"})
    expect_equal(manifest.get("apiVersion"), "v1", what="the manifest's apiVersion")
    expect_equal(manifest.get("kind"), "Pod", what="the manifest's kind")
    expect_equal(manifest.get("metadata"), {"name": "web", "labels": {"app": "web"}}, what="the manifest's metadata")
    expect_equal(manifest.get("spec"), {"containers": [{"name": "web", "image": "nginx"}]}, what="the manifest's spec")
    expect_equal(pod_manifest("db", "kubelab/kv:v1", {})["metadata"], {"name": "db", "labels": {}},
                 what='pod_manifest("db", "kubelab/kv:v1", {})["metadata"]')


@check.task("pods_per_node", "pods_per_node", title="pods_per_node")
def _pods_per_node(pods_per_node: Any) -> None:
    expect_equal(pods_per_node(SAMPLE_PODS), {"node-1": ["crashy", "job-1", "web"], "node-2": ["api", "broken"]},
                 what="pods_per_node(SAMPLE_PODS)")
    expect_equal(pods_per_node([]), {}, what="pods_per_node([])")


@check.task("phase_counts", "phase_counts", title="phase_counts")
def _phase_counts(phase_counts: Any) -> None:
    expect_equal(phase_counts(SAMPLE_PODS), {"Running": 3, "Pending": 2, "Succeeded": 1},
                 what="phase_counts(SAMPLE_PODS)")
    expect_equal(phase_counts([]), {}, what="phase_counts([])")


@check.task("container_images", "container_images", title="container_images")
def _container_images(container_images: Any) -> None:
    expect_equal(container_images(SAMPLE_PODS), ["busybox", "busybox:1.36", "kubelab/web:v1", "nginx", "nginx:nope"],
                 what="container_images(SAMPLE_PODS)")
    expect_equal(container_images([]), [], what="container_images([])")


@check.task("not_running", "not_running", "cluster", title="not_running")
def _not_running(not_running: Any, cluster: LabCluster) -> None:
    expect_equal(
        not_running(SAMPLE_PODS),
        {"broken": "ImagePullBackOff", "picky": "Unschedulable", "crashy": "CrashLoopBackOff", "job-1": "Completed"},
        what="not_running(SAMPLE_PODS)",
    )
    live = not_running(cluster.client.resource("v1", "pods").list(cluster.namespace)["items"])
    expect_true(live.get("broken") in ("ErrImagePull", "ImagePullBackOff"),
                f"on the live cluster, pod broken cannot pull its image, but not_running says {live.get('broken')!r}")
    expect_true("web" not in live, "on the live cluster, pod web runs, but not_running lists it")


@check.task("who_did_what", "who_did_what", title="who_did_what")
def _who_did_what(who_did_what: Any) -> None:
    expect_equal(who_did_what(SAMPLE_EVENTS, "web"), {"default-scheduler": ["Scheduled"],
                                                      "kubelet": ["Killing", "Pulling", "Started"]},
                 what='who_did_what(SAMPLE_EVENTS, "web")')
    expect_equal(who_did_what(SAMPLE_EVENTS, "nobody"), {}, what='who_did_what(SAMPLE_EVENTS, "nobody")')


@check.task("lagging_deployments", "lagging_deployments", title="lagging_deployments")
def _lagging_deployments(lagging_deployments: Any) -> None:
    expect_equal(lagging_deployments(SAMPLE_DEPLOYMENTS), {"api": "1/3", "new": "0/2", "scaled-down": "2/1"},
                 what="lagging_deployments(SAMPLE_DEPLOYMENTS)")
    expect_equal(lagging_deployments([deployment("default", None, None)]), {"default": "0/1"},
                 what="lagging_deployments of a Deployment with no replicas and no readyReplicas (1 is the default)")
    expect_equal(lagging_deployments([]), {}, what="lagging_deployments([])")
