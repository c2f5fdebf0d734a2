"""The DaemonSet controller on a real cluster: a pod per eligible node, bound by the scheduler, rolled out."""

from __future__ import annotations

import pytest
from controller_helpers import kubectl_apply, running, wait_for
from kubelet_double import KubeletDouble

from kubelab.controllers.daemonset import DaemonSetController


@pytest.fixture
def kubelet(client, namespace):
    nodes = [f"a-{namespace}", f"b-{namespace}", f"c-{namespace}"]
    double = KubeletDouble(client, nodes, labels={nodes[0]: {"agent": "yes"}, nodes[1]: {"agent": "yes"},
                                                  nodes[2]: {"agent": "yes"}},
                           taints={nodes[2]: [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}).start()
    yield double
    double.stop()


MANIFEST = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  updateStrategy: {strategy}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      nodeSelector: {{agent: "yes"}}
      terminationGracePeriodSeconds: 0
      containers: [{{name: agent, image: "agent:1"}}]
"""


def pods_of(client, namespace):
    return client.resource("v1", "pods").list(namespace, label_selector={"app": "agent"})["items"]


def live(pods):
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def get_ds(client, namespace):
    return client.resource("apps/v1", "daemonsets").get("agent", namespace)


def test_a_pod_on_every_eligible_node_bound_by_the_scheduler(cluster, client, namespace, kubelet, scheduler):
    a, b, c = kubelet.nodes
    with running(cluster, daemonset=DaemonSetController()):
        kubectl_apply(cluster, namespace, MANIFEST.format(strategy="{type: RollingUpdate}"))
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s", timeout=70)
        pods = pods_of(client, namespace)
        # c's NoSchedule taint is not tolerated: no pod there.
        assert sorted(p["spec"]["nodeName"] for p in pods) == [a, b]
        for pod in pods:
            terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            assert terms == {"nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [pod["spec"]["nodeName"]]}]}]}
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
            assert {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                    "effect": "NoExecute"} in pod["spec"]["tolerations"]
        status = get_ds(client, namespace)["status"]
        assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberReady"],
                status["updatedNumberScheduled"], status["numberAvailable"], status["numberMisscheduled"]) \
            == (2, 2, 2, 2, 2, 0)
        assert "controller-revision-hash" in pods[0]["metadata"]["labels"]

        # A node that stops matching loses its pod; a node that starts matching gets one.
        cluster.kubectl("label", "node", a, "agent-")
        cluster.kubectl("taint", "node", c, "dedicated-")
        wait_for(lambda: sorted(p["spec"].get("nodeName") or "" for p in live(pods_of(client, namespace))) == [b, c],
                 what="pods on b and c only")
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s", timeout=70)


def test_a_rolling_update_replaces_pods_within_max_unavailable(cluster, client, namespace, kubelet, scheduler):
    with running(cluster, daemonset=DaemonSetController()):
        kubectl_apply(cluster, namespace,
                      MANIFEST.format(strategy="{type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}"))
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s", timeout=70)
        old_hash = pods_of(client, namespace)[0]["metadata"]["labels"]["controller-revision-hash"]
        cluster.kubectl("set", "image", "daemonset/agent", "agent=agent:2", "-n", namespace)
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s", timeout=70)
        pods = live(pods_of(client, namespace))
        assert len(pods) == 2
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"agent:2"}
        assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} != {old_hash}
        revisions = client.resource("apps/v1", "controllerrevisions").list(namespace)["items"]
        assert sorted(r["revision"] for r in revisions) == [1, 2]
        cluster.kubectl("rollout", "undo", "daemonset/agent", "-n", namespace)
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s", timeout=70)
        wait_for(lambda: {p["spec"]["containers"][0]["image"] for p in live(pods_of(client, namespace))}
                 == {"agent:1"}, what="the undo to bring agent:1 back")


def test_a_surge_update_starts_the_new_pod_before_the_old_one_goes(cluster, client, namespace, kubelet, scheduler):
    a = kubelet.nodes[0]
    with running(cluster, daemonset=DaemonSetController()):
        kubectl_apply(cluster, namespace, MANIFEST.format(
            strategy="{type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}"))
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s", timeout=70)
        kubelet.hang(a)
        cluster.kubectl("set", "image", "daemonset/agent", "agent=agent:2", "-n", namespace)

        def surged_on_a():
            on_a = live([p for p in pods_of(client, namespace) if p["spec"].get("nodeName") == a])
            return len(on_a) == 2 and on_a
        on_a = wait_for(surged_on_a, what="a new pod beside the old one on node a")
        assert sorted(p["spec"]["containers"][0]["image"] for p in on_a) == ["agent:1", "agent:2"]
        kubelet.recover(a)
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, "--timeout=60s", timeout=70)
        wait_for(lambda: {p["spec"]["containers"][0]["image"] for p in live(pods_of(client, namespace))}
                 == {"agent:2"}, what="only new pods")
